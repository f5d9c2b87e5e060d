/** Exit codes of DESIGN §6. */
export const exitCodes = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

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
