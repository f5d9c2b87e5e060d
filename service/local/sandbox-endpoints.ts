/**
 * How another process finds a running sandbox: on ready, the sandbox writes its emulator endpoints,
 * table and bucket names and its process id to `<stateDir>/sandbox.json`, and removes the file when
 * it stops. `chatshyld users --stage local` reads it; a file whose process is gone (a sandbox killed
 * with SIGKILL) is reported as stale, not trusted.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TableNames } from '../adapters/dynamodb/tables.js';
import { processRunning } from './data-lock.js';
import { LocalStateError } from './secrets-file.js';

export const sandboxEndpointsFile = 'sandbox.json';
export const sandboxLockFile = 'sandbox.lock';

export interface SandboxEndpoints {
  readonly pid: number;
  /** The API. */
  readonly url: string;
  readonly dynamoEndpoint: string;
  /** s3rver itself, not the grants front the handlers go through. */
  readonly s3Endpoint: string;
  readonly tableNames: TableNames;
  readonly bucket: string;
  /** ISO 8601. */
  readonly startedAt: string;
}

export type SandboxLookup =
  | { readonly state: 'running'; readonly endpoints: SandboxEndpoints; readonly path: string }
  | { readonly state: 'none'; readonly path: string }
  | { readonly state: 'stale'; readonly pid: number; readonly path: string }
  /** `readError`: why the file could not be read at all (a directory, no permission), if so. */
  | { readonly state: 'unreadable'; readonly path: string; readonly readError?: string };

/**
 * Writes the file (atomically, owner-only) unless a live sandbox (of any process, this one too) has
 * written its own: the first sandbox on a folder keeps it. `remove` deletes the file only while it is still
 * this sandbox's. A folder that cannot be written does not stop the sandbox: it is only not found.
 */
export async function publishSandboxEndpoints(
  stateDir: string,
  endpoints: Omit<SandboxEndpoints, 'pid' | 'startedAt'>,
): Promise<{ remove(): Promise<void> }> {
  try {
    return await publish(stateDir, endpoints);
  } catch {
    return { remove: async () => {} };
  }
}

async function publish(stateDir: string, endpoints: Omit<SandboxEndpoints, 'pid' | 'startedAt'>) {
  const path = join(stateDir, sandboxEndpointsFile);
  const existing = await findSandbox(stateDir);
  if (existing.state === 'running') return { remove: async () => {} };
  const document: SandboxEndpoints = { pid: process.pid, ...endpoints, startedAt: new Date().toISOString() };
  await mkdir(stateDir, { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
  return {
    async remove() {
      const current = await findSandbox(stateDir).catch(() => undefined);
      if (current?.state === 'running' && current.endpoints.pid === process.pid && current.endpoints.url === endpoints.url) {
        await rm(path, { force: true });
      }
    },
  };
}

/** The sandbox that wrote `<stateDir>/sandbox.json`, if its process still runs. */
export async function findSandbox(stateDir: string): Promise<SandboxLookup> {
  const path = join(stateDir, sandboxEndpointsFile);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') return { state: 'none', path };
    if (code === 'EISDIR') return { state: 'unreadable', path, readError: 'it is a directory' };
    if (code === 'EACCES' || code === 'EPERM') return { state: 'unreadable', path, readError: 'no permission to read it' };
    throw error;
  }
  let document: SandboxEndpoints;
  try {
    document = JSON.parse(text) as SandboxEndpoints;
  } catch {
    return { state: 'unreadable', path };
  }
  // Only loopback endpoints: a file edited to point elsewhere is not followed with our credentials.
  const loopback = (value: unknown) => typeof value === 'string' && /^http:\/\/127\.0\.0\.1:\d{1,5}$/.test(value);
  const wellFormed =
    Number.isInteger(document?.pid) &&
    loopback(document.dynamoEndpoint) &&
    loopback(document.s3Endpoint) &&
    typeof document.bucket === 'string' &&
    typeof document.tableNames?.users === 'string' &&
    typeof document.tableNames?.refreshTokens === 'string' &&
    typeof document.tableNames?.rateLimits === 'string';
  if (!wellFormed) return { state: 'unreadable', path };
  if (!processRunning(document.pid)) return { state: 'stale', pid: document.pid, path };
  return { state: 'running', endpoints: document, path };
}

/**
 * One sandbox per project: `chatshyld dev` takes `<stateDir>/sandbox.lock` (holding its process id)
 * before it starts anything, so a second one is refused with the id and URL of the first, rather
 * than running beside it while `users --stage local` talks to the first. Taking the lock is one
 * exclusive create, so two starting at once cannot both win. A lock left by a process that is gone
 * is taken over. (`smoke --local` runs in a folder of its own and takes none.)
 */
export async function claimSandbox(stateDir: string): Promise<{ release(): Promise<void> }> {
  await mkdir(stateDir, { recursive: true });
  const path = join(stateDir, sandboxLockFile);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return { release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && processRunning(pid)) {
      const running = await findSandbox(stateDir).catch(() => undefined);
      const url = running?.state === 'running' && running.endpoints.pid === pid ? running.endpoints.url : undefined;
      throw new LocalStateError(
        url
          ? `a sandbox already runs for this project: process ${pid} at ${url}`
          : `a sandbox is starting for this project: process ${pid}`,
        `use that one (\`chatshyld users --stage local\` and \`secrets --stage local\` reach it), or stop it first (Ctrl-C in its terminal, or kill ${pid}); \`chatshyld smoke --local\` runs beside it`,
      );
    }
    // Left by a process that is gone (or being written this instant: the next attempt reads it whole).
    if (Number.isInteger(pid) && pid > 0) await rm(path, { force: true });
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new LocalStateError(`could not take ${path}`, 'another sandbox is starting for this project; try again');
}
