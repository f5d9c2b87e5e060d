/**
 * The on-call policy of docs/operations.md, as IAM would judge it: `chatshyld users …` and
 * `chatshyld secrets …` run through the real CLI against moto (iam_launcher.py: IAM enforced per
 * resource) with the credentials of a user carrying exactly the synthesized `OnCallUserOperations`
 * policy. What it is for is allowed; secrets, scans and other stages are refused.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CreateTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTableInput } from '../service/adapters/dynamodb/tables.js';
import { apiGatewayEvent } from '../service/local/events.js';
import { initialSecrets } from '../service/local/secrets-file.js';
import { routeById, secretParameterName, tables, type RouteId, type TableId } from '../service/manifest.js';
import { resolveIntrinsics, startRouteProcess, userWithPolicy, type Credentials, type TemplateJson } from '../infra/testing/iam-rehearsal.js';
import { startMoto, type Moto } from '../infra/testing/moto/server.js';
import { shippedStage, synthStage, testBundles } from '../infra/testing/synth.js';
import { runCli } from './testing/run-cli.js';

const account = '111111111111';
const region = 'eu-west-1';
const phone = '+14155550166';
const code = '246810';
const bucket = 'chatshyld-dev-avatars-oncall';
const tableName = (id: TableId) => `ChatShyld-dev-${tables[id].logicalName}`;

let moto: Moto;
let folder: string;
let oncall: Credentials;
let admin: Credentials;
let userId: string;
let photoKey: string;

beforeAll(async () => {
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  moto = await startMoto({ accountId: account, region, iamPerResource: true });
  const { stack } = await synthStage('dev', { stageConfig: { ...(await shippedStage('dev')), onCallPolicy: true } });
  const template = Template.fromStack(stack).toJSON() as TemplateJson;
  const logical = (type: string, prefix: string) => Object.keys(template.Resources).find((id) => template.Resources[id]!.Type === type && id.startsWith(prefix))!;

  const setup = { region, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const s3Setup = { ...setup, endpoint: `http://127.0.0.1:${moto.port}`, forcePathStyle: true };
  const dynamodb = new DynamoDBClient(setup);
  const s3 = new S3Client(s3Setup);
  const ssm = new SSMClient(setup);
  const iam = new IAMClient(setup);
  const cloudformation = new CloudFormationClient(setup);
  for (const id of Object.keys(tables) as TableId[]) await dynamodb.send(new CreateTableCommand(createTableInput(tables[id], tableName(id))));
  await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: region } }));
  const values = { ...initialSecrets(new Date()), 'test-numbers': [{ phone, code, expiresAt: '2099-01-01T00:00:00Z' }] };
  for (const [name, value] of Object.entries(values)) {
    await ssm.send(new PutParameterCommand({ Name: secretParameterName('dev', name as never), Type: 'SecureString', Value: JSON.stringify(value) }));
  }
  // The stack `users` reads its table and bucket names from: its outputs, as deploy leaves them.
  const outputs = {
    ...Object.fromEntries((Object.keys(tables) as TableId[]).map((id) => [`${tables[id].logicalName}TableName`, { Value: tableName(id) }])),
    AvatarsBucketName: { Value: bucket },
  };
  const { StackId } = await cloudformation.send(
    new CreateStackCommand({
      StackName: 'ChatShyld-dev',
      TemplateBody: JSON.stringify({
        Resources: { Marker: { Type: 'AWS::SSM::Parameter', Properties: { Name: '/chatshyld/dev/stack-marker', Type: 'String', Value: 'x' } } },
        Outputs: outputs,
      }),
    }),
  );
  await cloudformation.send(new CreateStackCommand({ StackName: 'ChatShyld-staging', TemplateBody: JSON.stringify({ Resources: { Marker: { Type: 'AWS::SSM::Parameter', Properties: { Name: '/chatshyld/staging/stack-marker', Type: 'String', Value: 'x' } } }, Outputs: outputs }) }));

  const refs: Record<string, string> = {};
  const arns: Record<string, string> = {};
  for (const id of Object.keys(tables) as TableId[]) {
    const table = logical('AWS::DynamoDB::Table', `${tables[id].logicalName}Table`);
    refs[table] = tableName(id);
    arns[table] = `arn:aws:dynamodb:${region}:${account}:table/${tableName(id)}`;
  }
  const bucketId = logical('AWS::S3::Bucket', 'AvatarsBucket');
  refs[bucketId] = bucket;
  arns[bucketId] = `arn:aws:s3:::${bucket}`;
  const names = { account, region, refs, arns, stackId: StackId! };
  const policy = template.Resources[logical('AWS::IAM::ManagedPolicy', 'OnCallUserOperations')]!.Properties!.PolicyDocument;
  oncall = await userWithPolicy(iam, 'oncall', resolveIntrinsics(policy.Statement, names));
  admin = await userWithPolicy(iam, 'admin', [{ Effect: 'Allow', Action: '*', Resource: '*' }]);

  // An account with a session and a photo, made by the functions themselves.
  const bundles = await testBundles();
  const invoke = async (routeId: RouteId, body: unknown, token?: string) => {
    const route = routeById(routeId);
    const fn = Object.values(template.Resources).find((resource) => resource.Properties?.FunctionName === `ChatShyld-dev-${routeId}`)!;
    const process = startRouteProcess(join(bundles, routeId, 'index.mjs'), {
      ...(resolveIntrinsics(fn.Properties!.Environment.Variables, names) as Record<string, string>),
      NODE_OPTIONS: '',
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_DYNAMODB: moto.endpoint,
      AWS_ENDPOINT_URL_SSM: moto.endpoint,
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${moto.port}`,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    try {
      const result = await process.invoke(
        apiGatewayEvent({
          method: route.method,
          path: route.path,
          headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
          body: JSON.stringify(body),
          sourceIp: '203.0.113.9',
          routeKey: `${route.method} ${route.path}`,
        }),
      );
      expect(result.statusCode, `${result.body}\n${process.logs()}`).toBe(200);
      return JSON.parse(result.body!) as Record<string, any>;
    } finally {
      await process.close();
    }
  };
  await invoke('sendOtp', { phone });
  const login = await invoke('verifyOtp', { phone, code });
  userId = login.user.id;
  photoKey = (await invoke('presignAvatar', { contentType: 'image/png' }, login.token)).key;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: photoKey, Body: Buffer.from('png'), ContentType: 'image/png' }));
  await invoke('patchMe', { photoKey }, login.token);
  for (const client of [dynamodb, s3, ssm, iam, cloudformation]) client.destroy();

  folder = await mkdtemp(join(tmpdir(), 'chatshyld-oncall-moto-'));
  const stage = { account, region, protected: false, allowTestNumbers: true };
  await writeFile(join(folder, 'chatshyld.config.json'), JSON.stringify({ project: 'chatshyld', stages: { dev: stage, staging: stage } }));
  await moto.enforceIam();
}, 180_000);

afterAll(async () => {
  if (folder) await rm(folder, { recursive: true, force: true });
  await moto?.close();
});

/** The CLI as on-call runs it: their credentials only, moto for every service. */
const asOnCall = (args: string[]) =>
  runCli([...args], {
    cwd: folder,
    timeoutMs: 60_000,
    env: moto.env({
      AWS_ACCESS_KEY_ID: oncall.accessKeyId,
      AWS_SECRET_ACCESS_KEY: oncall.secretAccessKey,
      // An IP address, so the S3 client addresses the bucket path-style (bucket.localhost resolves nowhere).
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${moto.port}`,
      CHATSHYLD_AWS_MAX_ATTEMPTS: '1',
    }),
  });

describe('the on-call policy, judged by IAM on moto', () => {
  it('runs every users command of the runbooks: find, show, sessions, revoke, block, unblock, audit, delete', { timeout: 120_000 }, async () => {
    const ok = async (args: string[]) => {
      const result = await asOnCall([...args, '--stage', 'dev']);
      expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(0);
      expect(result.stderr).not.toMatch(/AccessDenied|not authorized/);
      return result;
    };
    expect((await ok(['users', 'find', phone, '--json'])).stdout).toContain(`"id": "${userId}"`);
    await ok(['users', 'show', userId, '--json']);
    expect(JSON.parse((await ok(['users', 'sessions', userId, '--json'])).stdout).length).toBeGreaterThan(0);
    await ok(['users', 'revoke', userId, '--yes', '--reason', 'rehearsal']);
    await ok(['users', 'block', phone, '--until', '2h', '--yes', '--reason', 'rehearsal']);
    await ok(['users', 'unblock', phone, '--yes', '--reason', 'rehearsal']);
    await ok(['users', 'delete', userId, '--yes', '--reason', 'rehearsal']);
    const audit = JSON.parse((await ok(['users', 'audit', '--json'])).stdout) as { action: string; actor: string }[];
    expect(audit.map((record) => record.action)).toEqual(expect.arrayContaining(['revoke', 'block', 'unblock', 'delete']));
    expect(new Set(audit.map((record) => record.actor))).toEqual(new Set([`arn:aws:iam::${account}:user/oncall`]));
    // The photo went with the account (ListBucket and DeleteObjects under the grant).
    const s3 = new S3Client({ region, endpoint: `http://127.0.0.1:${moto.port}`, forcePathStyle: true, credentials: admin });
    await expect(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: photoKey }))).rejects.toMatchObject({ name: 'NotFound' });
    s3.destroy();
  });

  it('is refused the secrets, a scan, and another stage', { timeout: 60_000 }, async () => {
    for (const args of [
      ['secrets', 'list', '--stage', 'dev'],
      ['secrets', 'rotate', 'jwt-secret', '--stage', 'dev'],
    ]) {
      const result = await asOnCall(args);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /error: AWS refused access for stage dev: .*user\/oncall is not authorized to perform: ssm:GetParameterHistory on resource: arn:aws:ssm:eu-west-1:111111111111:parameter\/chatshyld\/dev\/jwt-secret/,
      );
      expect(result.stderr).toMatch(/hint: use a role that is allowed to do this/);
      expect(result.stderr).not.toMatch(/^\s+at /m); // no stack trace
    }
    const staging = await asOnCall(['users', 'find', phone, '--stage', 'staging']);
    expect(staging.code, staging.stderr).not.toBe(0);
    expect(staging.stderr).toMatch(/not authorized to perform: cloudformation:DescribeStacks/);

    const config = { region, endpoint: moto.endpoint, credentials: oncall, maxAttempts: 1 };
    const dynamodb = new DynamoDBClient(config);
    const ssm = new SSMClient(config);
    try {
      await expect(dynamodb.send(new ScanCommand({ TableName: tableName('users') }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
      await expect(ssm.send(new GetParameterCommand({ Name: secretParameterName('dev', 'jwt-secret'), WithDecryption: true }))).rejects.toMatchObject({
        name: 'AccessDeniedException',
      });
    } finally {
      dynamodb.destroy();
      ssm.destroy();
    }
  });
});
