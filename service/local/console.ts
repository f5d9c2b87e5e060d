/**
 * Everything under `/__sandbox/`: the console page and its assets, its JSON API, a stream of change
 * notices (server-sent events) that keeps the page live, and the OTP route clients read codes from.
 * Every request passes `refuseConsoleRequest` first; no answer carries CORS headers.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { SandboxOtpSender } from '../adapters/otp/outbox.js';
import { canonicalPhone } from '../core/phone.js';
import { FileSecretAdminStore } from '../secrets/file-admin-store.js';
import { RotationRefused, rotateKeyRing, rotationWindows, type RotatableSecret } from '../secrets/rotation.js';
import type { ServiceSettings } from '../settings.js';
import { LocalStateError } from './secrets-file.js';
import { UserAdminError, type UserAdmin } from '../ops/user-admin.js';
import { avatarOf, findUsers, ringsOf } from './console-data.js';
import { consoleHeaders, refuseConsoleRequest } from './console-guard.js';
import type { Emulators } from './emulators.js';
import type { RequestHistory } from './request-history.js';

export const consolePath = '/__sandbox/';
export const sandboxOtpPath = '/__sandbox/otp/';

/** The on-call operations behind the Users panel: one account's details, and every button. */
export type ConsoleUserOperations = Pick<UserAdmin, 'show' | 'sessions' | 'revoke' | 'expireAccess' | 'delete'>;

export interface ConsoleOptions {
  readonly port: () => number;
  readonly outbox: SandboxOtpSender;
  readonly emulators: Emulators;
  readonly history: RequestHistory;
  readonly secretsPath: string;
  readonly settings: ServiceSettings;
  /** Restarts every function, so each reads its secrets afresh (what a redeploy does). */
  readonly reloadSecrets: () => void;
  readonly users: ConsoleUserOperations;
}

/**
 * The page ships as plain files beside this module's source. The compiled module runs from
 * `dist/service/local/`, so it looks in the source folder too; both are in the package.
 */
function assetsFolder(): string {
  const beside = fileURLToPath(new URL('./console-assets/', import.meta.url));
  if (existsSync(beside)) return beside;
  return fileURLToPath(new URL('../../../service/local/console-assets/', import.meta.url));
}

const assets: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

const rotatable = new Set<string>(['jwt-secret', 'refresh-pepper']);

interface RotationStatus {
  readonly name: RotatableSecret;
  readonly state: 'running' | 'done' | 'failed';
  readonly message: string;
  readonly at: string;
}

export class SandboxConsole {
  private readonly streams = new Set<ServerResponse>();
  private readonly folder = assetsFolder();
  private readonly instance = randomUUID();
  /** The last rotation of each ring, so that one ring's status never hides another's. */
  private readonly rotations = new Map<RotatableSecret, RotationStatus>();
  private rotation: RotationStatus | undefined;

  constructor(private readonly options: ConsoleOptions) {}

  /** Tells every open page what changed, so it reloads that part. */
  notify(topic: 'requests' | 'outbox' | 'users' | 'secrets'): void {
    for (const stream of this.streams) stream.write(`event: change\ndata: ${JSON.stringify({ topic })}\n\n`);
  }

  async serve(request: IncomingMessage, response: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    // HEAD reads as GET does; Node leaves the body out of a HEAD answer.
    const method = request.method === 'HEAD' ? 'GET' : (request.method ?? 'GET');
    const refusal = refuseConsoleRequest(method, request.headers, this.options.port());
    if (refusal) {
      // Read and drop whatever was sent, so that the refusal reaches the client whole.
      request.resume();
      if (method === 'GET' && isTopLevelNavigation(request)) return openDirectly(response, refusal.status, this.options.port());
      return json(response, refusal.status, { error: { code: refusal.code, message: refusal.message } });
    }

    if (path === '/__sandbox') {
      response.writeHead(308, { ...consoleHeaders, location: consolePath });
      response.end();
      return;
    }
    if (method === 'GET' && path.startsWith(sandboxOtpPath)) return this.otp(response, path.slice(sandboxOtpPath.length));
    if (method === 'GET' && path === consolePath) return this.asset(response, 'index.html');
    if (method === 'GET' && path.startsWith('/__sandbox/assets/')) return this.asset(response, path.slice('/__sandbox/assets/'.length));
    if (method === 'GET' && path === '/__sandbox/api/events') {
      // A HEAD gets the stream's headers only; it is not kept open as a stream.
      if (request.method === 'HEAD') return void response.writeHead(200, { ...consoleHeaders, 'content-type': 'text/event-stream; charset=utf-8' }).end();
      return this.events(request, response);
    }

    const api = /^\/__sandbox\/api\/(.+)$/.exec(path)?.[1];
    const route = api && `${method} ${api}`;
    if (route === 'GET outbox') return json(response, 200, { messages: this.options.outbox.history() });
    if (route === 'GET requests') return json(response, 200, { requests: this.options.history.list() });
    if (route === 'GET users') return json(response, 200, { users: await findUsers(this.options.emulators, query.get('q') ?? '') });
    if (route === 'GET secrets') return this.secrets(response);
    if (route === 'POST secrets/rotate') return this.rotate(request, response);

    let match: RegExpExecArray | null;
    if (route && (match = /^GET requests\/(\d+)$/.exec(route))) {
      const detail = this.options.history.detail(Number(match[1]));
      return detail ? json(response, 200, detail) : notFound(response, 'No such request (only the last 200 are kept).');
    }
    if (route && (match = /^GET users\/([\w-]+)$/.exec(route))) return this.userOrError(response, match[1]!, (answer, id) => this.user(answer, id));
    if (route && (match = /^GET users\/([\w-]+)\/avatar$/.exec(route))) return this.userOrError(response, match[1]!, (answer, id) => this.avatar(answer, id));
    if (route && (match = /^POST users\/([\w-]+)\/(revoke|expire-access|delete)$/.exec(route))) {
      return this.userAction(request, response, match[1]!, match[2] as 'revoke' | 'expire-access' | 'delete');
    }
    return notFound(response, `No sandbox route ${method} ${path}.`);
  }

  private async userOrError(response: ServerResponse, id: string, show: (response: ServerResponse, id: string) => Promise<void>): Promise<void> {
    try {
      await show(response, id);
    } catch (error) {
      if (!(error instanceof UserAdminError)) throw error;
      userAdminError(response, error);
    }
  }

  /** Ends every open event stream (the sandbox is closing). */
  close(): void {
    for (const stream of this.streams) stream.end();
    this.streams.clear();
  }

  /**
   * `GET /__sandbox/otp/<phone>`: the pending code of a number, in any spelling the API accepts, with
   * its `+` raw, as `%2B`, or left out (a `+` is easy to lose in a shell or a URL; the number is read
   * as international either way, never as a national one).
   */
  private otp(response: ServerResponse, encoded: string): void {
    let spelled: string;
    try {
      spelled = decodeURIComponent(encoded).trim();
    } catch {
      return json(response, 400, {
        error: { code: 'invalid_phone', message: 'The number in the path is not valid percent-encoding; send it as +14155550123 or %2B14155550123.' },
      });
    }
    // Codes go to the canonical number; any spelling the API accepts finds them.
    const phone = canonicalPhone(/^\d/.test(spelled) ? `+${spelled}` : spelled);
    if (!phone) {
      return json(response, 400, {
        error: { code: 'invalid_phone', message: 'phone must be a valid number in E.164 format, for example +14155550123.' },
      });
    }
    const message = this.options.outbox.latest(phone);
    if (message) json(response, 200, message);
    else json(response, 404, { error: { code: 'no_pending_code', message: `No code is pending for ${phone}.` } });
  }

  private async asset(response: ServerResponse, name: string): Promise<void> {
    const type = Object.hasOwn(assets, name) ? assets[name] : undefined;
    if (!type) return notFound(response, `No console asset ${name}.`);
    const body = await readFile(`${this.folder}${name}`);
    response.writeHead(200, { ...consoleHeaders, 'content-type': type });
    response.end(body);
  }

  private events(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, { ...consoleHeaders, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    response.write('retry: 1000\n\n');
    // Which sandbox run this is: the page drops what it picked from an earlier run.
    response.write(`event: hello\ndata: ${JSON.stringify({ instance: this.instance })}\n\n`);
    this.streams.add(response);
    request.on('close', () => this.streams.delete(response));
  }

  private async user(response: ServerResponse, id: string): Promise<void> {
    const details = await this.options.users.show(id);
    if (!details) return notFound(response, `No user ${id}.`);
    const sessions = await this.options.users.sessions(id);
    json(response, 200, { ...details, sessions, devices: sessions.filter((session) => session.status === 'active').length });
  }

  private async avatar(response: ServerResponse, id: string): Promise<void> {
    const photoKey = (await this.options.users.show(id))?.user.photoKey;
    const avatar = photoKey ? await avatarOf(this.options.emulators, photoKey) : undefined;
    if (!avatar) return notFound(response, 'This user has no avatar.');
    // Only image types the API accepts are served as images; anything else would be a download.
    const type = /^image\/(jpeg|png|webp)$/.test(avatar.contentType) ? avatar.contentType : 'application/octet-stream';
    response.writeHead(200, { ...consoleHeaders, 'content-type': type, 'content-disposition': 'inline' });
    response.end(avatar.bytes);
  }

  /** A button of the Users panel: the same operation `chatshyld users … --stage local` runs, audited. */
  private async userAction(request: IncomingMessage, response: ServerResponse, id: string, action: 'revoke' | 'expire-access' | 'delete'): Promise<void> {
    // Only an explicit `{}` revokes every session; a body that is not understood changes nothing.
    const body = await readBody(request, response, action === 'revoke' ? { familyId: 'string' } : {});
    if (!body) return;
    const users = this.options.users;
    const reason = 'from the sandbox console';
    try {
      let result: unknown;
      if (action === 'revoke') {
        const familyId = body.familyId as string | undefined;
        result = await users.revoke(id, { reason, ...(familyId !== undefined && { familyId }) });
      } else if (action === 'expire-access') result = await users.expireAccess(id, { reason });
      else result = await users.delete(id, { reason });
      this.notify('users');
      json(response, 200, result);
    } catch (error) {
      if (!(error instanceof UserAdminError)) throw error;
      userAdminError(response, error);
    }
  }

  /** The rings, or why the file cannot be read (it names the file and the fix): the panel shows either. */
  private async secrets(response: ServerResponse): Promise<void> {
    const status = { rotation: this.rotation ?? null, rotations: Object.fromEntries(this.rotations), file: this.options.secretsPath };
    try {
      json(response, 200, { rings: await ringsOf(this.options.secretsPath), problem: null, ...status });
    } catch (error) {
      if (!(error instanceof LocalStateError)) throw error;
      json(response, 200, { rings: [], problem: `${error.message}; ${error.hint}`, ...status });
    }
  }

  /** Runs the rotation `chatshyld secrets rotate <name> --stage local` runs, in the background. */
  private async rotate(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request, response, { name: 'string' });
    if (!body) return;
    const name = body.name;
    if (typeof name !== 'string' || !rotatable.has(name)) {
      return json(response, 400, { error: { code: 'invalid_request', message: 'name must be jwt-secret or refresh-pepper.' } });
    }
    if (this.rotation?.state === 'running') {
      return json(response, 409, { error: { code: 'rotation_running', message: `${this.rotation.name} is rotating; wait for it to finish.` } });
    }
    const secret = name as RotatableSecret;
    const progress = (state: 'running' | 'done' | 'failed', message: string) => {
      this.rotation = { name: secret, state, message, at: new Date().toISOString() };
      this.rotations.set(secret, this.rotation);
      this.notify('secrets');
    };
    progress('running', `rotating ${secret}`);
    const store = new FileSecretAdminStore(this.options.secretsPath, `${osUser()} (console)`);
    void rotateKeyRing(store, secret, {
      ...rotationWindows(secret, this.options.settings),
      // No reader waits out a cache here: restartFunctions makes every handler read the file at once.
      // With the deployed window a second click within it would only "resume" the last rotation.
      propagationMs: 0,
      // The sandbox's functions are its workers: ending them makes the next request read the secrets afresh.
      restartFunctions: async () => this.options.reloadSecrets(),
      onProgress: (message) => progress('running', message),
    }).then(
      (outcome) => progress('done', `${secret} signs with ${outcome.newKid}${outcome.previousKid ? `; ${outcome.previousKid} keeps verifying` : ''}`),
      (error: unknown) => progress('failed', error instanceof RotationRefused ? `${error.message}: ${error.hint}` : (error as Error).message),
    );
    json(response, 202, { rotation: this.rotation });
  }
}

/** Who is at this machine: the console's and the sandbox's audit actor. */
export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'local';
  }
}

function isTopLevelNavigation(request: IncomingMessage): boolean {
  return request.headers['sec-fetch-mode'] === 'navigate' && request.headers['sec-fetch-dest'] === 'document';
}

/**
 * A link from another site (a chat message, an issue) opens the console as a cross-site navigation,
 * which is refused like any other cross-site request; a person gets a page saying what to do
 * instead of raw JSON. It holds no data: only the address to type.
 */
function openDirectly(response: ServerResponse, status: number, port: number): void {
  const address = `http://127.0.0.1:${port}/__sandbox/`;
  response.writeHead(status, { ...consoleHeaders, 'content-type': 'text/html; charset=utf-8' });
  response.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ChatShyld sandbox console</title></head><body>` +
      `<h1>Open the sandbox console directly</h1>` +
      `<p>The console answers only its own address, not links from other sites. Open <code>${address}</code> directly: type or paste it into the address bar.</p>` +
      `</body></html>\n`,
  );
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { ...consoleHeaders, 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
}

function notFound(response: ServerResponse, message: string): void {
  json(response, 404, { error: { code: 'not_found', message } });
}

function userAdminError(response: ServerResponse, error: UserAdminError): void {
  json(response, error.code === 'not_found' ? 404 : error.code === 'blocked' ? 409 : 400, { error: { code: error.code, message: error.message } });
}

const maxBodyBytes = 4096;

/**
 * An action's body: a JSON object with only the fields `fields` names, each of its type. Anything
 * else is answered here (413 when too big, 400 when not such an object) and gives undefined, so that
 * a body the console does not understand never falls back to a default.
 */
async function readBody(request: IncomingMessage, response: ServerResponse, fields: Record<string, 'string'>): Promise<Record<string, unknown> | undefined> {
  const invalid = (message: string) => json(response, 400, { error: { code: 'invalid_request', message } });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) {
      request.resume();
      json(response, 413, { error: { code: 'body_too_large', message: `An action's body is at most ${maxBodyBytes} bytes.` } });
      return undefined;
    }
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    invalid('The body is not JSON; send a JSON object ({} when there is nothing to say).');
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalid('The body must be a JSON object.');
    return undefined;
  }
  const named = Object.keys(fields);
  for (const [field, item] of Object.entries(value)) {
    if (!Object.hasOwn(fields, field)) {
      invalid(`Unknown field ${JSON.stringify(field)}; this action takes ${named.length ? named.join(', ') : 'no fields'}.`);
      return undefined;
    }
    if (typeof item !== fields[field]) {
      invalid(`${field} must be a ${fields[field]}.`);
      return undefined;
    }
  }
  return value as Record<string, unknown>;
}
