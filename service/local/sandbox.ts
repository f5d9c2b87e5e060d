/**
 * The sandbox: the real handlers on one machine. dynalite and s3rver stand in for DynamoDB and S3, a
 * file stands in for SSM, an outbox stands in for Twilio Verify, and an HTTP server on 127.0.0.1 turns
 * each request into the payload-2.0 event API Gateway would send and calls the route's handler.
 */
import { access, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { join, resolve } from 'node:path';
import { SandboxOtpSender, type OutboxMessage } from '../adapters/otp/outbox.js';
import { composeServices } from '../compose-all.js';
import { noMetrics, systemClock, type Clock } from '../core/ports.js';
import { lambdaHandler, maxBodyBytes, type LambdaHandler, type RouteHandler } from '../http/api.js';
import { routeHandlers, type Services } from '../http/routes.js';
import { routes, type RouteDefinition, type RouteId } from '../manifest.js';
import { resolveSettings, type SettingsOverrides } from '../settings.js';
import { localAdapters } from './adapters.js';
import { emulatorCredentials, emulatorRegion, startEmulators, type Emulators } from './emulators.js';
import { routeDynamoClient } from './dynamo-grants.js';
import { routeS3Client, startS3Front } from './s3-front.js';
import { apiGatewayEvent } from './events.js';
import type { AwsCallRecorder } from './aws-calls.js';
import { lockData, refuseIfHeld, type DataLock } from './data-lock.js';
import { publishSandboxEndpoints } from './sandbox-endpoints.js';
import { checkKeyRings, initialDocument, readSecretsDocument, writeSecretsDocument } from './secrets-file.js';
import { RequestScopedLog, type SandboxLogEntry } from './request-log.js';
import { RequestHistory } from './request-history.js';
import { SandboxConsole, osUser } from './console.js';
import { UserAdmin } from '../ops/user-admin.js';
import type { SecretSource } from '../core/ports.js';
import type { SecretName } from '../manifest.js';

export { consolePath, sandboxOtpPath } from './console.js';

export interface SandboxRequestLog {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly ms: number;
  /** What the handler logged while serving it, redacted, in order. */
  readonly logs: readonly SandboxLogEntry[];
}

export interface SandboxOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** Where the sandbox keeps its secrets file and, with `persist`, its data. */
  readonly stateDir?: string;
  /** Keep DynamoDB and S3 data under `<stateDir>/data` across runs. */
  readonly persist?: boolean;
  /** Delete persisted data before starting. */
  readonly reset?: boolean;
  readonly settings?: SettingsOverrides;
  readonly clock?: Clock;
  readonly onRequest?: (entry: SandboxRequestLog) => void;
  readonly onOtp?: (message: OutboxMessage) => void;
  /** What is logged outside any request (each request's own lines come with `onRequest`). */
  readonly onLog?: (entry: SandboxLogEntry) => void;
  /** Wraps route handlers (tests inject faults this way). */
  readonly wrapHandler?: (routeId: RouteId, handler: RouteHandler<Services>) => RouteHandler<Services>;
  /** Records (and may delay) every DynamoDB and S3 call the functions send (the bench, the call-count test). */
  readonly awsCalls?: AwsCallRecorder;
}

export interface Sandbox {
  readonly url: string;
  readonly port: number;
  readonly outbox: SandboxOtpSender;
  readonly emulators: Emulators;
  /** The S3 front the functions reach S3 through (s3rver itself is `emulators.s3Endpoint`). */
  readonly s3Endpoint: string;
  readonly secretsPath: string;
  /** The console page, `<url>/__sandbox/`. */
  readonly consoleUrl: string;
  close(): Promise<void>;
}

export const defaultStateDir = '.chatshyld/local';

/**
 * Settings of the `local` stage: the deployed defaults, except that test numbers are allowed and the
 * send and per-IP limits are loose, because one developer (or a smoke run, or a benchmark) logs in
 * again and again from 127.0.0.1. The wrong-code limit stays. `stages.local` in the config overrides.
 */
export const localSettings: SettingsOverrides = {
  allowTestNumbers: true,
  limits: {
    sendOtpPhoneCooldown: { limit: 1000, windowSeconds: 30 },
    sendOtpPhoneHourly: { limit: 100_000, windowSeconds: 3600 },
    sendOtpPhoneIp: { limit: 100_000, windowSeconds: 3600 },
    sendOtpIp: { limit: 1_000_000, windowSeconds: 300 },
    verifyOtpIp: { limit: 1_000_000, windowSeconds: 300 },
    refreshIp: { limit: 1_000_000, windowSeconds: 300 },
    logoutIp: { limit: 1_000_000, windowSeconds: 300 },
  },
};

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const stateDir = resolve(options.stateDir ?? defaultStateDir);
  const dataDir = join(stateDir, 'data');
  // Only one sandbox uses a persisted data folder, and nobody resets it under a running one.
  if (options.reset) await refuseIfHeld(stateDir, 'refusing to reset');
  const lock = options.persist ? await lockData(stateDir) : undefined;
  try {
    if (options.reset) await rm(dataDir, { recursive: true, force: true });
    return await start(options, stateDir, dataDir, lock);
  } catch (error) {
    await lock?.release();
    throw error;
  }
}

async function start(options: SandboxOptions, stateDir: string, dataDir: string, lock: DataLock | undefined): Promise<Sandbox> {
  const secretsPath = join(stateDir, 'secrets.json');
  const clock = options.clock ?? systemClock;
  if (!(await exists(secretsPath))) await writeSecretsDocument(secretsPath, initialDocument(new Date(clock.now())));
  // A damaged file, or one whose key rings the handlers cannot use, is refused now, with its path,
  // rather than failing every request later.
  else checkKeyRings(await readSecretsDocument(secretsPath), secretsPath, new Date(clock.now()));

  const settings = resolveSettings({
    ...localSettings,
    ...options.settings,
    limits: { ...localSettings.limits, ...options.settings?.limits },
  });
  const outbox = new SandboxOtpSender(clock, {
    ttlSeconds: settings.otpTtlSeconds,
    ...(options.onOtp && { onSend: options.onOtp }),
  });
  const log = new RequestScopedLog(options.onLog);
  const emulators = await startEmulators(options.persist ? { persistDir: dataDir } : {});
  // S3 as each function sees it: through a front that holds every route to its manifest grants.
  const s3Front = await startS3Front({
    target: emulators.s3Endpoint,
    secrets: { [emulatorCredentials.accessKeyId]: emulatorCredentials.secretAccessKey },
    clock,
  });
  // Bumped to make every handler read the secrets file afresh: what restarting the functions does.
  let secretsGeneration = 0;
  const history = new RequestHistory();
  let listeningPort = 0;
  const sandboxConsole = new SandboxConsole({
    port: () => listeningPort,
    outbox,
    emulators,
    history,
    secretsPath,
    settings,
    reloadSecrets: () => void secretsGeneration++,
    // The on-call operations, as `chatshyld users --stage local` runs them, audited as this machine's user.
    users: new UserAdmin({
      dynamo: emulators.dynamo,
      s3: emulators.s3,
      tableNames: emulators.tableNames,
      bucketName: emulators.bucket,
      actor: `local:${osUser()}`,
      clock,
    }),
  });
  const handlers = new Map<string, { route: RouteDefinition; handler: LambdaHandler }>();
  const routeClients: { destroy(): void }[] = [];
  for (const route of routes) {
    const s3 = routeS3Client(s3Front.endpoint, route.id, emulatorCredentials, emulatorRegion);
    // DynamoDB as the route's role sees it: what its grants do not allow is AccessDenied, as in AWS.
    const dynamo = routeDynamoClient(emulators.dynamoEndpoint, emulators.tableNames, route);
    routeClients.push(s3, dynamo);
    options.awsCalls?.watch(dynamo, 'dynamodb');
    options.awsCalls?.watch(s3, 's3');
    const adapters = localAdapters({ emulators, secretsPath, otpSender: outbox, settings, clock, log, metrics: noMetrics, s3, dynamo });
    const services = composeServices({ ...adapters, secrets: () => reloading(adapters.secrets(), () => secretsGeneration) });
    const handle = options.wrapHandler?.(route.id, routeHandlers[route.id]) ?? routeHandlers[route.id];
    handlers.set(`${route.method} ${route.path}`, {
      route,
      handler: lambdaHandler(route, handle, async () => services, log),
    });
  }

  const server = createServer((request, response) => {
    const started = performance.now();
    const exchange: Exchange = {};
    const { logs, done } = log.collect(() =>
      serve(request, response, handlers, sandboxConsole, exchange).catch((error: unknown) => {
        log.error('sandbox failed to serve a request', { error });
        if (!response.headersSent) writeJson(response, 500, errorBody('internal_error', 'The sandbox failed.'));
        else response.destroy();
      }),
    );
    void done.finally(() => {
      const path = (request.url ?? '/').split('?')[0]!;
      const entry = { method: request.method ?? 'GET', path, status: response.statusCode, ms: performance.now() - started, logs };
      options.onRequest?.(entry);
      if (path === '/__sandbox' || path.startsWith('/__sandbox/')) return;
      history.add({ ...entry, at: new Date().toISOString(), ...exchange });
      sandboxConsole.notify('requests');
    });
  });
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolveListen());
    });
  } catch (error) {
    await s3Front.close();
    await emulators.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  listeningPort = port;
  // So `chatshyld users --stage local` finds this sandbox's emulators (removed again on close).
  const published = await publishSandboxEndpoints(stateDir, {
    url: `http://127.0.0.1:${port}`,
    dynamoEndpoint: emulators.dynamoEndpoint,
    s3Endpoint: emulators.s3Endpoint,
    tableNames: emulators.tableNames,
    bucket: emulators.bucket,
  });

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    outbox,
    emulators,
    s3Endpoint: s3Front.endpoint,
    secretsPath,
    consoleUrl: `http://127.0.0.1:${port}/__sandbox/`,
    close: () =>
      (closing ??= (async () => {
        sandboxConsole.close();
        await published.remove();
        server.closeAllConnections();
        await new Promise((resolveClose) => server.close(resolveClose));
        for (const client of routeClients) client.destroy();
        await s3Front.close();
        await emulators.close();
        await lock?.release();
      })()),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

const corsHeaders = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization,content-type',
  'access-control-allow-methods': 'GET,POST,PATCH,DELETE,OPTIONS',
  'access-control-max-age': '600',
};

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

function writeJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...corsHeaders });
  response.end(JSON.stringify(body));
}

/** What the API handler received and answered, for the console's Requests panel. */
interface Exchange {
  event?: APIGatewayProxyEventV2;
  result?: APIGatewayProxyStructuredResultV2;
}

/** A secrets source that reads afresh once after every bump of `generation`. */
function reloading(source: SecretSource, generation: () => number): SecretSource {
  let seen = generation();
  return {
    get(name: SecretName, options: { forceFetch?: boolean } = {}) {
      const now = generation();
      const forceFetch = options.forceFetch || now !== seen;
      seen = now;
      return source.get(name, { ...options, forceFetch });
    },
  };
}

async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  handlers: Map<string, { route: RouteDefinition; handler: LambdaHandler }>,
  sandboxConsole: SandboxConsole,
  exchange: Exchange,
): Promise<void> {
  const method = request.method ?? 'GET';
  const [path = '/', rawQueryString = ''] = (request.url ?? '/').split(/\?(.*)/s);

  // The console and its API are for this machine's developer only: guarded, and never CORS-enabled.
  if (path === '/__sandbox' || path.startsWith('/__sandbox/')) {
    await sandboxConsole.serve(request, response, path, new URLSearchParams(rawQueryString));
    return;
  }
  if (method === 'OPTIONS') {
    response.writeHead(204, corsHeaders);
    response.end();
    return;
  }
  const match = handlers.get(`${method} ${path}`);
  if (!match) {
    writeJson(response, 404, errorBody('not_found', `No route ${method} ${path}.`));
    return;
  }

  const body = await readBody(request);
  if (body === undefined) {
    writeJson(response, 413, errorBody('payload_too_large', `The body must be at most ${maxBodyBytes} bytes.`));
    return;
  }
  const event = apiGatewayEvent({
    method,
    path,
    rawQueryString,
    headers: request.headersDistinct as Record<string, string[]>,
    body,
    sourceIp: request.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
    routeKey: `${match.route.method} ${match.route.path}`,
  });
  exchange.event = event;
  const result = await match.handler(event);
  exchange.result = result;
  const headers: Record<string, string | string[]> = { ...corsHeaders };
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  response.writeHead(result.statusCode ?? 200, headers);
  const payload = result.body ?? '';
  response.end(result.isBase64Encoded ? Buffer.from(payload, 'base64') : payload);
}

/** The body, or undefined once it passes a cap well above the API's limit (which the handler enforces). */
async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const cap = maxBodyBytes * 4;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
