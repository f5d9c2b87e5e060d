/**
 * Least privilege as IAM would judge it: each route's bundle runs its part of a whole session with
 * credentials carrying exactly its role's policy from the synthesized dev template, against moto's
 * DynamoDB, S3 and SSM with IAM enforced per resource (infra/testing/moto/iam_launcher.py). Every
 * call the code makes must be allowed; calls outside the grant must be refused. What moto cannot
 * judge (conditions, KMS through SSM) is listed in docs/aws-fidelity.md.
 */
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiGatewayEvent } from '../service/local/events.js';
import { initialSecrets } from '../service/local/secrets-file.js';
import { createTableInput } from '../service/adapters/dynamodb/tables.js';
import { routes, secretParameterName, tables, type RouteDefinition, type RouteId, type TableId } from '../service/manifest.js';
import {
  resolveIntrinsics,
  roleStatements,
  startRouteProcess,
  userWithPolicy,
  type Credentials,
  type PhysicalNames,
  type RouteProcess,
  type TemplateJson,
} from './testing/iam-rehearsal.js';
import { startMoto, type Moto } from './testing/moto/server.js';
import { synthStage, testBundles } from './testing/synth.js';

const account = '111111111111'; // the dev stage's, which the template's parameter ARNs name
const region = 'eu-west-1';
const phone = '+14155550166';
const code = '246810';
const bucket = 'chatshyld-dev-avatars-rehearsal';
const tableName = (id: TableId) => `ChatShyld-dev-${tables[id].logicalName}`;
/** Outside every grant: another stage's table and secret. */
const otherTable = 'ChatShyld-staging-Users';
const otherParameter = secretParameterName('staging', 'jwt-secret');

let moto: Moto;
let template: TemplateJson;
let names: PhysicalNames;
const credentials = new Map<RouteId | 'admin', Credentials>();
const processes = new Map<RouteId, RouteProcess>();

const clientConfig = (who: Credentials) => ({
  region,
  credentials: who,
  endpoint: moto.endpoint,
  maxAttempts: 1,
});
const s3Config = (who: Credentials) => ({ ...clientConfig(who), endpoint: `http://127.0.0.1:${moto.port}`, forcePathStyle: true });

function logicalId(type: string, prefix: string): string {
  const id = Object.keys(template.Resources).find((candidate) => template.Resources[candidate]!.Type === type && candidate.startsWith(prefix));
  if (!id) throw new Error(`no ${type} ${prefix}* in the template`);
  return id;
}

function functionOf(route: RouteDefinition) {
  const [id, resource] = Object.entries(template.Resources).find(
    ([, candidate]) => candidate.Type === 'AWS::Lambda::Function' && candidate.Properties!.FunctionName === `ChatShyld-dev-${route.id}`,
  )!;
  return { id, properties: resource.Properties!, role: (resource.Properties!.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0] };
}

/** The route's policy exactly as CloudFormation would create it here. */
const policyOf = (route: RouteDefinition) => resolveIntrinsics(roleStatements(template, functionOf(route).role), names) as Record<string, any>[];

beforeAll(async () => {
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  moto = await startMoto({ accountId: account, region, iamPerResource: true });
  template = Template.fromStack((await synthStage('dev')).stack).toJSON() as TemplateJson;
  const bundles = await testBundles();

  const refs: Record<string, string> = {};
  const arns: Record<string, string> = {};
  for (const id of Object.keys(tables) as TableId[]) {
    const logical = logicalId('AWS::DynamoDB::Table', `${tables[id].logicalName}Table`);
    refs[logical] = tableName(id);
    arns[logical] = `arn:aws:dynamodb:${region}:${account}:table/${tableName(id)}`;
  }
  const bucketId = logicalId('AWS::S3::Bucket', 'AvatarsBucket');
  refs[bucketId] = bucket;
  arns[bucketId] = `arn:aws:s3:::${bucket}`;
  names = { account, region, refs, arns };

  // Made before IAM is enforced, as CloudFormation and `secrets init` would.
  const setup = { region, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const dynamodb = new DynamoDBClient(setup);
  const s3 = new S3Client({ ...setup, endpoint: `http://127.0.0.1:${moto.port}`, forcePathStyle: true });
  const ssm = new SSMClient(setup);
  const iam = new IAMClient(setup);
  for (const id of Object.keys(tables) as TableId[]) await dynamodb.send(new CreateTableCommand(createTableInput(tables[id], tableName(id))));
  await dynamodb.send(new CreateTableCommand(createTableInput(tables.users, otherTable)));
  await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: region } }));
  const values = {
    ...initialSecrets(new Date()),
    'test-numbers': [{ phone, code, expiresAt: '2099-01-01T00:00:00Z' }],
    twilio: { accountSid: `AC${'0'.repeat(32)}`, authToken: 'f'.repeat(32), verifyServiceSid: `VA${'0'.repeat(32)}` },
  };
  for (const [name, value] of Object.entries(values)) {
    await ssm.send(new PutParameterCommand({ Name: secretParameterName('dev', name as never), Type: 'SecureString', Value: JSON.stringify(value) }));
  }
  await ssm.send(new PutParameterCommand({ Name: otherParameter, Type: 'SecureString', Value: JSON.stringify(values['jwt-secret']) }));
  credentials.set('admin', await userWithPolicy(iam, 'admin', [{ Effect: 'Allow', Action: '*', Resource: '*' }]));
  for (const route of routes) credentials.set(route.id, await userWithPolicy(iam, `fn-${route.id}`, policyOf(route)));
  for (const client of [dynamodb, s3, ssm, iam]) client.destroy();

  for (const route of routes) processes.set(route.id, startRoute(route, credentials.get(route.id)!, bundles));
  await moto.enforceIam();
}, 180_000);

afterAll(async () => {
  await Promise.all([...processes.values()].map((process) => process.close()));
  await moto?.close();
});

/** The route's bundle in a process of its own, configured as its function is, acting as `who`. */
function startRoute(route: RouteDefinition, who: Credentials, bundles: string): RouteProcess {
  const env = resolveIntrinsics(functionOf(route).properties.Environment.Variables, names) as Record<string, string>;
  return startRouteProcess(join(bundles, route.id, 'index.mjs'), {
    ...env,
    NODE_OPTIONS: '',
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: who.accessKeyId,
    AWS_SECRET_ACCESS_KEY: who.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_DYNAMODB: moto.endpoint,
    AWS_ENDPOINT_URL_SSM: moto.endpoint,
    // An IP address: the S3 client then addresses the bucket path-style, which moto serves.
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${moto.port}`,
    AWS_MAX_ATTEMPTS: '1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'WARN',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
}

async function call(routeId: RouteId, options: { body?: unknown; token?: string; process?: RouteProcess } = {}) {
  const route = routes.find((candidate) => candidate.id === routeId)!;
  const process = options.process ?? processes.get(routeId)!;
  const result = await process.invoke(
    apiGatewayEvent({
      method: route.method,
      path: route.path,
      headers: {
        ...(options.body !== undefined && { 'content-type': 'application/json' }),
        ...(options.token && { authorization: `Bearer ${options.token}` }),
      },
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
      sourceIp: '203.0.113.9',
      routeKey: `${route.method} ${route.path}`,
    }),
  );
  return { status: result.statusCode, body: result.body ? JSON.parse(result.body) : undefined, logs: process.logs };
}

/** Asserts a status, showing what the function logged (an AccessDenied, typically) when it differs. */
function expectStatus(result: { status: number; body: unknown; logs: () => string }, status: number) {
  expect(result.status, `${JSON.stringify(result.body)}\n${result.logs()}`).toBe(status);
}

async function denied(attempt: Promise<unknown>): Promise<string> {
  const error = await attempt.then(
    () => undefined,
    (caught: Error) => caught,
  );
  expect(error, 'IAM should have refused this call').toBeDefined();
  return `${error!.name}: ${error!.message}`;
}

describe('each route under exactly its role policy, on moto with IAM enforced', () => {
  it('serves a whole session: every call each function makes is allowed', { timeout: 120_000 }, async () => {
    expectStatus(await call('health'), 200);
    expectStatus(await call('sendOtp', { body: { phone } }), 200);
    const login = await call('verifyOtp', { body: { phone, code } });
    expectStatus(login, 200);
    const { token, refreshToken, user } = login.body as { token: string; refreshToken: string; user: { id: string } };
    expectStatus(await call('getMe', { token }), 200);

    // Two uploads (the client's part, done here as the admin), attached in turn: the second replaces
    // and deletes the first.
    const admin = new S3Client(s3Config(credentials.get('admin')!));
    const keys: string[] = [];
    for (let upload = 0; upload < 2; upload += 1) {
      const presign = await call('presignAvatar', { body: { contentType: 'image/png' }, token });
      expectStatus(presign, 200);
      const key = (presign.body as { key: string }).key;
      keys.push(key);
      await admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('png'), ContentType: 'image/png' }));
      const patched = await call('patchMe', { body: { photoKey: key }, token });
      expectStatus(patched, 200);
      expect((patched.body as { photoKey: string }).photoKey).toBe(key);
    }
    await expect(admin.send(new HeadObjectCommand({ Bucket: bucket, Key: keys[0] }))).rejects.toMatchObject({ name: 'NotFound' });
    const me = await call('getMe', { token });
    expectStatus(me, 200);
    expect((me.body as { photoUrl: string }).photoUrl).toContain(keys[1]!.split('/').at(-1));

    const refreshed = await call('refresh', { body: { refreshToken } });
    expectStatus(refreshed, 200);
    const next = (refreshed.body as { refreshToken: string }).refreshToken;
    expectStatus(await call('logout', { body: { refreshToken: next } }), 204);
    expectStatus(await call('refresh', { body: { refreshToken: next } }), 401);

    // Log in again, and delete the account: sessions, counters, photos, claim.
    expectStatus(await call('sendOtp', { body: { phone } }), 200);
    const again = await call('verifyOtp', { body: { phone, code } });
    expectStatus(again, 200);
    expectStatus(await call('deleteMe', { token: (again.body as { token: string }).token }), 204);
    await expect(admin.send(new HeadObjectCommand({ Bucket: bucket, Key: keys[1] }))).rejects.toMatchObject({ name: 'NotFound' });
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
    admin.destroy();
  });

  it('a function short of one action of its grant fails where it needs it: deleteMe without s3:DeleteObject keeps the photo and answers 500', { timeout: 60_000 }, async () => {
    const admin = credentials.get('admin')!;
    const iam = new IAMClient(clientConfig(admin));
    const s3 = new S3Client(s3Config(admin));
    const deleteMe = routes.find((route) => route.id === 'deleteMe')!;
    const short = policyOf(deleteMe).map((statement) => ({
      ...statement,
      Action: [statement.Action].flat().filter((action: string) => action !== 's3:DeleteObject'),
    }));
    expect(JSON.stringify(short)).not.toContain('s3:DeleteObject');
    const weak = startRoute(deleteMe, await userWithPolicy(iam, 'fn-deleteMe-short', short.filter((statement) => statement.Action.length > 0)), await testBundles());
    try {
      expectStatus(await call('sendOtp', { body: { phone } }), 200);
      const login = await call('verifyOtp', { body: { phone, code } });
      expectStatus(login, 200);
      const token = (login.body as { token: string }).token;
      const key = ((await call('presignAvatar', { body: { contentType: 'image/png' }, token })).body as { key: string }).key;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('png'), ContentType: 'image/png' }));
      expectStatus(await call('patchMe', { body: { photoKey: key }, token }), 200);

      const refused = await call('deleteMe', { token, process: weak });
      expect(refused.status).toBe(500);
      expect(refused.logs()).toMatch(/could not delete 1 avatar objects/);
      await expect(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).resolves.toBeDefined();
      // With the whole grant it goes through.
      expectStatus(await call('deleteMe', { token }), 204);
      await expect(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).rejects.toMatchObject({ name: 'NotFound' });
    } finally {
      await weak.close();
      iam.destroy();
      s3.destroy();
    }
  });

  it.each(routes.map((route) => route.id))('%s: a call outside its grant is refused, a call inside it is not', async (routeId) => {
    const route = routes.find((candidate) => candidate.id === routeId)!;
    const who = credentials.get(routeId)!;
    const dynamodb = new DynamoDBClient(clientConfig(who));
    const ssm = new SSMClient(clientConfig(who));
    const s3 = new S3Client(s3Config(who));
    try {
      const granted = policyOf(route);
      const grantedTables = (Object.keys(tables) as TableId[]).filter((id) => JSON.stringify(granted).includes(`table/${tableName(id)}"`));
      // No route may scan, another stage's table is out of reach, and so is every table it is not given.
      for (const id of grantedTables) expect(await denied(dynamodb.send(new ScanCommand({ TableName: tableName(id) })))).toMatch(/AccessDenied/);
      expect(await denied(dynamodb.send(new GetItemCommand({ TableName: otherTable, Key: { pk: { S: 'user#x' } } })))).toMatch(/AccessDenied/);
      for (const id of (Object.keys(tables) as TableId[]).filter((candidate) => !grantedTables.includes(candidate))) {
        expect(await denied(dynamodb.send(new GetItemCommand({ TableName: tableName(id), Key: { pk: { S: 'x' } } })))).toMatch(/AccessDenied/);
      }
      // A granted read of a granted table goes through (the judge is not simply refusing everything).
      const reads = grantedTables.filter((id) => JSON.stringify(granted.filter((s) => JSON.stringify(s.Resource).includes(`table/${tableName(id)}"`))).includes('dynamodb:GetItem'));
      for (const id of reads) await expect(dynamodb.send(new GetItemCommand({ TableName: tableName(id), Key: { pk: { S: 'x' } } }))).resolves.toBeDefined();
      const writesUsers = JSON.stringify(granted).includes('dynamodb:PutItem') && grantedTables.includes('users');
      if (!writesUsers && grantedTables.includes('users')) {
        expect(await denied(dynamodb.send(new PutItemCommand({ TableName: tableName('users'), Item: { pk: { S: 'user#forged' } } })))).toMatch(/AccessDenied/);
      }

      // Secrets: only its own, read-only; never another stage's.
      const own = route.access.secrets ?? [];
      for (const name of own) {
        await expect(ssm.send(new GetParameterCommand({ Name: secretParameterName('dev', name), WithDecryption: true }))).resolves.toBeDefined();
        expect(await denied(ssm.send(new PutParameterCommand({ Name: secretParameterName('dev', name), Type: 'SecureString', Value: '{}', Overwrite: true })))).toMatch(/AccessDenied/);
      }
      for (const name of (['jwt-secret', 'refresh-pepper', 'twilio', 'test-numbers'] as const).filter((candidate) => !own.includes(candidate))) {
        expect(await denied(ssm.send(new GetParameterCommand({ Name: secretParameterName('dev', name), WithDecryption: true })))).toMatch(/AccessDenied/);
      }
      expect(await denied(ssm.send(new GetParameterCommand({ Name: otherParameter, WithDecryption: true })))).toMatch(/AccessDenied/);

      // The bucket: nothing outside avatar/, and no write for a route that only reads or deletes.
      expect(await denied(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'site/index.html', Body: 'x' })))).toMatch(/AccessDenied/);
      if (!JSON.stringify(granted).includes('s3:PutObject"')) {
        expect(await denied(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'avatar/x/forged.png', Body: 'x' })))).toMatch(/AccessDenied/);
      }
    } finally {
      for (const client of [dynamodb, ssm, s3]) client.destroy();
    }
  });
});
