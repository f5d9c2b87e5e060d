/**
 * Where output goes: results on stdout (JSON with `--json`), progress and logs on stderr, so
 * `chatshyld status --json | jq` always works. Colour only on a terminal, never with `--no-color` or
 * NO_COLOR.
 */
import type { Writable } from 'node:stream';
import type { Paint } from '../smoke/reporters.js';

export interface GlobalOptions {
  readonly stage?: string;
  readonly profile?: string;
  readonly region?: string;
  readonly json?: boolean;
  readonly verbose?: boolean;
  readonly color?: boolean;
  readonly yes?: boolean;
}

export interface Streams {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly stdin: { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

const ansi = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;

export class Output {
  readonly json: boolean;
  readonly verbose: boolean;
  /** Colours for stdout. */
  readonly paint: Paint;
  /** Colours for stderr. */
  readonly paintErr: Paint;

  constructor(
    private readonly streams: Streams,
    options: GlobalOptions,
  ) {
    this.json = Boolean(options.json);
    this.verbose = Boolean(options.verbose);
    const allowed = options.color !== false && !streams.env.NO_COLOR && streams.env.TERM !== 'dumb';
    this.paint = makePaint(allowed && Boolean(streams.stdout.isTTY));
    this.paintErr = makePaint(allowed && Boolean(streams.stderr.isTTY));
  }

  /** The command's result, for humans. Suppressed with --json, where `resultJson` speaks instead. */
  result(text: string): void {
    if (!this.json) this.streams.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  resultJson(value: unknown): void {
    if (this.json) this.streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  info(text: string): void {
    this.streams.stderr.write(`${text}\n`);
  }

  debug(text: string): void {
    if (this.verbose) this.streams.stderr.write(`${this.paintErr.dim(text)}\n`);
  }

  /** Whether the user can be asked a question: a terminal on stdin and not in CI. */
  canPrompt(): boolean {
    return Boolean(this.streams.stdin.isTTY) && !this.streams.env.CI;
  }
}

function makePaint(enabled: boolean): Paint {
  if (!enabled) return { green: (t) => t, red: (t) => t, dim: (t) => t, bold: (t) => t };
  return { green: ansi(32, 39), red: ansi(31, 39), dim: ansi(2, 22), bold: ansi(1, 22) };
}
