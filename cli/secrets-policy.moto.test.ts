/**
 * The permissions docs/secrets.md gives `chatshyld secrets` (service/secrets/admin-policy.ts), as
 * IAM would judge them: every secrets command of a stage runs through the real CLI against moto with
 * IAM enforced per resource (infra/testing/moto/iam_launcher.py), and another stage's secrets and
 * the users' tables stay out of reach.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IAMClient } from '@aws-sdk/client-iam';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userWithPolicy, type Credentials } from '../infra/testing/iam-rehearsal.js';
import { startMoto, type Moto } from '../infra/testing/moto/server.js';
import { secretsAdminStatements } from '../service/secrets/admin-policy.js';
import { runCli } from './testing/run-cli.js';

const account = '111111111111';
const region = 'eu-west-1';
let moto: Moto;
let folder: string;
let secretsAdmin: Credentials;
let cannotUnlock: Credentials;

beforeAll(async () => {
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  moto = await startMoto({ accountId: account, region, iamPerResource: true });
  const iam = new IAMClient({ region, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  secretsAdmin = await userWithPolicy(iam, 'secrets-admin', secretsAdminStatements({ stage: 'dev', account, region }));
  // The same, short of ssm:DeleteParameter on the locks.
  const short = secretsAdminStatements({ stage: 'dev', account, region }).map((statement) =>
    statement.Sid === 'StageSecretLocks' ? { ...statement, Action: ['ssm:GetParameter', 'ssm:PutParameter'] } : statement,
  );
  cannotUnlock = await userWithPolicy(iam, 'cannot-unlock', short);
  iam.destroy();
  folder = await mkdtemp(join(tmpdir(), 'chatshyld-secrets-policy-'));
  // A short secrets cache, so that a rotation waits 3 s, twice.
  const stage = { account, region, protected: false, allowTestNumbers: true, secretsCacheSeconds: 1 };
  await writeFile(join(folder, 'chatshyld.config.json'), JSON.stringify({ project: 'chatshyld', stages: { dev: stage, staging: stage } }));
  await moto.enforceIam();
});
afterAll(async () => {
  if (folder) await rm(folder, { recursive: true, force: true });
  await moto?.close();
});

const asAdmin = (args: string[], who: () => Credentials = () => secretsAdmin) =>
  runCli(args, {
    cwd: folder,
    timeoutMs: 60_000,
    env: moto.env({ AWS_ACCESS_KEY_ID: who().accessKeyId, AWS_SECRET_ACCESS_KEY: who().secretAccessKey, CHATSHYLD_AWS_MAX_ATTEMPTS: '1' }),
  });

describe('the secrets permissions of docs/secrets.md, judged by IAM on moto', () => {
  it('run every secrets command on their stage, leave no lock behind, and reach nothing of another stage', { timeout: 90_000 }, async () => {
    const ok = async (args: string[]) => {
      const result = await asAdmin(args);
      expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(0);
      expect(result.stderr).not.toMatch(/is being changed by/); // every lock was given back
      return result;
    };
    await ok(['secrets', 'init', '--stage', 'dev']);
    const numbers = join(folder, 'numbers.json');
    await writeFile(numbers, JSON.stringify([{ phone: '+14155550166', code: '246810', expiresAt: new Date(Date.now() + 86_400_000).toISOString() }]));
    await ok(['secrets', 'set', 'test-numbers', '--stage', 'dev', '--from-file', numbers]);
    await ok(['secrets', 'list', '--stage', 'dev']);
    const rotated = JSON.parse((await ok(['secrets', 'rotate', 'jwt-secret', '--stage', 'dev', '--json'])).stdout) as { versions: number[] };
    expect(rotated.versions).toEqual([2, 3]);
    await ok(['secrets', 'history', 'jwt-secret', '--stage', 'dev']);
    await ok(['secrets', 'rollback', 'jwt-secret', '--stage', 'dev', '--to-version', '2', '--yes']);
    await ok(['secrets', 'rotate', 'refresh-pepper', '--stage', 'dev', '--revoke-previous', '--yes']);
    const ssm = new SSMClient({ region, endpoint: moto.endpoint, credentials: secretsAdmin });
    for (const name of ['jwt-secret', 'refresh-pepper', 'test-numbers']) {
      await expect(ssm.send(new GetParameterCommand({ Name: `/chatshyld/dev/locks/${name}` }))).rejects.toMatchObject({ name: 'ParameterNotFound' });
    }
    ssm.destroy();

    const staging = await asAdmin(['secrets', 'list', '--stage', 'staging']);
    expect(staging.code, staging.stderr).toBe(1);
    expect(staging.stderr).toMatch(/not authorized to perform: ssm:GetParameterHistory on resource: .*parameter\/chatshyld\/staging\//);
    expect(staging.stderr).toMatch(/hint: /);
    const users = await asAdmin(['users', 'find', '+14155550166', '--stage', 'dev']);
    expect(users.code, users.stderr).toBe(1);
    expect(users.stderr).toMatch(/not authorized to perform: cloudformation:DescribeStacks/);
  });

  it('a role that cannot remove the write lock: the write stands, and the command says the lock is left and which permission is missing', { timeout: 60_000 }, async () => {
    const numbers = join(folder, 'numbers.json');
    await writeFile(numbers, JSON.stringify([]));
    const result = await asAdmin(['secrets', 'set', 'test-numbers', '--stage', 'dev', '--from-file', numbers, '--json'], () => cannotUnlock);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ name: 'test-numbers', wellFormed: true });
    expect(result.stderr).toMatch(
      /warning: the write lock \/chatshyld\/dev\/locks\/test-numbers could not be removed \(AccessDeniedException: .*\); every write of test-numbers waits until its lease ends at .*\. The role needs ssm:DeleteParameter on \/chatshyld\/dev\/locks\/\*/,
    );
  });
});
