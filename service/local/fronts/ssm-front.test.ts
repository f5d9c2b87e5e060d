import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParameterCommand, GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SsmSecretSource } from '../../adapters/secrets/ssm.js';
import { newKey } from '../../core/key-ring.js';
import { routes, secretParameterName, type RouteId, type SecretName } from '../../manifest.js';
import { emulatorCredentials, emulatorRegion } from '../emulators.js';
import { sandboxSessionToken } from '../s3-front.js';
import { initialDocument, readSecretsDocument, writeSecretsDocument, type SecretsDocument } from '../secrets-file.js';
import { signedHeaders } from '../sigv4.js';
import type { FrontCall } from './front-call.js';
import { rawRequest } from './raw-http.js';
import { startSsmFront, type SsmFront } from './ssm-front.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

describe('the sandbox SSM front serves the secrets file as SSM serves parameters', () => {
  let directory: string;
  let secretsPath: string;
  let front: SsmFront;
  let document: SecretsDocument;
  const calls: FrontCall[] = [];
  const clients: SSMClient[] = [];
  const parameter = (name: SecretName) => secretParameterName('local', name);

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'chatshyld-ssm-front-'));
    secretsPath = join(directory, 'secrets.json');
    front = await startSsmFront({ secretsPath, stage: 'local', routes, onCall: (call) => void calls.push(call) });
  });
  beforeEach(async () => {
    document = initialDocument(new Date('2026-12-01T10:00:00Z'), 'tester (local)');
    await writeSecretsDocument(secretsPath, document);
  });
  afterAll(async () => {
    for (const client of clients) client.destroy();
    await front?.close();
    await rm(directory, { recursive: true, force: true });
  });

  /** A function's SSM client: the emulators' keys, with its route's session token. */
  const clientOf = (routeId: RouteId | undefined, sessionToken = routeId && sandboxSessionToken(routeId)) => {
    const client = new SSMClient({
      region: emulatorRegion,
      endpoint: front.endpoint,
      maxAttempts: 1,
      credentials: { ...emulatorCredentials, ...(sessionToken && { sessionToken }) },
    });
    clients.push(client);
    return client;
  };
  const providerOf = (routeId: RouteId) => new SSMProvider({ awsSdkV3Client: clientOf(routeId) });
  const denial = (routeId: string, action: string, name: string) =>
    `User: arn:aws:sts::000000000000:assumed-role/${routeId}/sandbox is not authorized to perform: ssm:${action} on resource: ` +
    `arn:aws:ssm:${emulatorRegion}:000000000000:parameter${name} because no identity-based policy allows the ssm:${action} action`;

  it('serves a granted secret to Powertools’ SSMProvider, as the function reads it, decrypted', async () => {
    const source = new SsmSecretSource(providerOf('verifyOtp'), { 'jwt-secret': parameter('jwt-secret'), twilio: parameter('twilio') }, 60);
    expect(await source.get('jwt-secret')).toBe(JSON.stringify(document.secrets['jwt-secret']));
    expect(JSON.parse((await source.get('twilio'))!)).toEqual(document.secrets.twilio);
    expect(calls.at(-1)).toEqual({ service: 'ssm', routeId: 'verifyOtp', action: 'GetParameter' });
  });

  it('answers as a SecureString with the version and date of the file’s history; a hand edit is the next version', async () => {
    const read = () => clientOf('getMe').send(new GetParameterCommand({ Name: parameter('jwt-secret'), WithDecryption: true }));
    expect((await read()).Parameter).toEqual({
      ARN: `arn:aws:ssm:${emulatorRegion}:000000000000:parameter/chatshyld/local/jwt-secret`,
      DataType: 'text',
      LastModifiedDate: new Date('2026-12-01T10:00:00Z'),
      Name: '/chatshyld/local/jwt-secret',
      Type: 'SecureString',
      Value: JSON.stringify(document.secrets['jwt-secret']),
      Version: 1,
    });
    // A rotation as `secrets rotate --stage local` writes it: a history entry of its own.
    const rotated = { current: newKey(new Date('2026-12-02T10:00:00Z')), verifyOnly: [document.secrets['jwt-secret']!.current] };
    const rotation: SecretsDocument = {
      secrets: { ...document.secrets, 'jwt-secret': rotated },
      history: { ...document.history, 'jwt-secret': [...document.history!['jwt-secret']!, { version: 2, value: rotated, modifiedAt: '2026-12-02T10:00:00.000Z', modifiedBy: 'tester' }] },
    };
    await writeSecretsDocument(secretsPath, rotation);
    expect((await read()).Parameter).toMatchObject({ Version: 2, Value: JSON.stringify(rotated), LastModifiedDate: new Date('2026-12-02T10:00:00Z') });
    // An earlier version by its selector, as SSM keeps it.
    const first = await clientOf('getMe').send(new GetParameterCommand({ Name: `${parameter('jwt-secret')}:1`, WithDecryption: true }));
    expect(first.Parameter).toMatchObject({ Version: 1, Selector: ':1', Value: JSON.stringify(document.secrets['jwt-secret']) });
    // Edited by hand, with no history entry.
    const edited = { current: newKey(new Date()) };
    await writeFile(secretsPath, JSON.stringify({ ...rotation, secrets: { ...rotation.secrets, 'jwt-secret': edited } }));
    const afterEdit = (await read()).Parameter!;
    expect(afterEdit).toMatchObject({ Version: 3, Value: JSON.stringify(edited) });
    expect(Math.abs(afterEdit.LastModifiedDate!.getTime() - Date.now())).toBeLessThan(60_000);
    // Without decryption: never the value.
    const encrypted = await clientOf('getMe').send(new GetParameterCommand({ Name: parameter('jwt-secret') }));
    expect(encrypted.Parameter!.Value).not.toContain(edited.current.secret);
  });

  it('shows a rotation through the function’s own cache: the old value until the max age, the new one when forced', async () => {
    const provider = providerOf('refresh');
    const source = new SsmSecretSource(provider, { 'refresh-pepper': parameter('refresh-pepper') }, 60);
    const before = await source.get('refresh-pepper');
    const rotated = { current: newKey(new Date()) };
    await writeSecretsDocument(secretsPath, { ...document, secrets: { ...document.secrets, 'refresh-pepper': rotated } });
    expect(await source.get('refresh-pepper')).toBe(before);
    expect(await source.get('refresh-pepper', { forceFetch: true })).toBe(JSON.stringify(rotated));
  });

  it('refuses what the route is not granted, GetParameters, another stage, and unknown or missing tokens', async () => {
    const get = (routeId: RouteId | undefined, Name: string, token?: string) => clientOf(routeId, token).send(new GetParameterCommand({ Name, WithDecryption: true }));
    const before = calls.length;
    await expect(get('getMe', parameter('twilio'))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: denial('getMe', 'GetParameter', parameter('twilio')),
      $metadata: { httpStatusCode: 400 },
    });
    // health is granted no secret at all; prod's jwt-secret is no sandbox route's.
    await expect(get('health', parameter('jwt-secret'))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(get('getMe', secretParameterName('prod', 'jwt-secret'))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: denial('getMe', 'GetParameter', '/chatshyld/prod/jwt-secret'),
    });
    // By ARN is the same parameter, under the same grant.
    await expect(get('getMe', `arn:aws:ssm:${emulatorRegion}:000000000000:parameter${parameter('twilio')}`)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    // infra grants ssm:GetParameter only: a batch read is refused even of granted names.
    await expect(clientOf('getMe').send(new GetParametersCommand({ Names: [parameter('jwt-secret')], WithDecryption: true }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: denial('getMe', 'GetParameters', parameter('jwt-secret')),
    });
    const invalid = { name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
    await expect(get(undefined, parameter('jwt-secret'))).rejects.toMatchObject(invalid);
    await expect(get(undefined, parameter('jwt-secret'), 'chatshyld-sandbox-route/root')).rejects.toMatchObject(invalid);
    const forger = new SSMClient({
      region: emulatorRegion,
      endpoint: front.endpoint,
      maxAttempts: 1,
      credentials: { accessKeyId: emulatorCredentials.accessKeyId, secretAccessKey: 'wrong', sessionToken: sandboxSessionToken('getMe') },
    });
    clients.push(forger);
    await expect(forger.send(new GetParameterCommand({ Name: parameter('jwt-secret') }))).rejects.toMatchObject({ name: 'InvalidSignatureException' });
    expect(calls.length, 'refusals are not announced').toBe(before);
  });

  it('answers ParameterNotFound (400) for a granted secret the file does not hold, which the function reads as missing', async () => {
    const { twilio: _dropped, ...rest } = document.secrets;
    await writeSecretsDocument(secretsPath, { secrets: rest, history: {} });
    await expect(clientOf('sendOtp').send(new GetParameterCommand({ Name: parameter('twilio'), WithDecryption: true }))).rejects.toMatchObject({
      name: 'ParameterNotFound',
      $metadata: { httpStatusCode: 400 },
    });
    expect(await new SsmSecretSource(providerOf('sendOtp'), { twilio: parameter('twilio') }, 0).get('twilio')).toBeUndefined();
    // An unknown version of a parameter that exists.
    await expect(clientOf('sendOtp').send(new GetParameterCommand({ Name: `${parameter('test-numbers')}:9`, WithDecryption: true }))).rejects.toMatchObject({
      name: 'ParameterVersionNotFound',
    });
  });

  it('fails as SSM fails (500 InternalServerError) on a damaged file, and serves again once it is fixed', async () => {
    await writeFile(secretsPath, '{"secrets": {"jwt-secret": ');
    await expect(clientOf('getMe').send(new GetParameterCommand({ Name: parameter('jwt-secret'), WithDecryption: true }))).rejects.toMatchObject({
      name: 'InternalServerError',
      $metadata: { httpStatusCode: 500 },
    });
    // Through the function's reader: an error, not a missing secret.
    await expect(new SsmSecretSource(providerOf('getMe'), { 'jwt-secret': parameter('jwt-secret') }, 0).get('jwt-secret')).rejects.toThrow();
    await writeFile(secretsPath, '');
    await expect(clientOf('getMe').send(new GetParameterCommand({ Name: parameter('jwt-secret'), WithDecryption: true }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 500 },
    });
    await writeSecretsDocument(secretsPath, document);
    const fixed = await clientOf('getMe').send(new GetParameterCommand({ Name: parameter('jwt-secret'), WithDecryption: true }));
    expect(fixed.Parameter!.Value).toBe(JSON.stringify(document.secrets['jwt-secret']));
  });

  it('serves parallel reads of several routes while the file is rotated, each whole, old or new', async () => {
    const values = new Set([JSON.stringify(document.secrets['jwt-secret'])]);
    const readers: RouteId[] = ['getMe', 'patchMe', 'deleteMe', 'presignAvatar', 'refresh', 'verifyOtp'];
    const reads = Array.from({ length: 36 }, (_, n) =>
      clientOf(readers[n % readers.length]).send(new GetParameterCommand({ Name: parameter('jwt-secret'), WithDecryption: true })),
    );
    for (let round = 0; round < 3; round++) {
      const rotated = { current: newKey(new Date()) };
      values.add(JSON.stringify(rotated));
      await writeSecretsDocument(secretsPath, { ...document, secrets: { ...document.secrets, 'jwt-secret': rotated } });
    }
    const answers = await Promise.all(reads);
    for (const answer of answers) expect(values.has(answer.Parameter!.Value!)).toBe(true);
    expect(await readSecretsDocument(secretsPath)).toBeDefined();
  });

  it('refuses, with 403, a request from a web page (Origin) or for another host name', async () => {
    const payload = JSON.stringify({ Name: parameter('jwt-secret'), WithDecryption: true });
    const headers = signedHeaders({
      method: 'POST',
      url: new URL('/', front.endpoint),
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.GetParameter' },
      body: payload,
      credentials: { ...emulatorCredentials, sessionToken: sandboxSessionToken('getMe') },
      region: emulatorRegion,
      service: 'ssm',
      now: Date.now(),
    });
    const signed = await rawRequest(front.endpoint, headers, payload);
    expect(signed.status).toBe(200);
    const fromPage = await rawRequest(front.endpoint, { ...headers, origin: 'https://evil.example' }, payload);
    expect(fromPage.status).toBe(403);
    expect(fromPage.body).not.toContain(document.secrets['jwt-secret']!.current.secret);
    const rebound = await rawRequest(front.endpoint, { ...headers, host: `rebind.example:${new URL(front.endpoint).port}` }, payload);
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain(document.secrets['jwt-secret']!.current.secret);
  });
});
