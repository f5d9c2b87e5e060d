import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { crc32 } from 'node:zlib';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { bucketUrl, objectLocation, s3SigningRegion, uriEscape, type S3EndpointSettings } from './s3-endpoints.js';
import { NodeSha256 } from './url-signer.js';

/**
 * S3's REST API for one bucket over node:http(s), SigV4-signed with `@smithy/signature-v4` alone: the
 * requests the S3 client would send for the few object calls the avatar routes make, without the
 * S3 client in their bundles. Requests go where the S3 client of the same environment would send
 * them (`bucketUrl`'s rules), signed for the region it signs for. Every attempt has a timeout, and
 * what the S3 client's standard retry mode retries (throttling, 5xx, a dropped connection, a
 * timeout) is retried here too, up to the same 3 attempts, with full-jitter backoff.
 *
 * node:https rather than fetch: the functions load it anyway (the DynamoDB client's handler), where
 * fetch's first call in a fresh process loads and compiles undici, tens of milliseconds of a cold
 * start moved from init to the first request.
 */

export interface BucketRequestsOptions extends S3EndpointSettings {
  readonly bucket: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Time for one attempt, from sending to the last byte of the answer. */
  readonly timeoutMs?: number;
  /** Attempts per call, the first included (the S3 client's default is 3). */
  readonly maxAttempts?: number;
  /** The wait before retry `n` (1, 2, …); the default is the S3 client's: full jitter, 100 ms base. */
  readonly retryDelayMs?: (retry: number) => number;
  /** What puts a request on the wire; node:http(s) unless a test gives another. */
  readonly transport?: Transport;
  readonly now?: () => Date;
}

/** One signed request, ready for the wire: `url` as written (path escaped, query in order), every header to send. */
export interface WireRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
}

/** Sends a request; resolves with any answer S3 gave, rejects when none came (refused, dropped, timed out). */
export type Transport = (request: WireRequest) => Promise<BucketAnswer>;

export interface BucketRequest {
  /** The S3 operation, for errors and logs: `HeadObject`, `ListObjectsV2`, … */
  readonly operation: string;
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** The object's key; absent for a request on the bucket itself. */
  readonly key?: string;
  readonly query?: Readonly<Record<string, string>>;
  /** An XML body: sent with a CRC32 checksum, which S3 requires of PutObjectTagging and DeleteObjects. */
  readonly xml?: string;
}

export interface BucketAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
}

/** No answer within the attempt's time. */
class AttemptTimeout extends Error {}

/** node:http(s) with the global agents (keep-alive since Node 19), the attempt's time covering the whole answer. */
export const nodeTransport: Transport = (wire) =>
  new Promise((resolve, reject) => {
    const url = new URL(wire.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || undefined,
      // As written, not as URL normalises it: a key may hold `..` or `.` segments, which S3 keeps.
      path: wire.url.slice(wire.url.indexOf('/', url.protocol.length + 2)),
      method: wire.method,
      // The Host header as signed: node would write the same, but this leaves no doubt.
      headers: { ...wire.headers, ...(wire.body !== undefined && { 'content-length': String(Buffer.byteLength(wire.body)) }) },
    });
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    // Settled first, so the error the destroyed request then emits does not replace it.
    const timer = setTimeout(() => {
      const error = new AttemptTimeout();
      fail(error);
      request.destroy(error);
    }, wire.timeoutMs);
    request.once('error', fail);
    request.once('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', fail);
      response.once('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, headers: flatHeaders(response.headers), body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.end(wire.body);
  });

const flatHeaders = (headers: IncomingHttpHeaders): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]));

/** An answer of S3 other than success, or a call that got no answer; `code` is S3's error code where it gave one. */
export class S3RequestError extends Error {
  constructor(
    readonly operation: string,
    readonly code: string,
    /** 0 when no answer came (connection refused or dropped, timeout). */
    readonly statusCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`S3 ${operation} failed: ${message}`, options);
    this.name = 'S3RequestError';
  }
}

/** S3 codes the S3 client's standard retry mode treats as throttling or transient, whatever their status. */
const retryableCodes = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'ProvisionedThroughputExceededException',
  'TransactionInProgressException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
]);

const isRetryable = (error: S3RequestError) =>
  error.statusCode === 0 || error.statusCode === 429 || error.statusCode >= 500 || retryableCodes.has(error.code);

/** The code and message of an S3 error document (`<Error><Code>…</Code><Message>…</Message>`). */
function errorDocument(body: string): { code: string; message: string } | undefined {
  if (!/^\s*(<\?xml[^>]*\?>\s*)?<Error>/.test(body)) return undefined;
  return {
    code: unescapeXml(/<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? ''),
    message: unescapeXml(/<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? ''),
  };
}

/** The code S3 would name for an answer with no error document (a HEAD's, or a proxy's), by status. */
const codeOfStatus = (status: number) =>
  ({ 301: 'PermanentRedirect', 307: 'TemporaryRedirect', 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable' })[
    status
  ] ?? `Http${status}`;

export const escapeXml = (text: string) =>
  text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

export const unescapeXml = (text: string) =>
  text.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#\d+);/g, (_, name: string) =>
    name.startsWith('#x')
      ? String.fromCodePoint(Number.parseInt(name.slice(2), 16))
      : name.startsWith('#')
        ? String.fromCodePoint(Number(name.slice(1)))
        : { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[name]!,
  );

/** A CRC32 of the body, base64 of its four bytes big-endian, as the S3 client writes `x-amz-checksum-crc32`. */
function crc32Base64(text: string): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(crc32(text) >>> 0);
  return bytes.toString('base64');
}

export class BucketRequests {
  /** The bucket's URL, worked out when this is made, so a setting S3 refuses fails at start. */
  private readonly bucketUrl: string;
  private readonly signer: SignatureV4;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: (retry: number) => number;
  private readonly transport: Transport;

  constructor(private readonly options: BucketRequestsOptions) {
    this.bucketUrl = bucketUrl(options.bucket, options.region, options);
    this.signer = new SignatureV4({
      service: 's3',
      // The region the S3 client signs for: a FIPS region name read as its region, aws-global as us-east-1.
      region: s3SigningRegion(options.region),
      credentials: options.credentials,
      sha256: NodeSha256,
      // The path is escaped already, segment by segment, as S3 wants it signed.
      uriEscapePath: false,
      applyChecksum: true,
    });
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.retryDelayMs = options.retryDelayMs ?? ((retry) => Math.random() * Math.min(20_000, 100 * 2 ** retry));
    this.transport = options.transport ?? nodeTransport;
  }

  /** Sends the request, retrying what S3 says may succeed later; resolves with a 2xx answer, or throws S3RequestError. */
  async send(request: BucketRequest): Promise<BucketAnswer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(request);
      } catch (error) {
        if (!(error instanceof S3RequestError) || !isRetryable(error) || attempt >= this.maxAttempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs(attempt)));
      }
    }
  }

  private async attempt(request: BucketRequest): Promise<BucketAnswer> {
    const { protocol, hostname, port, path } = objectLocation(this.bucketUrl, request.key ?? '');
    // The Host header as it goes on the wire: the port only when the URL names one.
    const host = port === undefined ? hostname : `${hostname}:${port}`;
    const headers: Record<string, string> = { host };
    if (request.xml !== undefined) {
      headers['content-type'] = 'application/xml';
      headers['x-amz-sdk-checksum-algorithm'] = 'CRC32';
      headers['x-amz-checksum-crc32'] = crc32Base64(request.xml);
    }
    const query = request.query ?? {};
    const signed = await this.signer.sign(
      { method: request.method, protocol, hostname, port, path, query: { ...query }, headers, ...(request.xml !== undefined && { body: request.xml }) },
      this.options.now ? { signingDate: this.options.now() } : {},
    );
    const search = Object.entries(query)
      .map(([name, value]) => (value === '' ? uriEscape(name) : `${uriEscape(name)}=${uriEscape(value)}`))
      .join('&');
    let answer: BucketAnswer;
    try {
      answer = await this.transport({
        method: request.method,
        url: `${protocol}//${host}${path}${search ? `?${search}` : ''}`,
        headers: signed.headers,
        ...(request.xml !== undefined && { body: request.xml }),
        timeoutMs: this.timeoutMs,
      });
    } catch (cause) {
      const timedOut = cause instanceof AttemptTimeout;
      throw new S3RequestError(
        request.operation,
        timedOut ? 'TimeoutError' : 'NetworkingError',
        0,
        timedOut ? `no answer within ${this.timeoutMs} ms` : `no answer (${(cause as Error).message})`,
        { cause },
      );
    }
    const document = errorDocument(answer.body);
    if (answer.status >= 200 && answer.status < 300 && !document) return answer;
    // S3 may answer 200 with an error document when it fails a request after it began answering.
    const code = document?.code || codeOfStatus(answer.status);
    const requestId = answer.headers['x-amz-request-id'];
    throw new S3RequestError(
      request.operation,
      code,
      answer.status,
      `${answer.status} ${code}${document?.message ? `: ${document.message}` : ''}${requestId ? ` (request ${requestId})` : ''}`,
    );
  }
}
