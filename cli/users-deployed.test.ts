import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../infra/testing/synth.js';
import { DynamoUserStore } from '../service/adapters/dynamodb/users.js';
import { startEmulators, type Emulators } from '../service/local/emulators.js';
import { tables, type TableId } from '../service/manifest.js';
import { runInProcess } from './testing/run-cli.js';
import { bucketOutputKey, tableOutputKey } from './user-ops.js';

/**
 * `chatshyld users` on a deployed stage: STS and CloudFormation mocked at their call shapes, the
 * data plane (DynamoDB) on dynalite through the SDK's endpoint variables, as the Lambda entry tests do.
 */
describe('chatshyld users --stage dev', () => {
  const sts = mockClient(STSClient);
  const cloudFormation = mockClient(CloudFormationClient);
  const arn = 'arn:aws:sts::111111111111:assumed-role/OnCall/alice@example.com';
  let emulators: Emulators;
  let root: string;
  const variables = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_EC2_METADATA_DISABLED', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_PROFILE'];
  const saved = Object.fromEntries(variables.map((name) => [name, process.env[name]]));

  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'chatshyld-deployed-users' });
    root = await mkdtemp(join(tmpdir(), 'chatshyld-users-deployed-'));
    await copyFile(join(repoRoot, 'chatshyld.config.json'), join(root, 'chatshyld.config.json'));
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoEndpoint,
    });
    delete process.env.AWS_PROFILE;
  }, 60_000);
  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    sts.restore();
    cloudFormation.restore();
    await emulators?.close();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    sts.reset();
    cloudFormation.reset();
    sts.on(GetCallerIdentityCommand).resolves({ UserId: 'AROAEXAMPLE:alice@example.com', Account: '111111111111', Arn: arn });
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'ChatShyld-dev',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [
            ...(Object.keys(tables) as TableId[]).map((id) => ({ OutputKey: tableOutputKey(id), OutputValue: emulators.tableNames[id] })),
            { OutputKey: bucketOutputKey, OutputValue: emulators.bucket },
          ],
        },
      ],
    });
  });

  const users = (args: string[]) => runInProcess(['users', ...args, '--stage', 'dev'], root);

  it('checks the account with STS first, then audits the change with the caller ARN as actor', async () => {
    const store = new DynamoUserStore(emulators.dynamo, emulators.tableNames.users);
    const id = '6b1f0c1e-0000-4000-8000-000000000001';
    const now = new Date().toISOString();
    await store.claimPhone('+14155550142', id);
    await store.createUser({ id, phone: '+14155550142', name: null, photoKey: null, createdAt: now, updatedAt: now });

    const blocked = await users(['block', '+1 415 555 0142', '--yes', '--reason', 'stolen', '--json']);
    expect(blocked.code, blocked.stderr).toBe(0);
    expect(JSON.parse(blocked.stdout)).toMatchObject({ userId: id, phone: '+1415•••0142' });
    expect(sts.commandCalls(GetCallerIdentityCommand)[0]!.args[0].input).toEqual({});
    expect(cloudFormation.commandCalls(DescribeStacksCommand)[0]!.args[0].input).toEqual({ StackName: 'ChatShyld-dev' });
    expect((await store.get(id))?.status).toBe('blocked');

    const audit = await users(['audit', '--since', '1h', '--json']);
    expect(audit.code, audit.stderr).toBe(0);
    const records = JSON.parse(audit.stdout) as { actor: string; action: string }[];
    expect(records.map((record) => [record.actor, record.action])).toContainEqual([arn, 'block']);
    expect(audit.stdout).not.toContain('+14155550142');
  }, 60_000);

  it("refuses another account's credentials before reading the stack or touching a table, exit 2", async () => {
    sts.on(GetCallerIdentityCommand).resolves({ UserId: 'AIDAEXAMPLE', Account: '999999999999', Arn: 'arn:aws:iam::999999999999:user/bob' });
    const result = await users(['block', '+14155550143', '--yes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('999999999999');
    expect(cloudFormation.commandCalls(DescribeStacksCommand)).toHaveLength(0);
    const store = new DynamoUserStore(emulators.dynamo, emulators.tableNames.users);
    expect(await store.phoneBlock('+14155550143')).toBeUndefined();
  }, 60_000);

  it('says the stage is not deployed when its stack is missing, exit 1', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id ChatShyld-dev does not exist'), { name: 'ValidationError' }));
    const result = await users(['find', '+14155550144']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('chatshyld deploy --stage dev');
  }, 60_000);
});
