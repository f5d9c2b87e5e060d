/**
 * The last requests the sandbox's API answered, for the console's Requests panel: what the handler
 * received (the payload-2.0 event) and what it answered. Kept as they came, redacted when shown, so
 * the hot path only stores two references.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Redactor } from '../../smoke/redact.js';
import type { SandboxLogEntry } from './request-log.js';

export interface RecordedRequest {
  readonly id: number;
  /** ISO 8601. */
  readonly at: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly ms: number;
  readonly event?: APIGatewayProxyEventV2;
  readonly result?: APIGatewayProxyStructuredResultV2;
  readonly logs: readonly SandboxLogEntry[];
}

/** Headers whose value is a credential: by name, and any name that says token, secret, key, signature or auth. */
const hiddenHeaders = new Set(['cookie', 'set-cookie']);
const hiddenHeaderWords = /token|secret|key|signature|auth/i;
const hidden = (name: string) => hiddenHeaders.has(name.toLowerCase()) || hiddenHeaderWords.test(name);
const redactor = new Redactor();

export class RequestHistory {
  private readonly entries: RecordedRequest[] = [];
  private nextId = 1;

  constructor(private readonly kept = 200) {}

  add(entry: Omit<RecordedRequest, 'id'>): RecordedRequest {
    const recorded = { ...entry, id: this.nextId++ };
    this.entries.push(recorded);
    if (this.entries.length > this.kept) this.entries.shift();
    return recorded;
  }

  /** Newest first, without payloads. */
  list(): { id: number; at: string; method: string; path: string; status: number; ms: number; warnings: number }[] {
    return this.entries
      .map(({ id, at, method, path, status, ms, logs }) => ({
        id,
        at,
        method,
        path,
        status,
        ms: Math.round(ms * 10) / 10,
        warnings: logs.filter((entry) => entry.level === 'warn' || entry.level === 'error').length,
      }))
      .reverse();
  }

  /** One request with its event and response, `authorization` and tokens redacted. */
  detail(id: number): Record<string, unknown> | undefined {
    const entry = this.entries.find((candidate) => candidate.id === id);
    if (!entry) return undefined;
    const event = entry.event && {
      ...entry.event,
      headers: Object.fromEntries(
        Object.entries(entry.event.headers ?? {}).map(([name, value]) => [name, hidden(name) ? '[redacted]' : value]),
      ),
      ...(entry.event.cookies && { cookies: entry.event.cookies.map(() => '[redacted]') }),
    };
    const result = entry.result && { ...entry.result, body: parseBody(entry.result.body) };
    return redactor.value({
      ...entry,
      event: event && { ...event, body: event.isBase64Encoded ? event.body : parseBody(event.body) },
      response: result,
      result: undefined,
    });
  }
}

/** A JSON body as JSON (so the page can show it tidily), anything else as it is. */
function parseBody(body: string | undefined): unknown {
  if (body === undefined || body === '') return body;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}
