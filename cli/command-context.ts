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
}

/** A command's entry point: its options, its context, its positional arguments; returns the exit code. */
export type CommandHandler<O = any> = (options: O, context: CommandContext, ...args: string[]) => Promise<number>;
