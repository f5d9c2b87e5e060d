import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { initialSecrets, readSecretsFile, writeSecretsFile } from '../../local/secrets-file.js';
import { TestClock } from '../../testing/harness.js';
import { FileSecretSource } from './file.js';
import { SsmSecretSource } from './ssm.js';

describe('SSM secrets through Powertools', () => {
  const ssm = mockClient(SSMClient);
  let source: SsmSecretSource;

  beforeEach(() => {
    ssm.reset();
    const provider = new SSMProvider({ awsSdkV3Client: new SSMClient({ region: 'eu-west-1' }) });
    source = new SsmSecretSource(
      provider,
      { 'jwt-secret': '/chatshyld/dev/jwt-secret', twilio: '/chatshyld/dev/twilio' },
      60,
    );
  });

  it('reads SecureStrings with decryption, cached until forced', async () => {
    ssm
      .on(GetParameterCommand, { Name: '/chatshyld/dev/jwt-secret', WithDecryption: true })
      .resolvesOnce({ Parameter: { Value: 'v1' } })
      .resolves({ Parameter: { Value: 'v2' } });
    expect(await source.get('jwt-secret')).toBe('v1');
    expect(await source.get('jwt-secret')).toBe('v1');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
    expect(await source.get('jwt-secret', { forceFetch: true })).toBe('v2');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
  });

  it('returns undefined for a parameter that does not exist', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    expect(await source.get('twilio')).toBeUndefined();
  });

  it('lets other SSM failures through', async () => {
    ssm.on(GetParameterCommand).rejects(new Error('AccessDeniedException'));
    await expect(source.get('twilio')).rejects.toThrow(/AccessDenied/);
  });

  it('refuses a secret the function was not given', async () => {
    await expect(source.get('refresh-pepper')).rejects.toThrow(/no access to secret refresh-pepper/);
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(0);
  });
});

describe('the sandbox secrets file', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'chatshyld-file-secrets-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('is written with mode 0600, even over a looser file', async () => {
    const path = join(directory, 'secrets.json');
    await writeSecretsFile(path, initialSecrets(new Date()));
    await chmod(path, 0o644);
    await writeSecretsFile(path, initialSecrets(new Date()));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('serves values as SSM would and picks up changes after the max age or when forced', async () => {
    const path = join(directory, 'rotating.json');
    const clock = new TestClock();
    // A secret the file does not hold reads as missing (the sandbox's first file holds twilio).
    const { twilio: _unset, ...first } = initialSecrets(new Date());
    await writeSecretsFile(path, first);
    const source = new FileSecretSource(path, clock, 60);
    expect(JSON.parse((await source.get('jwt-secret'))!)).toEqual(first['jwt-secret']);
    expect(await source.get('twilio')).toBeUndefined();

    const second = initialSecrets(new Date());
    await writeSecretsFile(path, second);
    expect(JSON.parse((await source.get('jwt-secret'))!)).toEqual(first['jwt-secret']);
    expect(JSON.parse((await source.get('jwt-secret', { forceFetch: true }))!)).toEqual(second['jwt-secret']);

    const third = initialSecrets(new Date());
    await writeSecretsFile(path, third);
    clock.advance(60_000);
    expect(JSON.parse((await source.get('jwt-secret'))!)).toEqual(third['jwt-secret']);
    expect(await readSecretsFile(path)).toEqual(third);
  });
});
