/**
 * An S3 front for the sandbox: a proxy on 127.0.0.1 in front of s3rver that refuses what S3 refuses
 * and s3rver lets through.
 *
 * - Grants. Each route's S3 client carries a session token naming its route (as a Lambda's role
 *   session names its role); the front allows only what that route's manifest grants, under
 *   `avatar/`. Without `s3:ListBucket`, S3 answers a read of a missing key with 403, not 404: so
 *   does the front. A signed request with no route token is the bucket owner; an unsigned one
 *   (not presigned, not a POST form) is refused, as S3 refuses anonymous requests to this bucket.
 * - Presigned GETs: the SigV4 query signature and `X-Amz-Expires`, against the sandbox clock.
 * - Presigned POSTs: the policy's signature and expiration, every condition (exact key, bucket,
 *   Content-Type, `tagging`, `content-length-range`), and no form field the policy does not cover.
 * - Object tags. s3rver stores tags set with PutObjectTagging but ignores a POST's `tagging` field;
 *   the front applies that field's tag set after the upload (as S3 stores it with the object), and
 *   a POST with tags needs the route's s3:PutObjectTagging grant, as in S3. Reading or deleting
 *   tags is refused to every route (none is granted s3:GetObjectTagging or s3:DeleteObjectTagging).
 *   Lifecycle rules are not emulated: the template test holds the rule, the tags show what it
 *   would expire.
 *
 * Refusals carry S3's own XML error codes. s3rver still stores and serves what passes.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import type { Clock } from '../core/ports.js';
import { avatarBucket, routes, type BucketAccess, type RouteId } from '../manifest.js';
import { announceCall, type OnFrontCall } from './fronts/front-call.js';
import { startLoopbackServer } from './fronts/loopback.js';
import { amzDate, canonicalHeaders, checkHeaderSignature, escape, headerValue, hmac, sameSignature, sha256Hex, signingKey } from './sigv4.js';

/** The session token a route's sandbox credentials carry; the front reads the route from it. */
export const sandboxSessionToken = (routeId: RouteId) => `chatshyld-sandbox-route/${routeId}`;
const routeOfToken = (token: string | undefined): RouteId | undefined => {
  const id = token?.startsWith('chatshyld-sandbox-route/') ? token.slice('chatshyld-sandbox-route/'.length) : undefined;
  return routes.find((route) => route.id === id)?.id;
};

export interface S3FrontOptions {
  /** s3rver's endpoint. */
  readonly target: string;
  /** Access key id → secret, for verifying presigned requests. */
  readonly secrets: Readonly<Record<string, string>>;
  readonly clock: Clock;
  /** The largest request body the front reads (a POST upload with its form). */
  readonly maxBodyBytes?: number;
  /**
   * Told of every request about to be forwarded. `routeId` is set for a function's own (header-signed)
   * calls only: a presigned GET or POST is sent by whoever holds the URL, not by the function.
   */
  readonly onCall?: OnFrontCall;
}

export interface S3Front {
  readonly endpoint: string;
  close(): Promise<void>;
}

class S3Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const accessDenied = (message = 'Access Denied') => new S3Refusal(403, 'AccessDenied', message);
const signatureMismatch = () =>
  new S3Refusal(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');

export async function startS3Front(options: S3FrontOptions): Promise<S3Front> {
  const maxBodyBytes = options.maxBodyBytes ?? avatarBucket.maxBytes * 2 + 64 * 1024;
  // 127.0.0.1 only, and never for a web page: see fronts/loopback.ts.
  const server = await startLoopbackServer(
    (request, response) =>
      handle(request, response, options, maxBodyBytes).catch((error: unknown) => {
        if (error instanceof S3Refusal) return writeError(response, error, request.method === 'HEAD');
        if (!response.headersSent) writeError(response, new S3Refusal(500, 'InternalError', String(error)), request.method === 'HEAD');
        else response.destroy();
      }),
    (response, request, reason) => writeError(response, accessDenied(`Access Denied: ${reason}`), request.method === 'HEAD'),
  );
  return { endpoint: server.endpoint, close: () => server.close() };
}

async function handle(request: IncomingMessage, response: ServerResponse, options: S3FrontOptions, maxBodyBytes: number): Promise<void> {
  const method = request.method ?? 'GET';
  const [rawPath = '/', rawQuery = ''] = (request.url ?? '/').split(/\?(.*)/s);
  const query = new URLSearchParams(rawQuery);
  const [, , ...keyParts] = rawPath.split('/');
  const key = keyParts.map((part) => decodeURIComponent(part)).join('/');
  const body = await readBody(request, maxBodyBytes);

  let principal: RouteId | undefined;
  let action: BucketAccess | undefined;
  let uploadTagging: string | undefined;
  let uploadKey: string | undefined;
  if (query.has('X-Amz-Signature')) {
    verifyPresignedQuery(method, rawPath, query, request, options);
    principal = routeOfToken(query.get('X-Amz-Security-Token') ?? undefined);
  } else if (method === 'POST' && !key && /^multipart\/form-data/i.test(request.headers['content-type'] ?? '')) {
    const form = await verifyPostPolicy(body, request.headers['content-type']!, rawPath.split('/')[1] ?? '', options);
    principal = routeOfToken(form.get('x-amz-security-token'));
    action = 'put';
    const formKey = form.get('key') ?? '';
    authorize(principal, action, formKey);
    uploadTagging = form.get('tagging');
    if (uploadTagging !== undefined) {
      // S3 authorizes the tags of an upload as s3:PutObjectTagging, besides s3:PutObject.
      authorize(principal, 'tag', formKey);
      if (!wellFormedTagging.test(uploadTagging)) {
        throw new S3Refusal(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
      }
    }
    uploadKey = formKey;
  } else {
    // S3 serves nothing anonymously from a bucket that blocks public access: every other request
    // is SigV4 header-signed with a key we know, or refused.
    verifyHeaderSignature(method, rawPath, query, request, options);
    principal = routeOfToken(headerValue(request, 'x-amz-security-token'));
  }

  if (!action) {
    // No route is granted s3:GetObjectTagging or s3:DeleteObjectTagging.
    if (principal && key && query.has('tagging') && method !== 'PUT') throw accessDenied();
    action = actionOf(method, key, query);
    if (action === 'list') {
      if (principal && !(query.get('prefix') ?? '').startsWith(avatarBucket.keyPrefix)) throw accessDenied();
      authorize(principal, action, avatarBucket.keyPrefix);
    } else if (action && !key) {
      // DeleteObjects: S3 checks s3:DeleteObject on each key it names.
      for (const [, named] of body.toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)) authorize(principal, action, unescapeXml(named!));
    } else if (action) {
      authorize(principal, action, key);
    }
  }
  const signedByFunction = !query.has('X-Amz-Signature') && uploadKey === undefined;
  await announceCall(
    options.onCall,
    { service: 's3', ...(signedByFunction && principal && { routeId: principal }), action: operationOf(method, key, query, uploadKey !== undefined) },
    response,
  );
  const upstream = await forward(options.target, request, method, body);
  if (uploadKey !== undefined && upstream.status < 300) {
    // S3 stores a POST's tags with its object (and a new object has only the tags it came with).
    const bucket = rawPath.split('/')[1] ?? '';
    await putTagging(options.target, bucket, uploadKey, uploadTagging ?? '<Tagging><TagSet></TagSet></Tagging>');
  }
  const grants = principal ? grantsOf(principal) : undefined;
  // Without s3:ListBucket, S3 will not say whether a key exists: a missing key is 403 too.
  if (upstream.status === 404 && key && (method === 'GET' || method === 'HEAD') && grants && !grants.includes('list')) {
    upstream.message.resume();
    throw accessDenied();
  }
  response.writeHead(upstream.status, upstream.message.headers);
  upstream.message.pipe(response);
}

/** The S3 API operation a request is, as the front reports it. */
function operationOf(method: string, key: string, query: URLSearchParams, postUpload: boolean): string {
  if (postUpload) return 'PostObject';
  if (!key) {
    if (method === 'POST' && query.has('delete')) return 'DeleteObjects';
    if (method === 'GET') return query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    return `${method} bucket`;
  }
  const tagging = query.has('tagging') ? 'Tagging' : '';
  if (method === 'GET') return `GetObject${tagging}`;
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'PUT') return `PutObject${tagging}`;
  if (method === 'DELETE') return `DeleteObject${tagging}`;
  return `${method} object`;
}

function grantsOf(route: RouteId): readonly BucketAccess[] {
  return routes.find((candidate) => candidate.id === route)?.access.bucket ?? [];
}

function authorize(principal: RouteId | undefined, action: BucketAccess, key: string): void {
  if (!principal) return;
  if (!grantsOf(principal).includes(action) || !key.startsWith(avatarBucket.keyPrefix)) throw accessDenied();
}

/** The manifest's bucket access a request needs, or undefined for bucket-level calls we do not police. */
function actionOf(method: string, key: string, query: URLSearchParams): BucketAccess | undefined {
  if (!key) {
    if (method === 'GET' && (query.get('list-type') === '2' || query.has('prefix'))) return 'list';
    if (method === 'POST' && query.has('delete')) return 'delete';
    return undefined;
  }
  if (method === 'PUT' && query.has('tagging')) return 'tag';
  if (method === 'GET' || method === 'HEAD') return 'read';
  if (method === 'PUT' || method === 'POST') return 'put';
  if (method === 'DELETE') return 'delete';
  return undefined;
}

async function readBody(request: IncomingMessage, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) throw new S3Refusal(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function forward(target: string, request: IncomingMessage, method: string, body: Buffer): Promise<{ status: number; message: IncomingMessage }> {
  const url = new URL(request.url ?? '/', target);
  return new Promise((resolve, reject) => {
    const upstream = httpRequest(
      url,
      { method, headers: { ...request.headers, host: url.host, 'content-length': String(body.length) } },
      (message) => resolve({ status: message.statusCode ?? 502, message }),
    );
    upstream.once('error', reject);
    upstream.end(body);
  });
}

/** A Tagging document as S3 reads it: tags of a key and a value, nothing else. */
const wellFormedTagging = /^\s*(<\?xml[^>]*\?>\s*)?<Tagging( xmlns="[^"]*")?>\s*<TagSet>\s*(<Tag>\s*<Key>[^<]+<\/Key>\s*<Value>[^<]*<\/Value>\s*<\/Tag>\s*)*<\/TagSet>\s*<\/Tagging>\s*$/;

/** Sets an object's tag set in s3rver, as the bucket owner. */
async function putTagging(target: string, bucket: string, key: string, tagging: string): Promise<void> {
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}?tagging`;
  const answer = await fetch(new URL(path, target), { method: 'PUT', body: tagging, headers: { 'content-type': 'application/xml' } });
  if (!answer.ok) throw new Error(`s3rver refused the tags of ${key}: ${answer.status} ${await answer.text()}`);
}

function writeError(response: ServerResponse, refusal: S3Refusal, head: boolean): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${escapeXml(refusal.message)}</Message><RequestId>sandbox</RequestId></Error>`;
  response.writeHead(refusal.status, { 'content-type': 'application/xml' });
  response.end(head ? undefined : xml);
}

const unescapeXml = (text: string) =>
  text.replace(/&(lt|gt|amp|quot|apos|#\d+);/g, (entity, name: string) =>
    ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[name] ?? String.fromCharCode(Number(name.slice(1))),
  );
const escapeXml = (text: string) => text.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);

/** A presigned (query-string) SigV4 request: in date, and signed with a key we know. */
function verifyPresignedQuery(method: string, rawPath: string, query: URLSearchParams, request: IncomingMessage, options: S3FrontOptions): void {
  const credential = query.get('X-Amz-Credential') ?? '';
  const [accessKeyId = '', ...scopeParts] = credential.split('/');
  const scope = scopeParts.join('/');
  const signedAt = amzDate(query.get('X-Amz-Date'));
  const expires = Number(query.get('X-Amz-Expires'));
  if (query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || Number.isNaN(signedAt) || !Number.isInteger(expires) || scopeParts.length !== 4) {
    throw new S3Refusal(400, 'AuthorizationQueryParametersError', 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.');
  }
  if (options.clock.now() > signedAt + expires * 1000) throw accessDenied('Request has expired');
  const secret = options.secrets[accessKeyId];
  if (secret === undefined) {
    throw new S3Refusal(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  }
  const signedHeaders = (query.get('X-Amz-SignedHeaders') ?? '').split(';');
  const canonicalQuery = [...query]
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => `${escape(name)}=${escape(value)}`)
    .sort()
    .join('&');
  const canonicalRequest = [method, rawPath, canonicalQuery, canonicalHeaders(request, signedHeaders), signedHeaders.join(';'), 'UNSIGNED-PAYLOAD'].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', query.get('X-Amz-Date'), scope, sha256Hex(canonicalRequest)].join('\n');
  const expected = hmac(signingKey(secret, scope), stringToSign).toString('hex');
  if (!sameSignature(expected, query.get('X-Amz-Signature') ?? '')) throw signatureMismatch();
}

/** A header-signed SigV4 request (the SDK's own calls): signed with a key we know, and in date. */
function verifyHeaderSignature(method: string, rawPath: string, query: URLSearchParams, request: IncomingMessage, options: S3FrontOptions): void {
  const check = checkHeaderSignature({
    request,
    method,
    rawPath,
    query,
    payloadHash: headerValue(request, 'x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD',
    secrets: options.secrets,
    // S3 refuses a request signed more than 15 minutes away from its own clock. The SDK signs with the
    // machine's clock, so that is the one to compare with (tests move the sandbox clock on purpose).
    now: Date.now(),
  });
  if (check.ok) return;
  switch (check.reason) {
    case 'missing':
      throw accessDenied();
    case 'malformed':
      throw new S3Refusal(400, 'InvalidArgument', 'Unsupported Authorization Type');
    case 'unknown-key':
      throw new S3Refusal(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    case 'skewed':
      throw new S3Refusal(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
    case 'mismatch':
      throw signatureMismatch();
  }
}

type PolicyCondition = Record<string, string> | [string, string | number, string | number];

/** A presigned POST: its policy signed with a key we know, unexpired, and every condition met. */
async function verifyPostPolicy(body: Buffer, contentType: string, bucket: string, options: S3FrontOptions): Promise<Map<string, string>> {
  let parsed: FormData;
  try {
    parsed = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw new S3Refusal(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.');
  }
  // S3 reads form field names case-insensitively.
  const fields = new Map<string, string>();
  let file: Blob | undefined;
  for (const [name, value] of parsed) {
    if (name.toLowerCase() === 'file') file = value as Blob;
    else fields.set(name.toLowerCase(), String(value));
  }
  if (!file) throw new S3Refusal(400, 'InvalidArgument', 'POST requires exactly one file upload per request.');
  const policyText = fields.get('policy');
  const credential = fields.get('x-amz-credential') ?? '';
  const [accessKeyId = '', ...scopeParts] = credential.split('/');
  if (!policyText || fields.get('x-amz-algorithm') !== 'AWS4-HMAC-SHA256' || scopeParts.length !== 4) {
    throw accessDenied('Invalid according to Policy: the policy and its signature fields are required');
  }
  const secret = options.secrets[accessKeyId];
  if (secret === undefined) throw new S3Refusal(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  const expected = hmac(signingKey(secret, scopeParts.join('/')), policyText).toString('hex');
  if (!sameSignature(expected, fields.get('x-amz-signature') ?? '')) throw signatureMismatch();

  const policy = JSON.parse(Buffer.from(policyText, 'base64').toString('utf8')) as { expiration: string; conditions: PolicyCondition[] };
  if (!(Date.parse(policy.expiration) > options.clock.now())) throw accessDenied('Invalid according to Policy: Policy expired.');

  const valueOf = (name: string) => (name === 'bucket' ? bucket : fields.get(name));
  const covered = new Set<string>();
  // S3 names a failed condition in its array form: ["eq", "$key", "…"].
  const failed = (condition: unknown[]) =>
    accessDenied(`Invalid according to Policy: Policy Condition failed: [${condition.map((part) => JSON.stringify(part)).join(', ')}]`);
  for (const condition of policy.conditions) {
    if (!Array.isArray(condition)) {
      for (const [name, value] of Object.entries(condition)) {
        covered.add(name.toLowerCase());
        if (valueOf(name.toLowerCase()) !== value) throw failed(['eq', `$${name}`, value]);
      }
      continue;
    }
    const [operator, subject, operand] = condition;
    if (operator === 'content-length-range') {
      if (file.size < Number(subject)) throw new S3Refusal(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size');
      if (file.size > Number(operand)) throw new S3Refusal(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
      continue;
    }
    const name = String(subject).replace(/^\$/, '').toLowerCase();
    covered.add(name);
    const value = valueOf(name) ?? '';
    if (operator === 'eq' && value !== operand) throw failed(condition);
    if (operator === 'starts-with' && !value.startsWith(String(operand))) throw failed(condition);
    if (operator !== 'eq' && operator !== 'starts-with') throw failed(condition);
  }
  const exempt = new Set(['policy', 'x-amz-signature', 'file']);
  const extra = [...fields.keys()].filter((name) => !covered.has(name) && !exempt.has(name) && !name.startsWith('x-ignore-'));
  if (extra.length > 0) throw accessDenied(`Invalid according to Policy: Extra input fields: ${extra.join(', ')}`);
  return fields;
}

/** An S3 client for one route of the sandbox: through the front, with that route's session token. */
export function routeS3Client(endpoint: string, routeId: RouteId, credentials: { accessKeyId: string; secretAccessKey: string }, region: string): S3Client {
  return new S3Client({
    region,
    endpoint,
    forcePathStyle: true,
    credentials: { ...credentials, sessionToken: sandboxSessionToken(routeId) },
  });
}
