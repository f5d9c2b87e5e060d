import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { run } from '../main.js';

export const binPath = fileURLToPath(new URL('../../bin/chatshyld', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * Runs the built CLI as a user would, with stdin a pipe that is never written or closed: a command
 * that waited for input would hang here and hit the timeout.
 */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number; nodeArgs?: string[] } = {},
): Promise<CliResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), binPath, ...args], {
    cwd: options.cwd,
    env: { ...process.env, CI: 'true', NO_COLOR: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return collect(child, started, options.timeoutMs ?? 20_000);
}

/** Starts the CLI and hands the child back (for long-running commands such as `dev`). */
export function startCli(args: readonly string[], options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}) {
  const started = performance.now();
  const child = spawn(process.execPath, [binPath, ...args], {
    cwd: options.cwd,
    env: { ...process.env, CI: 'true', NO_COLOR: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return { child, result: collect(child, started, options.timeoutMs ?? 30_000) };
}

function collect(child: ChildProcess, started: number, timeoutMs: number): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chatshyld did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** Runs the CLI in this process (so aws-sdk-client-mock reaches its AWS clients), with no terminal and CI set. */
export async function runInProcess(args: readonly string[], cwd: string, env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const sink = (append: (text: string) => void) => new Writable({ write: (chunk, _encoding, done) => (append(String(chunk)), done()) });
  const code = await run(['node', 'chatshyld', ...args], {
    stdout: sink((text) => (stdout += text)),
    stderr: sink((text) => (stderr += text)),
    stdin: {},
    env: { CI: 'true', ...env },
    cwd,
  });
  return { code, stdout, stderr };
}
