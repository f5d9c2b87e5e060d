import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { initialSecrets } from '../local/secrets-file.js';
import { startEmulators, type Emulators } from '../local/emulators.js';
import { apiGatewayEvent } from '../local/events.js';
import {
  avatarBucket,
  routeEnvironment,
  routeTableActions,
  routes,
  secretParameterName,
  secrets,
  tables,
  type RouteDefinition,
  type RouteId,
} from '../manifest.js';

const loadEntry = (entry: string) => import(/* @vite-ignore */ pathToFileURL(entry).href);

/** The Lambda entry modules as deployed: configured only through their environment. */
describe('Lambda entries', () => {
  let emulators: Emulators;
  const ssm = mockClient(SSMClient);
  const phone = '+14155550166';

  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'lambda-test' });
    const values = {
      ...initialSecrets(new Date()),
      'test-numbers': [{ phone, code: '246810', expiresAt: '2099-01-01T00:00:00Z' }],
    };
    for (const [name, value] of Object.entries(values)) {
      ssm
        .on(GetParameterCommand, { Name: secretParameterName('dev', name as never), WithDecryption: true })
        .resolves({ Parameter: { Value: JSON.stringify(value) } });
    }
    const env: Record<string, string> = {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoEndpoint,
      AWS_ENDPOINT_URL_S3: emulators.s3Endpoint,
      POWERTOOLS_LOG_LEVEL: process.env.DEBUG_ENTRIES ? 'INFO' : 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    };
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    ssm.restore();
    await emulators?.close();
  });

  /** Exactly the environment infra gives this route's function, and nothing of any other route's. */
  const useRouteEnvironment = (route: RouteDefinition) => {
    const all = [
      ...Object.values(tables).map((table) => table.env),
      ...Object.values(secrets).map((secret) => secret.env),
      avatarBucket.env,
    ];
    for (const name of all) delete process.env[name];
    const env = routeEnvironment(route, {
      stage: 'dev',
      version: '1.2.3',
      settings: JSON.stringify({ allowTestNumbers: true }),
      allowTestNumbers: true,
      tableNames: emulators.tableNames,
      bucketName: emulators.bucket,
    });
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  };

  /** Every DynamoDB command each route sent, as `route table action`. */
  const sent = new Set<string>();
  let current: RouteId | undefined;
  const send = DynamoDBClient.prototype.send;
  beforeAll(() => {
    vi.spyOn(DynamoDBClient.prototype, 'send').mockImplementation(function (this: DynamoDBClient, command: any, ...rest: any[]) {
      const input = command.input as { TableName?: string; RequestItems?: Record<string, unknown> };
      const names = input.TableName ? [input.TableName] : Object.keys(input.RequestItems ?? {});
      for (const name of names) {
        const table = Object.entries(emulators.tableNames).find(([, candidate]) => candidate === name)?.[0];
        sent.add(`${current} ${table} ${command.constructor.name.replace(/Command$/, '')}`);
      }
      return (send as any).call(this, command, ...rest);
    });
  });

  const invoke = async (file: string, body?: unknown, token?: string) => {
    const route = routes.find((candidate) => candidate.entry === `service/lambda/${file}.ts`)!;
    current = route.id;
    useRouteEnvironment(route);
    const { handler } = (await loadEntry(route.entry)) as typeof import('./health.js');
    const result = await handler(
      apiGatewayEvent({
        method: route.method,
        path: route.path,
        headers: {
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...(token && { authorization: `Bearer ${token}` }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        sourceIp: '203.0.113.9',
        routeKey: `${route.method} ${route.path}`,
      }),
    );
    return { status: result.statusCode, body: result.body ? JSON.parse(result.body) : undefined };
  };

  it('has an entry module exporting a handler for every route of the manifest', async () => {
    for (const route of routes) {
      const module = await loadEntry(route.entry);
      expect(typeof module.handler, route.entry).toBe('function');
    }
  });

  it('serve a whole login from their environment alone', async () => {
    expect(await invoke('health')).toEqual({ status: 200, body: { ok: true, stage: 'dev', version: '1.2.3' } });
    expect((await invoke('send-otp', { phone })).status).toBe(200);
    const login = await invoke('verify-otp', { phone, code: '246810' });
    expect(login.status).toBe(200);
    const me = await invoke('get-me', undefined, login.body.token);
    expect(me).toMatchObject({ status: 200, body: { phone, id: login.body.user.id } });
    const refreshed = await invoke('refresh', { refreshToken: login.body.refreshToken });
    expect(refreshed.status).toBe(200);
    const presign = await invoke('presign-avatar', { contentType: 'image/png' }, refreshed.body.token);
    expect(presign.body.key).toMatch(new RegExp(`^avatar/${login.body.user.id}/`));
    const me2 = await invoke('patch-me', { name: 'Lambda' }, refreshed.body.token);
    expect(me2).toMatchObject({ status: 200, body: { name: 'Lambda' } });
    expect((await invoke('logout', { refreshToken: refreshed.body.refreshToken })).status).toBe(204);
    expect((await invoke('refresh', { refreshToken: refreshed.body.refreshToken })).status).toBe(401);
    expect((await invoke('delete-me', undefined, refreshed.body.token)).status).toBe(204);

    // The issuer names the stage.
    const claims = JSON.parse(Buffer.from(login.body.token.split('.')[1], 'base64url').toString());
    expect(claims.iss).toBe('chatshyld/dev');
    // Every DynamoDB action a route sent is one its grants were derived from.
    expect(sent.size).toBeGreaterThan(10);
    for (const entry of sent) {
      const [routeId, table, action] = entry.split(' ') as [RouteId, keyof typeof tables, string];
      const route = routes.find((candidate) => candidate.id === routeId)!;
      expect(routeTableActions(route)[table] ?? [], entry).toContain(action);
    }
    // Each secret was read once and then served from Powertools' cache.
    const reads = ssm.commandCalls(GetParameterCommand).map((call) => call.args[0].input.Name);
    expect(new Set(reads).size).toBe(reads.length);
  });
});
