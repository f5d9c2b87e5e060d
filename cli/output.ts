/**
 * Where output goes: results on stdout (JSON with `--json`), progress and logs on stderr, so
 * `chatshyld status --json | jq` always works. Colour through chalk, one instance per stream, so
 * each follows its own terminal: never with `--no-color`; FORCE_COLOR forces it (0 turns it off);
 * otherwise only on a terminal, and not with NO_COLOR or TERM=dumb.
 */
import type { Writable } from 'node:stream';
import { Chalk, type ColorSupportLevel } from 'chalk';
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
    this.paint = makePaint(colorLevel(options, streams.env, streams.stdout.isTTY));
    this.paintErr = makePaint(colorLevel(options, streams.env, streams.stderr.isTTY));
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

/** How much colour a stream gets (chalk's levels: 0 none, 1 basic, 2 256 colours, 3 true colour). */
export function colorLevel(options: Pick<GlobalOptions, 'color'>, env: NodeJS.ProcessEnv, isTTY: boolean | undefined): ColorSupportLevel {
  if (options.color === false) return 0;
  const forced = env.FORCE_COLOR;
  if (forced !== undefined) {
    if (forced === '' || forced === 'true') return 1;
    if (forced === 'false') return 0;
    const level = Number(forced);
    return Number.isInteger(level) ? (Math.min(Math.max(level, 0), 3) as ColorSupportLevel) : 1;
  }
  if (env.NO_COLOR || env.TERM === 'dumb' || !isTTY) return 0;
  if (env.COLORTERM === 'truecolor' || env.COLORTERM === '24bit') return 3;
  return env.TERM?.includes('256') ? 2 : 1;
}

function makePaint(level: ColorSupportLevel): Paint {
  const chalk = new Chalk({ level });
  return { green: chalk.green, red: chalk.red, dim: chalk.dim, bold: chalk.bold };
}
