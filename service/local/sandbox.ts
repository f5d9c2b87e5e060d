/**
 * The sandbox: the functions deploy ships, on one machine. Each route's bundle (built by
 * `bundleFunctions`, the very files a deploy of this tree uploads) runs in a worker thread of its
 * own with its Lambda's environment. dynalite and s3rver stand in for DynamoDB and S3, the secrets
 * file for SSM, an outbox for Twilio Verify, each behind a front that holds every function to its
 * grants; an HTTP server on 127.0.0.1 turns each request into the payload-2.0 event API Gateway
 * would send and invokes the route's function.
 */
import { constants } from 'node:fs';
import { access, mkdir, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { join, resolve } from 'node:path';
import { SandboxOtpSender, type OutboxMessage } from '../adapters/otp/outbox.js';
import { systemClock, type Clock } from '../core/ports.js';
import { maxBodyBytes } from '../http/api.js';
import { routes, type RouteDefinition, type RouteId } from '../manifest.js';
import { resolveSettings, type SettingsOverrides } from '../settings.js';
import { emulatorCredentials, emulatorRegion, startEmulators, type Emulators } from './emulators.js';
import { startFunctionFronts } from './function-fronts.js';
import { functionEnvironment, SandboxFunctions } from './functions.js';
import { functionLogLines } from './function-output.js';
import { FunctionReloader, type ReloadEvent } from './reload.js';
import { apiGatewayEvent } from './events.js';
import type { AwsCallRecorder } from './aws-calls.js';
import { lockData, refuseIfHeld, type DataLock } from './data-lock.js';
import { claimSandbox, publishSandboxEndpoints } from './sandbox-endpoints.js';
import { checkKeyRings, initialDocument, initialSecrets, LocalStateError, localActor, readSecretsDocument, writeSecretsDocument, type SecretsDocument } from './secrets-file.js';
import { RequestScopedLog, type SandboxLogEntry } from './request-log.js';
import { RequestHistory } from './request-history.js';
import { SandboxConsole, osUser } from './console.js';
import { UserAdmin } from '../ops/user-admin.js';

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
  /** The fronts' and the outbox's clock (the functions, like Lambdas, read the system's). */
  readonly clock?: Clock;
  readonly onRequest?: (entry: SandboxRequestLog) => void;
  readonly onOtp?: (message: OutboxMessage) => void;
  /** What is logged outside any request (each request's own lines come with `onRequest`). */
  readonly onLog?: (entry: SandboxLogEntry) => void;
  /** Wraps each route's invocations, event in, result out (tests inject faults this way). */
  readonly wrapFunction?: (routeId: RouteId, invoke: FunctionInvoke) => FunctionInvoke;
  /** Records (and may delay) every DynamoDB and S3 call the functions send (the bench, the call-count test). */
  readonly awsCalls?: AwsCallRecorder;
  /** The folder holding `service/` the functions are bundled from (default: chatshyld's own). */
  readonly sourceRoot?: string;
  /** Where bundles are kept (default `<sourceRoot>/.chatshyld/bundles`, which deploy in a checkout uses too). */
  readonly bundleDir?: string;
  /** Rebuild and swap in the functions a save under `<sourceRoot>/service/` changes. */
  readonly watch?: boolean;
  readonly onReload?: (event: ReloadEvent) => void;
  /** Start every function's worker right after ready, instead of on its first request. */
  readonly prewarm?: boolean;
  /** Refuse to start while another sandbox holds this state folder (`chatshyld dev`: one per project). */
  readonly exclusive?: boolean;
}

/** One invocation of a route's function, as API Gateway makes it. */
export type FunctionInvoke = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

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
  /** The `index.mjs` each route's function runs now. */
  functions(): Readonly<Record<RouteId, string>>;
  /** Rebuilds now, as a save does (with `watch`). */
  reload(): Promise<void>;
  /** Resolves once saves are watched (at once without `watch`). */
  readonly watching: Promise<void>;
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
  const claim = options.exclusive ? await claimSandbox(stateDir) : undefined;
  let lock: DataLock | undefined;
  try {
    // Only one sandbox uses a persisted data folder, and nobody resets it under a running one.
    if (options.reset) await refuseIfHeld(stateDir, 'refusing to reset');
    lock = options.persist ? await lockData(stateDir) : undefined;
    if (options.reset) await rm(dataDir, { recursive: true, force: true });
    return await start(options, stateDir, dataDir, [lock, claim]);
  } catch (error) {
    await lock?.release();
    await claim?.release();
    throw error;
  }
}

async function start(options: SandboxOptions, stateDir: string, dataDir: string, locks: ({ release(): Promise<void> } | undefined)[]): Promise<Sandbox> {
  const secretsPath = join(stateDir, 'secrets.json');
  const clock = options.clock ?? systemClock;
  if (!(await exists(secretsPath))) await writeSecretsDocument(secretsPath, initialDocument(new Date(clock.now())));
  // A damaged file, or one whose key rings the handlers cannot use, is refused now, with its path,
  // rather than failing every request later.
  else {
    const document = await readSecretsDocument(secretsPath);
    checkKeyRings(document, secretsPath, new Date(clock.now()));
    if (document.secrets.twilio === undefined) await writeSecretsDocument(secretsPath, withSandboxTwilio(document, new Date(clock.now())));
  }

  const overrides: SettingsOverrides = {
    ...localSettings,
    ...options.settings,
    limits: { ...localSettings.limits, ...options.settings?.limits },
  };
  const settings = resolveSettings(overrides);
  const outbox = new SandboxOtpSender(clock, {
    ttlSeconds: settings.otpTtlSeconds,
    ...(options.onOtp && { onSend: options.onOtp }),
  });
  const log = new RequestScopedLog(options.onLog);
  // The bundles deploy ships for this tree (made once per tree, shared with synth and deploy).
  const { bundleFunctions, packageRoot } = await import('../../infra/bundle.js');
  const sourceRoot = resolve(options.sourceRoot ?? packageRoot());
  const bundleDir = resolve(options.bundleDir ?? (await defaultBundleDir(sourceRoot)));
  const bundled = await bundleFunctions(sourceRoot, bundleDir);

  const emulators = await startEmulators(options.persist ? { persistDir: dataDir } : {});
  const fronts = await startFunctionFronts({ emulators, secretsPath, outbox, clock, ...(options.awsCalls && { onCall: options.awsCalls.onCall }) }).catch(
    async (error: unknown) => {
      await emulators.close();
      throw error;
    },
  );
  const outside = log.recorder();
  const functions = new SandboxFunctions({
    bundles: Object.fromEntries(routes.map((route) => [route.id, join(bundled.outdir, route.id, 'index.mjs')])) as Record<RouteId, string>,
    environment: (route) =>
      functionEnvironment(
        route,
        { stage: 'local', version: 'local', settings: JSON.stringify(overrides), tableNames: emulators.tableNames, bucketName: emulators.bucket, allowTestNumbers: settings.allowTestNumbers },
        fronts.endpoints,
        emulatorCredentials,
        emulatorRegion,
      ),
    outside: (text) => {
      for (const line of functionLogLines(text)) outside(line.level, line.message, line.fields);
    },
  });
  const history = new RequestHistory();
  let listeningPort = 0;
  const sandboxConsole = new SandboxConsole({
    port: () => listeningPort,
    outbox,
    emulators,
    history,
    secretsPath,
    settings,
    // What a redeploy does: every function starts afresh and reads its secrets again.
    reloadSecrets: () => functions.restart(),
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
  const handlers = new Map<string, { route: RouteDefinition; invoke: FunctionInvoke }>();
  for (const route of routes) {
    const invoke: FunctionInvoke = (event) => {
      // Lines the function prints come back later, from its thread: file them with this request.
      const record = log.recorder();
      return functions.invoke(route.id, event, (text) => {
        for (const line of functionLogLines(text)) record(line.level, line.message, line.fields);
      });
    };
    handlers.set(`${route.method} ${route.path}`, { route, invoke: options.wrapFunction?.(route.id, invoke) ?? invoke });
  }

  const server = createServer((request, response) => {
    const started = performance.now();
    const exchange: Exchange = {};
    const { logs, done } = log.collect(() =>
      serve(request, response, handlers, sandboxConsole, exchange, log)
        .catch((error: unknown) => {
          log.error('sandbox failed to serve a request', { error });
          if (!response.headersSent) writeJson(response, 500, errorBody('internal_error', 'The sandbox failed.'));
          else response.destroy();
        })
        .then(() => (response.statusCode >= 500 ? explainSecretsFile(secretsPath, clock, log) : undefined)),
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
    await functions.close();
    await fronts.close();
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

  // Watching and the incremental build context start after ready, beside the functions' workers.
  const reloader = options.watch
    ? FunctionReloader.start({
        sourceRoot,
        bundleDir,
        current: () => functions.current(),
        swap: (bundles) => functions.swap(bundles),
        onEvent: (event) => options.onReload?.(event),
      })
    : undefined;
  reloader?.catch((error: unknown) => options.onReload?.({ kind: 'failed', message: `cannot watch ${join(sourceRoot, 'service')}: ${(error as Error).message}` }));
  if (options.prewarm) functions.prewarm();

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    outbox,
    emulators,
    s3Endpoint: fronts.endpoints.s3,
    secretsPath,
    consoleUrl: `http://127.0.0.1:${port}/__sandbox/`,
    functions: () => functions.current(),
    watching: (reloader ?? Promise.resolve()).then(
      () => {},
      () => {},
    ),
    reload: async () => {
      if (!reloader) throw new Error('this sandbox was started without watch');
      await (await reloader).reload();
    },
    close: () =>
      (closing ??= (async () => {
        sandboxConsole.close();
        await (await reloader?.catch(() => undefined))?.close();
        await published.remove();
        server.closeAllConnections();
        await new Promise((resolveClose) => server.close(resolveClose));
        await functions.close();
        await fronts.close();
        await emulators.close();
        for (const lock of locks) await lock?.release();
      })()),
  };
}

/**
 * Bundles are made from chatshyld's own sources, so they are kept beside them, where `deploy` in a
 * checkout keeps its own (`.chatshyld/bundles` of the project, which is that folder): for one tree
 * the sandbox runs the very files a deploy uploads, and every project and `smoke --local` run
 * reuses them. An installed package may sit in a folder this user cannot write: then the user's cache.
 */
async function defaultBundleDir(sourceRoot: string): Promise<string> {
  const beside = join(sourceRoot, '.chatshyld', 'bundles');
  try {
    await mkdir(beside, { recursive: true });
    await access(beside, constants.W_OK);
    return beside;
  } catch {
    return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'chatshyld', 'bundles');
  }
}

/**
 * A secrets file written before the sandbox had its own Twilio Verify holds no `twilio` entry, which
 * sendOtp's function needs to reach it: add the sandbox's, as the next version of that secret.
 */
function withSandboxTwilio(document: SecretsDocument, now: Date): SecretsDocument {
  const twilio = initialSecrets(now).twilio;
  const versions = document.history?.twilio ?? [];
  return {
    secrets: { ...document.secrets, twilio },
    history: {
      ...document.history,
      twilio: [...versions, { version: (versions.at(-1)?.version ?? 0) + 1, value: twilio, modifiedAt: now.toISOString(), modifiedBy: localActor() }],
    },
  };
}

/**
 * A function cannot know that its parameters come from the sandbox's secrets file: when a request
 * fails and that file is damaged or holds an unusable key ring, say so under the request, with the
 * file and the way out.
 */
async function explainSecretsFile(secretsPath: string, clock: Clock, log: RequestScopedLog): Promise<void> {
  try {
    checkKeyRings(await readSecretsDocument(secretsPath), secretsPath, new Date(clock.now()));
  } catch (error) {
    if (error instanceof LocalStateError) log.warn(`${error.message}; ${error.hint}`);
  }
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

async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  handlers: Map<string, { route: RouteDefinition; invoke: FunctionInvoke }>,
  sandboxConsole: SandboxConsole,
  exchange: Exchange,
  log: RequestScopedLog,
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
  let result: APIGatewayProxyStructuredResultV2;
  try {
    result = await match.invoke(event);
  } catch (error) {
    // A function that throws, crashes or times out: API Gateway answers 500 with a body of its own.
    log.error('unhandled error', { route: match.route.id, error });
    result = { statusCode: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Internal Server Error' }) };
  }
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
