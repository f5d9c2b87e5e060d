/**
 * How `chatshyld dev` prints what the handlers log: one line per entry, indented under the request
 * line, `key=value` for plain fields, and an error as its name and message, a few stack frames (all
 * with --verbose) and the errors that caused it.
 */
import type { SandboxLogEntry } from '../service/local/request-log.js';
import type { Paint } from '../smoke/reporters.js';

const indent = '       ';
const framesShown = 4;

interface ErrorField {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly stack?: unknown;
  readonly cause?: unknown;
}

function isErrorField(value: unknown): value is ErrorField {
  return typeof value === 'object' && value !== null && 'message' in value && ('name' in value || 'stack' in value);
}

export function shouldPrint(entry: SandboxLogEntry, verbose: boolean): boolean {
  return verbose || entry.level === 'warn' || entry.level === 'error';
}

export function formatLogEntry(entry: SandboxLogEntry, paint: Paint, verbose: boolean): string[] {
  const level = entry.level === 'error' ? paint.red('error') : entry.level === 'warn' ? paint.bold('warn ') : paint.dim(entry.level.padEnd(5));
  const plain: string[] = [];
  const errors: [string, ErrorField][] = [];
  for (const [key, value] of Object.entries(entry.fields)) {
    if (value === undefined) continue;
    if (isErrorField(value)) errors.push([key, value]);
    else plain.push(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  const lines = [`${indent}${level} ${entry.message}${plain.length ? ` ${paint.dim(plain.join(' '))}` : ''}`];
  for (const [key, error] of errors) lines.push(...formatError(key, error, paint, verbose));
  return lines;
}

function formatError(key: string, error: ErrorField, paint: Paint, verbose: boolean, depth = 0): string[] {
  const pad = `${indent}      ${'  '.repeat(depth)}`;
  const label = depth === 0 ? `${key}: ` : 'caused by: ';
  const lines = [`${pad}${label}${String(error.name ?? 'Error')}: ${String(error.message)}`];
  const frames = typeof error.stack === 'string' ? error.stack.split('\n').filter((line) => /^\s+at /.test(line)) : [];
  const shown = verbose ? frames : frames.slice(0, framesShown);
  for (const frame of shown) lines.push(paint.dim(`${pad}  ${frame.trim()}`));
  if (shown.length < frames.length) lines.push(paint.dim(`${pad}  … ${frames.length - shown.length} more (--verbose shows them)`));
  // A cause that only repeats its wrapper's message adds frames, not reasons: --verbose shows it.
  const cause = error.cause;
  if (isErrorField(cause) && depth < 3 && (verbose || !String(error.message).includes(String(cause.message)))) {
    lines.push(...formatError(key, cause, paint, verbose, depth + 1));
  }
  return lines;
}
