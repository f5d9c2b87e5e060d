/**
 * Builds API Gateway HTTP API events (payload format 2.0) the way API Gateway does: lower-cased
 * header names with repeated values comma-joined, cookies split out, the raw query string kept,
 * `requestContext.http` filled in, and bodies base64-encoded unless they are text.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

export interface HttpRequestDescription {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly rawQueryString?: string;
  /** Header name to value(s); names in any case. */
  readonly headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body?: Buffer | string;
  readonly sourceIp: string;
  /** The matched route, `"<METHOD> <path>"`; `$default` when none matched. */
  readonly routeKey: string;
  readonly time?: Date;
}

const textContentType = /^(text\/|application\/(json|[\w.+-]+\+json|xml|[\w.+-]+\+xml|x-www-form-urlencoded|javascript))/i;

function isTextual(contentType: string | undefined, body: Buffer): boolean {
  if (contentType && !textContentType.test(contentType)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(body);
    return true;
  } catch {
    return false;
  }
}

function clfDate(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

export function apiGatewayEvent(request: HttpRequestDescription): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    const values = typeof value === 'string' ? [value] : [...value];
    if (lower === 'cookie') {
      cookies = values.flatMap((line) => line.split(';')).map((cookie) => cookie.trim()).filter(Boolean);
      continue;
    }
    headers[lower] = headers[lower] ? [headers[lower], ...values].join(',') : values.join(',');
  }

  const rawQueryString = request.rawQueryString ?? '';
  const query: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(rawQueryString)) {
    query[key] = query[key] === undefined ? value : `${query[key]},${value}`;
  }

  const time = request.time ?? new Date();
  const host = headers.host ?? '127.0.0.1';
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: request.routeKey,
    rawPath: request.path,
    rawQueryString,
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'sandbox',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: request.method.toUpperCase(),
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: request.routeKey,
      stage: '$default',
      time: clfDate(time),
      timeEpoch: time.getTime(),
    },
    isBase64Encoded: false,
  };
  if (cookies) event.cookies = cookies;
  if (Object.keys(query).length > 0) event.queryStringParameters = query;

  const body = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body;
  if (body && body.length > 0) {
    if (isTextual(headers['content-type'], body)) {
      event.body = body.toString('utf8');
    } else {
      event.body = body.toString('base64');
      event.isBase64Encoded = true;
    }
  }
  return event;
}
