/**
 * The sandbox's logger: what the handlers log reaches the developer's terminal, under the line of the
 * request that logged it. Each request runs in its own async scope, so a warning is filed with the
 * request that caused it even when requests overlap; a line logged outside any request (start-up,
 * a background job) goes straight to the sink.
 *
 * Fields are redacted before anyone sees them, as the deployed functions' logs are: phone numbers
 * masked, and tokens, codes, bearer headers and anything shaped like a secret replaced.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { maskPhone } from '../core/phone.js';
import type { Log } from '../core/ports.js';
import { Redactor } from '../../smoke/redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface SandboxLogEntry {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
  /** ISO 8601. */
  readonly time: string;
}

const phoneLike = /\+[1-9]\d{6,14}(?!\d)/g;
const redactor = new Redactor();

/**
 * A copy of `fields` safe to print: phones masked, secrets replaced. Never throws: a log call must not
 * turn a request into a 500, so fields that cannot be copied (a cycle, a bigint) are replaced by why.
 */
export function redactFields(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  try {
    const copy = JSON.parse(
      JSON.stringify(fields, (_key, value: unknown) => {
        if (value instanceof Error) return describeError(value);
        return typeof value === 'string' ? value.replace(phoneLike, (phone) => maskPhone(phone)) : value;
      }) ?? '{}',
    ) as Record<string, unknown>;
    return redactor.value(copy);
  } catch (error) {
    return { unloggable: `these fields could not be logged: ${(error as Error).message}` };
  }
}

function describeError(error: Error): Record<string, unknown> {
  return { name: error.name, message: error.message, stack: error.stack, ...(error.cause !== undefined && { cause: error.cause }) };
}

export class RequestScopedLog implements Log {
  private readonly scope = new AsyncLocalStorage<SandboxLogEntry[]>();

  /** `outside` receives what is logged outside any request. */
  constructor(private readonly outside: (entry: SandboxLogEntry) => void = () => {}) {}

  /** Runs `work` as one request; everything it logs lands in the returned list, in order. */
  collect<T>(work: () => Promise<T>): { readonly logs: SandboxLogEntry[]; readonly done: Promise<T> } {
    const logs: SandboxLogEntry[] = [];
    return { logs, done: this.scope.run(logs, work) };
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.record('debug', message, fields);
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.record('info', message, fields);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.record('warn', message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.record('error', message, fields);
  }

  /**
   * A recorder bound to the request running now (or to `outside`), for lines that arrive later from
   * elsewhere, such as a function's worker thread, outside this request's async scope.
   */
  recorder(): (level: LogLevel, message: string, fields?: Record<string, unknown>) => void {
    const logs = this.scope.getStore();
    return (level, message, fields = {}) => {
      const entry: SandboxLogEntry = { level, message, fields: redactFields(fields), time: new Date().toISOString() };
      if (logs) logs.push(entry);
      else this.outside(entry);
    };
  }

  private record(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    this.recorder()(level, message, fields);
  }
}
