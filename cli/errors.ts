/**
 * One exit code per meaning (docs/cli.md lists them): 0 ok; 1 the operation was tried and failed
 * (a network error, an AWS refusal, a failed smoke step or doctor check); 2 the caller must fix
 * something first (usage, config, credentials or profile, a confirmation needed with no terminal);
 * 3 `diff --fail` found changes; 130 interrupted (Ctrl-C).
 */
export const exitCodes = { ok: 0, failed: 1, usage: 2, changes: 3, interrupted: 130 } as const;

/**
 * An expected failure: printed as one line and a hint, never with a stack trace. `code` is stable
 * (scripts may match on it); `exitCode` says whose fault it was: 2 the caller's (usage, config,
 * confirmation needed without a terminal), 1 the operation's.
 */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly exitCode: number = exitCodes.usage,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

export const usageError = (message: string, hint?: string) => new CliError('usage', message, hint, exitCodes.usage);
export const configError = (message: string, hint?: string) => new CliError('config', message, hint, exitCodes.usage);
export const operationFailed = (code: string, message: string, hint?: string) =>
  new CliError(code, message, hint, exitCodes.failed);

export const interrupted = () => new CliError('interrupted', 'interrupted: stopped before finishing', 'run the command again when you are ready', exitCodes.interrupted);
