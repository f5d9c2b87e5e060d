/**
 * What every command is given: the output it writes through, the process streams and the global
 * options. Its own module, so commands and the modules they use never import `main.ts`, which
 * imports them.
 */
import type { GlobalOptions, Output, Streams } from './output.js';

export interface CommandContext {
  readonly out: Output;
  readonly streams: Streams;
  readonly global: GlobalOptions;
  /** The working tree this CLI was compiled from, when it runs from a checkout (see bin/cli-build.mjs). */
  readonly sources?: SourceTree;
}

/** A checkout's sources as the CLI saw them when it started. */
export interface SourceTree {
  readonly root: string;
  /** Source files edited, added or removed since the CLI started (at most `limit`). */
  changedSinceStart(limit?: number): string[];
}

/** A command's entry point: its options, its context, its positional arguments; returns the exit code. */
export type CommandHandler<O = any> = (options: O, context: CommandContext, ...args: string[]) => Promise<number>;
