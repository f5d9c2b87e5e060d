import { spawn, spawnSync } from 'node:child_process';
import { binPath } from './run-cli.js';

/** Whether python3's pty module is here to give the CLI a real terminal. */
export const canUseTerminal = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

/** The CLI on a pseudo-terminal: forks it on a pty, waits for `prompt`, types `answer`, collects all. */
const driver = `
import os, pty, sys, time, select
prompt, answer, seconds = sys.argv[1].encode(), sys.argv[2].encode().decode('unicode_escape').encode(), float(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[4], sys.argv[4:])
out = b''
deadline = time.time() + seconds
sent = False
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if not sent and prompt in out:
        time.sleep(0.3)
        os.write(fd, answer)
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else status >> 8)
`;

export interface TerminalRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Everything the CLI wrote to its terminal (stdout and stderr alike). */
  readonly output: string;
  /** The driver's own errors, if any. */
  readonly stderr: string;
}

/**
 * Runs the built CLI on a pseudo-terminal (python3's pty) and answers the first output containing
 * `prompt` with `answer`, written with Python escapes (`'0177\\r'`, `'\\x03'` for Ctrl-C).
 */
export function runOnTerminal(
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; prompt: string; answer: string; timeoutMs: number },
): Promise<TerminalRun> {
  const seconds = String(options.timeoutMs / 1000);
  const child = spawn('python3', ['-c', driver, options.prompt, options.answer, seconds, process.execPath, binPath, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chatshyld ${args.join(' ')} on a terminal did not end\n${output}`));
    }, options.timeoutMs + 10_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, stderr });
    });
  });
}
