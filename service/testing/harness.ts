/**
 * A whole service for tests: dynalite and s3rver started here, the real adapters and use cases, and
 * every route's Lambda handler, invoked with payload-2.0 events exactly as API Gateway would.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isValidPhoneNumber } from 'libphonenumber-js/min';
import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { SandboxOtpSender } from '../adapters/otp/outbox.js';
import { composeServices } from '../compose-all.js';
import type { Clock, Log, Metrics, MetricName, OtpSender } from '../core/ports.js';
import { lambdaHandler, type LambdaHandler } from '../http/api.js';
import { routeHandlers, type Services } from '../http/routes.js';
import { startEmulators, type Emulators } from '../local/emulators.js';
import { apiGatewayEvent } from '../local/events.js';
import { localAdapters } from '../local/adapters.js';
import { routeDynamoClient } from '../local/dynamo-grants.js';
import { initialSecrets, readSecretsFile, writeSecretsFile, type LocalSecrets } from '../local/secrets-file.js';
import { routeById, routes, type RouteId } from '../manifest.js';
import { resolveSettings, type SettingsOverrides } from '../settings.js';

export class TestClock implements Clock {
  constructor(public current = Date.now()) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

export class RecordingLog implements Log {
  readonly lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  debug = (message: string, fields?: Record<string, unknown>) => this.lines.push({ level: 'debug', message, fields });
  info = (message: string, fields?: Record<string, unknown>) => this.lines.push({ level: 'info', message, fields });
  warn = (message: string, fields?: Record<string, unknown>) => this.lines.push({ level: 'warn', message, fields });
  error = (message: string, fields?: Record<string, unknown>) => this.lines.push({ level: 'error', message, fields });
}

export class RecordingMetrics implements Metrics {
  readonly counts = new Map<MetricName, number>();
  count(name: MetricName, value = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + value);
  }
}

export interface CallOptions {
  readonly body?: unknown;
  /** Sent as is instead of `body`. */
  readonly rawBody?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly token?: string;
  readonly ip?: string;
}

export interface CallResult {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: any;
}

export interface TestService {
  readonly emulators: Emulators;
  /** The DynamoDB client each route's handler uses (held to its grants); not `emulators.dynamo`. */
  readonly routeDynamo: Readonly<Record<RouteId, DynamoDBClient>>;
  readonly clock: TestClock;
  readonly outbox: SandboxOtpSender;
  readonly services: Services;
  readonly log: RecordingLog;
  readonly metrics: RecordingMetrics;
  readonly secretsPath: string;
  call(routeId: RouteId, options?: CallOptions): Promise<CallResult>;
  /** send-otp + verify-otp with the outbox's code. */
  login(phone?: string): Promise<{ token: string; refreshToken: string; user: any; phone: string }>;
  updateSecrets(change: (secrets: LocalSecrets) => LocalSecrets): Promise<void>;
  /** Every item of every table, unmarshalled. */
  scanAll(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export interface TestServiceOptions {
  readonly settings?: SettingsOverrides;
  readonly otpSender?: OtpSender;
  readonly secrets?: (generated: LocalSecrets) => LocalSecrets;
}

let phoneCounter = 0;
/** A fresh, valid US number per call. */
export function testPhone(): string {
  for (;;) {
    phoneCounter += 1;
    const subscriber = String((Date.now() + phoneCounter * 7919) % 10_000_000).padStart(7, '0');
    const phone = `+1415${subscriber.replace(/^[01]/, '5')}`;
    if (isValidPhoneNumber(phone)) return phone;
  }
}

export function randomIp(): string {
  const octet = () => Math.floor(Math.random() * 254) + 1;
  return `10.${octet()}.${octet()}.${octet()}`;
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const emulators = await startEmulators({ namePrefix: 'chatshyld-test' });
  const directory = await mkdtemp(join(tmpdir(), 'chatshyld-secrets-'));
  const secretsPath = join(directory, 'secrets.json');
  const generated = initialSecrets(new Date());
  await writeSecretsFile(secretsPath, options.secrets ? options.secrets(generated) : generated);

  const clock = new TestClock();
  const settings = resolveSettings(options.settings);
  const outbox = new SandboxOtpSender(clock, { ttlSeconds: settings.otpTtlSeconds });
  const log = new RecordingLog();
  const metrics = new RecordingMetrics();
  const adapterOptions = {
    emulators,
    secretsPath,
    otpSender: options.otpSender ?? outbox,
    settings,
    clock,
    log,
    metrics,
    stage: 'test',
    version: 'test',
  };
  // For tests that drive the use cases directly: every grant.
  const services = composeServices(localAdapters(adapterOptions));
  // Each route's handler gets DynamoDB as its role would: a store call its grants miss fails as in AWS.
  const routeClients = routes.map((route) => routeDynamoClient(emulators.dynamoEndpoint, emulators.tableNames, route));
  const handlers = Object.fromEntries(
    routes.map((route, index) => {
      const routeServices = composeServices(localAdapters({ ...adapterOptions, dynamo: routeClients[index] }));
      return [route.id, lambdaHandler(route, routeHandlers[route.id], async () => routeServices, log)];
    }),
  ) as Record<RouteId, LambdaHandler>;

  const call = async (routeId: RouteId, callOptions: CallOptions = {}): Promise<CallResult> => {
    const route = routeById(routeId);
    const headers: Record<string, string> = { ...callOptions.headers };
    if (callOptions.token) headers.authorization = `Bearer ${callOptions.token}`;
    let body = callOptions.rawBody;
    if (body === undefined && callOptions.body !== undefined) {
      body = JSON.stringify(callOptions.body);
      headers['content-type'] ??= 'application/json';
    }
    const event = apiGatewayEvent({
      method: route.method,
      path: route.path,
      headers,
      ...(body !== undefined && { body }),
      sourceIp: callOptions.ip ?? randomIp(),
      routeKey: `${route.method} ${route.path}`,
    });
    const result = await handlers[routeId](event);
    const text = typeof result.body === 'string' ? result.body : '';
    return {
      status: result.statusCode ?? 200,
      headers: (result.headers ?? {}) as Record<string, string>,
      body: text ? JSON.parse(text) : undefined,
    };
  };

  const login = async (phone = testPhone()) => {
    const sent = await call('sendOtp', { body: { phone } });
    if (sent.status !== 200) throw new Error(`send-otp answered ${sent.status} ${JSON.stringify(sent.body)}`);
    const code = outbox.latest(phone)?.code;
    const verified = await call('verifyOtp', { body: { phone, code } });
    if (verified.status !== 200) throw new Error(`verify-otp answered ${verified.status}`);
    return { ...verified.body, phone };
  };

  return {
    emulators,
    routeDynamo: Object.fromEntries(routes.map((route, index) => [route.id, routeClients[index]!])) as Record<
      RouteId,
      DynamoDBClient
    >,
    clock,
    outbox,
    services,
    log,
    metrics,
    secretsPath,
    call,
    login,
    async updateSecrets(change) {
      await writeSecretsFile(secretsPath, change(await readSecretsFile(secretsPath)));
    },
    async scanAll() {
      const items: Record<string, unknown>[] = [];
      for (const TableName of Object.values(emulators.tableNames)) {
        const { Items } = await emulators.dynamo.send(new ScanCommand({ TableName }));
        items.push(...(Items ?? []).map((item) => unmarshall(item)));
      }
      return items;
    },
    async close() {
      for (const client of routeClients) client.destroy();
      await emulators.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
