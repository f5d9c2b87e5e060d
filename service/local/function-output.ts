/**
 * What a function prints, read back as log entries: Powertools Logger writes one JSON object per
 * line (`level`, `message`, `timestamp`, its own keys, then the fields the code passed); metrics go
 * out as Embedded Metric Format objects, which are CloudWatch's business, not the developer's;
 * anything else (a stray `console.log`) is an info line of plain text.
 */
import type { LogLevel } from './request-log.js';

export interface FunctionLogLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/** Keys Powertools adds to every line, which say nothing about the request. */
const powertoolsKeys = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'sampling_rate',
  'xray_trace_id',
  'cold_start',
  'function_arn',
  'function_name',
  'function_memory_size',
  'function_request_id',
]);

const levels: Readonly<Record<string, LogLevel>> = {
  TRACE: 'debug',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
  CRITICAL: 'error',
};

export function functionLogLines(text: string): FunctionLogLine[] {
  const lines: FunctionLogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      lines.push({ level: 'info', message: line, fields: {} });
      continue;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      lines.push({ level: 'info', message: line, fields: {} });
      continue;
    }
    const record = parsed as Record<string, unknown>;
    if ('_aws' in record) continue;
    const level = typeof record.level === 'string' ? levels[record.level.toUpperCase()] : undefined;
    if (!level || typeof record.message !== 'string') {
      lines.push({ level: 'info', message: line, fields: {} });
      continue;
    }
    lines.push({ level, message: record.message, fields: Object.fromEntries(Object.entries(record).filter(([key]) => !powertoolsKeys.has(key))) });
  }
  return lines;
}
