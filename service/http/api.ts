/**
 * The HTTP edge shared by every Lambda and the sandbox: turns an API Gateway HTTP API (payload 2.0)
 * event into a request, runs a route, and turns whatever it returns or throws into a response.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { BadRequestError, ServiceError, UnauthorizedError } from '../core/errors.js';
import type { Log, Metrics } from '../core/ports.js';
import type { AccessTokens } from '../core/access-tokens.js';
import type { RouteDefinition } from '../manifest.js';
import { sourceOf } from './source.js';

export const maxBodyBytes = 16 * 1024;

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The source its per-address limits count against: the address, or an IPv6 address's /64 (`sourceOf`). */
  readonly sourceIp: string;
  readonly requestId: string;
  /** The parsed JSON body, for routes that take one. */
  readonly body: unknown;
  /** The access token's subject, on routes that need a bearer token. */
  readonly userId: string;
  /** The access token's revocation epoch (0 without the claim), on routes that need a bearer token: checked against the account's. */
  readonly tokenEpoch: number;
}

export interface ApiResponse {
  readonly statusCode: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type RouteHandler<S> = (request: ApiRequest, services: S) => Promise<ApiResponse>;

export interface EdgeServices {
  readonly accessTokens?: AccessTokens;
  readonly log: Log;
  readonly metrics: Metrics;
}

export type LambdaHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

const jsonContentType = /^application\/json\s*(;|$)/i;
// RFC 7235: the scheme is case-insensitive.
const bearer = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i;

const baseHeaders = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/**
 * Wraps a route into a Lambda handler. `services` is called per invocation and is expected to
 * memoize: the Lambda entry builds its clients once, the sandbox hands over its own.
 * `observe` runs after each invocation (the Lambda flushes its metrics there).
 */
export function lambdaHandler<S extends EdgeServices>(
  route: RouteDefinition,
  handle: RouteHandler<S>,
  services: () => Promise<S>,
  fallbackLog: Log,
  observe?: () => void,
): LambdaHandler {
  return async (event) => {
    let log = fallbackLog;
    let metrics: Metrics | undefined;
    try {
      const resolved = await services();
      log = resolved.log;
      metrics = resolved.metrics;
      const request = await readRequest(route, event, resolved);
      return toResult(await handle(request, resolved));
    } catch (error) {
      return toResult(errorResponse(error, log, metrics, event));
    } finally {
      observe?.();
    }
  };
}

async function readRequest(
  route: RouteDefinition,
  event: APIGatewayProxyEventV2,
  services: EdgeServices,
): Promise<ApiRequest> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > maxBodyBytes) {
    throw new ServiceError(413, 'payload_too_large', `The body must be at most ${maxBodyBytes} bytes.`);
  }
  const body = route.body ? parseJsonBody(bytes, headers['content-type']) : undefined;
  const { userId, epoch } = route.auth
    ? await authenticate(headers.authorization, services)
    : { userId: '', epoch: 0 };
  return {
    method: event.requestContext.http.method,
    path: event.rawPath,
    headers,
    sourceIp: sourceOf(event.requestContext.http.sourceIp),
    requestId: event.requestContext.requestId,
    body,
    userId,
    tokenEpoch: epoch,
  };
}

function parseJsonBody(bytes: Buffer, contentType: string | undefined): unknown {
  if (bytes.length === 0) throw new BadRequestError('A JSON body is required.');
  if (!contentType || !jsonContentType.test(contentType)) {
    throw new ServiceError(415, 'unsupported_media_type', 'Send the body as application/json.');
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new BadRequestError('The body is not valid JSON.');
  }
}

async function authenticate(
  header: string | undefined,
  services: EdgeServices,
): Promise<{ userId: string; epoch: number }> {
  const token = header && bearer.exec(header)?.[1];
  if (!token || !services.accessTokens) throw new UnauthorizedError();
  return services.accessTokens.verifyClaims(token);
}

/** Maps any thrown value to a response; only `ServiceError`s speak, everything else is a bare 500. */
export function errorResponse(
  error: unknown,
  log: Log,
  metrics: Metrics | undefined,
  event?: APIGatewayProxyEventV2,
): ApiResponse {
  if (error instanceof ServiceError) {
    if (error.statusCode >= 500) {
      metrics?.count('Errors');
      log.error('upstream failure', { code: error.code, cause: describe(error.cause) });
    }
    return { statusCode: error.statusCode, body: error.toJSON(), headers: error.headers };
  }
  metrics?.count('Errors');
  log.error('unhandled error', {
    error: describe(error),
    route: event?.routeKey,
    requestId: event?.requestContext?.requestId,
  });
  return {
    statusCode: 500,
    body: { error: { code: 'internal_error', message: 'Something went wrong on our side. Try again later.' } },
  };
}

/** An error as a log field, with its chain of causes (a few deep), so the log says why and not only what. */
function describe(error: unknown, depth = 0): Record<string, unknown> | undefined {
  if (error === undefined) return undefined;
  if (!(error instanceof Error)) return { value: String(error) };
  const cause = depth < 3 && error.cause !== undefined ? describe(error.cause, depth + 1) : undefined;
  return { name: error.name, message: error.message, stack: error.stack, ...(cause && { cause }) };
}

function toResult(response: ApiResponse): APIGatewayProxyStructuredResultV2 {
  const headers = { ...baseHeaders, ...response.headers };
  if (response.body === undefined) {
    const { 'content-type': _omitted, ...rest } = headers;
    return { statusCode: response.statusCode, headers: rest, body: '', isBase64Encoded: false };
  }
  return {
    statusCode: response.statusCode,
    headers,
    body: JSON.stringify(response.body),
    isBase64Encoded: false,
  };
}
