/**
 * Checking AWS Signature Version 4 as AWS does, for the sandbox's fronts (S3, DynamoDB, SSM): the
 * primitives, and the whole check of a header-signed request. Each front turns a failed check into
 * its own service's error, in that service's words.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** RFC 3986 escaping, as SigV4 canonicalizes query strings. */
export const escape = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
export const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
export const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The SigV4 signing key of a credential scope `date/region/service/aws4_request`. */
export function signingKey(secret: string, scope: string): Buffer {
  const [date = '', region = '', service = ''] = scope.split('/');
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

export function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `20261127T235500Z` → epoch ms (NaN when it is not that shape). */
export function amzDate(value: string | null | undefined): number {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '');
  if (!match) return Number.NaN;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  return Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
}

export function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The canonical headers block of the signed headers, as the signer wrote it. */
export function canonicalHeaders(request: IncomingMessage, signedHeaders: readonly string[]): string {
  return signedHeaders.map((name) => `${name}:${(headerValue(request, name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
}

/** How long AWS accepts a header-signed request after (or before) its `X-Amz-Date`. */
export const maxSkewMs = 15 * 60 * 1000;

/** AWS's words for a request signed too long ago (as DynamoDB and SSM say it; S3 has its own). */
export function signatureExpiredMessage(signedAt: string, now: number): string {
  const amz = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return `Signature expired: ${signedAt} is now earlier than ${amz(now - maxSkewMs)} (${amz(now)} - 15 min.)`;
}

export type HeaderSignatureCheck =
  | { readonly ok: true; readonly accessKeyId: string; readonly scope: string; readonly region: string }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'unknown-key' | 'mismatch' }
  | { readonly ok: false; readonly reason: 'skewed'; readonly signedAt: string };

export interface HeaderSignatureInput {
  readonly request: IncomingMessage;
  readonly method: string;
  /** The path as it came on the wire: the canonical URI the SDK signed. */
  readonly rawPath: string;
  readonly query: URLSearchParams;
  /** Hex SHA-256 of the payload as signed: the body's hash, or S3's `x-amz-content-sha256`. */
  readonly payloadHash: string;
  /** Access key id → secret access key. */
  readonly secrets: Readonly<Record<string, string>>;
  /** Now, in epoch ms, on the clock the signer used. */
  readonly now: number;
}

/**
 * A header-signed SigV4 request (the SDK's own calls), checked in AWS's order: an Authorization
 * header at all, of the SigV4 shape, a key we know, signed within 15 minutes of now, and the
 * signature itself.
 */
export function checkHeaderSignature(input: HeaderSignatureInput): HeaderSignatureCheck {
  const { request } = input;
  const authorization = headerValue(request, 'authorization');
  if (!authorization) return { ok: false, reason: 'missing' };
  const parts = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/([^,\s]+), ?SignedHeaders=([^,\s]+), ?Signature=([0-9a-f]+)$/.exec(authorization.trim());
  if (!parts) return { ok: false, reason: 'malformed' };
  const [, accessKeyId = '', scope = '', signedHeaderList = '', signature = ''] = parts;
  const secret = input.secrets[accessKeyId];
  if (secret === undefined) return { ok: false, reason: 'unknown-key' };
  const date = headerValue(request, 'x-amz-date') ?? '';
  const signedAt = amzDate(date);
  if (Number.isNaN(signedAt) || Math.abs(input.now - signedAt) > maxSkewMs) return { ok: false, reason: 'skewed', signedAt: date };
  const canonicalQuery = [...input.query]
    .map(([name, value]) => `${escape(name)}=${escape(value)}`)
    .sort()
    .join('&');
  const signedHeaders = signedHeaderList.split(';');
  const canonicalRequest = [input.method, input.rawPath, canonicalQuery, canonicalHeaders(request, signedHeaders), signedHeaderList, input.payloadHash].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256Hex(canonicalRequest)].join('\n');
  if (!sameSignature(hmac(signingKey(secret, scope), stringToSign).toString('hex'), signature)) return { ok: false, reason: 'mismatch' };
  return { ok: true, accessKeyId, scope, region: scope.split('/')[1] ?? '' };
}

export interface SigningInput {
  readonly method: string;
  readonly url: URL;
  /** Lower-case names; every one is signed. `host` and `x-amz-date` are added. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  readonly region: string;
  readonly service: string;
  readonly now: number;
}

/** The headers of a SigV4 header-signed request (for the fronts' own calls upstream, and for tests). */
export function signedHeaders(input: SigningInput): Record<string, string> {
  const date = new Date(input.now).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const headers: Record<string, string> = {
    ...input.headers,
    host: input.url.host,
    'x-amz-date': date,
    ...(input.credentials.sessionToken !== undefined && { 'x-amz-security-token': input.credentials.sessionToken }),
  };
  const names = Object.keys(headers).sort();
  const canonicalQuery = [...input.url.searchParams]
    .map(([name, value]) => `${escape(name)}=${escape(value)}`)
    .sort()
    .join('&');
  const canonical = names.map((name) => `${name}:${headers[name]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const scope = `${date.slice(0, 8)}/${input.region}/${input.service}/aws4_request`;
  const canonicalRequest = [input.method, input.url.pathname, canonicalQuery, canonical, names.join(';'), sha256Hex(input.body)].join('\n');
  const signature = hmac(signingKey(input.credentials.secretAccessKey, scope), ['AWS4-HMAC-SHA256', date, scope, sha256Hex(canonicalRequest)].join('\n')).toString('hex');
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
  };
}
