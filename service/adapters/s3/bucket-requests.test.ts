import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BucketRequests, S3RequestError } from './bucket-requests.js';
import { SigV4AvatarStore } from './object-store.js';

/**
 * S3's failure answers, from a local server that answers as S3 does when it throttles, fails,
 * hangs or refuses (a model of those answers: the shapes are S3's documented error documents).
 */
interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}
type Answer = { status: number; body?: string; headers?: Record<string, string> } | 'hang' | 'stall' | 'drop';

const errorXml = (code: string, message = 'message') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>REQ1</RequestId></Error>`;
const listXml = (keys: string[], next?: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>avatar/u/</Prefix>` +
  `<KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>${next !== undefined}</IsTruncated>` +
  (next === undefined ? '' : `<NextContinuationToken>${next}</NextContinuationToken>`) +
  keys.map((key) => `<Contents><Key>${key}</Key><LastModified>2026-12-08T00:00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>`).join('') +
  '</ListBucketResult>';
const deleteResultXml = (errors: { key: string; code: string }[] = []) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${errors.map(({ key, code }) => `<Error><Key>${key}</Key><Code>${code}</Code><Message>m</Message></Error>`).join('')}</DeleteResult>`;

describe('signed S3 requests, when S3 fails, throttles, hangs or refuses', () => {
  let server: Server;
  let endpoint: string;
  let answers: Answer[] = [];
  let received: Received[] = [];

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        const answer = answers.shift() ?? { status: 500, body: errorXml('InternalError', 'the test gave no answer') };
        if (answer === 'hang') return;
        if (answer === 'stall') {
          // Headers and the start of a body, then nothing.
          response.writeHead(200, { 'content-type': 'application/xml', 'content-length': '1000' });
          return void response.write('<ListBucketResult>');
        }
        if (answer === 'drop') return void request.socket.destroy();
        // No keep-alive: a socket a test ends (a hang) is then never one the next test's request is written to.
        response.writeHead(answer.status, { 'content-type': 'application/xml', 'x-amz-request-id': 'REQ1', connection: 'close', ...answer.headers });
        response.end(request.method === 'HEAD' ? undefined : answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => {
    answers = [];
    received = [];
    server.closeAllConnections();
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const options = { bucket: 'b', region: 'eu-west-1', credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' }, retryDelayMs: () => 0 };
  const store = (extra: Partial<ConstructorParameters<typeof SigV4AvatarStore>[0]> = {}) => new SigV4AvatarStore({ ...options, endpoint, ...extra });
  const failure = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      if (!(error instanceof S3RequestError)) throw error;
      return { code: error.code, status: error.statusCode, operation: error.operation, message: error.message };
    }
    throw new Error('the call succeeded');
  };

  it('retries throttling and 5xx answers, and succeeds when one gets through', async () => {
    answers = [{ status: 503, body: errorXml('SlowDown', 'Please reduce your request rate.') }, { status: 500, body: errorXml('InternalError') }, { status: 204 }];
    await store().delete('avatar/u/a.png');
    expect(received.map(({ method, url }) => `${method} ${url}`)).toEqual(Array(3).fill('DELETE /b/avatar/u/a.png?x-id=DeleteObject'));
  });

  it('sends a key’s dot segments as they are, where a URL parser would resolve them', async () => {
    answers = [{ status: 204 }, { status: 204 }];
    await store().delete('avatar/u/../a.png');
    await store().delete('avatar/u/./%2e%2e/b.png');
    expect(received.map(({ url }) => url)).toEqual(['/b/avatar/u/../a.png?x-id=DeleteObject', '/b/avatar/u/./%252e%252e/b.png?x-id=DeleteObject']);
  });

  it('gives up after maxAttempts, with S3’s code, status and request id in the error', async () => {
    expect.assertions(2);
    answers = [503, 503, 503, 503].map((status) => ({ status, body: errorXml('SlowDown', 'Please reduce your request rate.') }));
    expect(await failure(store().setState('avatar/u/a.png', 'attached'))).toEqual({
      code: 'SlowDown',
      status: 503,
      operation: 'PutObjectTagging',
      message: 'S3 PutObjectTagging failed: 503 SlowDown: Please reduce your request rate. (request REQ1)',
    });
    expect(received).toHaveLength(3);
  });

  it('retries a 200 that carries an error document, as S3 sends when it fails after it began answering', async () => {
    answers = [{ status: 200, body: errorXml('InternalError', 'We encountered an internal error.') }, { status: 200, body: deleteResultXml() }];
    answers.unshift({ status: 200, body: listXml(['avatar/u/a.png']) });
    await store().deleteAllUnder('avatar/u/');
    expect(received.map(({ method }) => method)).toEqual(['GET', 'POST', 'POST']);
  });

  it('does not retry what S3 refuses for good, and throws it at once', async () => {
    expect.assertions(4);
    answers = [{ status: 403, body: errorXml('AccessDenied', 'Access Denied') }];
    expect(await failure(store().delete('avatar/u/a.png'))).toMatchObject({ code: 'AccessDenied', status: 403 });
    expect(received).toHaveLength(1);
    answers = [{ status: 301, body: errorXml('PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint.') }];
    expect(await failure(store().delete('avatar/u/a.png'))).toMatchObject({ code: 'PermanentRedirect', status: 301 });
    expect(received).toHaveLength(2);
  });

  it('describes a missing object (404) or one it may not know of (403) as undefined, and throws anything else from a HEAD', async () => {
    expect.assertions(5);
    answers = [{ status: 404 }, { status: 403 }];
    expect(await store().describe('avatar/u/a.png')).toBeUndefined();
    expect(await store().describe('avatar/u/a.png')).toBeUndefined();
    answers = [{ status: 200, headers: { 'content-type': 'image/webp', 'content-length': '42' } }];
    expect(await store().describe('avatar/u/a.webp')).toEqual({ contentType: 'image/webp', size: 42 });
    // A HEAD has no body: the code comes from the status. 5xx are retried first.
    answers = [{ status: 500 }, { status: 503 }, { status: 500 }];
    expect(await failure(store().describe('avatar/u/a.png'))).toMatchObject({ code: 'InternalError', status: 500, operation: 'HeadObject' });
    answers = [{ status: 400 }];
    expect(await failure(store().describe('avatar/u/a.png'))).toMatchObject({ code: 'BadRequest', status: 400 });
  });

  it('gives each attempt a timeout, so a hanging S3 fails the call instead of the function', async () => {
    expect.assertions(2);
    answers = ['hang', 'hang'];
    expect(await failure(store({ timeoutMs: 150, maxAttempts: 2 }).describe('avatar/u/a.png'))).toMatchObject({
      code: 'TimeoutError',
      status: 0,
      message: 'S3 HeadObject failed: no answer within 150 ms',
    });
    expect(received).toHaveLength(2);
  });

  it('times out an answer that stops halfway, not only one that never starts', async () => {
    expect.assertions(2);
    answers = ['stall', 'stall'];
    expect(await failure(store({ timeoutMs: 150, maxAttempts: 2 }).deleteAllUnder('avatar/u/'))).toMatchObject({
      code: 'TimeoutError',
      operation: 'ListObjectsV2',
    });
    expect(received).toHaveLength(2);
  });

  it('retries a dropped connection, and says so when no answer ever comes', async () => {
    expect.assertions(3);
    answers = ['drop', { status: 204 }];
    await store().delete('avatar/u/a.png');
    expect(received).toHaveLength(2);
    answers = ['drop', 'drop', 'drop'];
    expect(await failure(store().delete('avatar/u/a.png'))).toMatchObject({ code: 'NetworkingError', status: 0 });
    expect(received).toHaveLength(5);
  });

  it('fails on a closed port with a networking error, not a hang', async () => {
    expect.assertions(1);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await failure(store({ endpoint: `http://127.0.0.1:${port}` }).delete('avatar/u/a.png'))).toMatchObject({ code: 'NetworkingError', status: 0 });
  });

  it('follows continuation tokens through a truncated listing, and deletes each page', async () => {
    const token = '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=+&';
    answers = [
      { status: 200, body: listXml(['avatar/u/1.png', 'avatar/u/&lt;2&amp;&gt;.png'], token.replace('&', '&amp;')) },
      { status: 200, body: deleteResultXml() },
      { status: 200, body: listXml(['avatar/u/3.png']) },
      { status: 200, body: deleteResultXml() },
    ];
    await store().deleteAllUnder('avatar/u/');
    expect(received.map(({ method, url }) => `${method} ${url}`)).toEqual([
      'GET /b/?list-type=2&prefix=avatar%2Fu%2F',
      'POST /b/?delete',
      `GET /b/?list-type=2&prefix=avatar%2Fu%2F&continuation-token=${encodeURIComponent(token)}`,
      'POST /b/?delete',
    ]);
    expect(received[1]!.body).toContain('<Object><Key>avatar/u/1.png</Key></Object><Object><Key>avatar/u/&lt;2&amp;&gt;.png</Key></Object><Quiet>true</Quiet>');
    expect(received[3]!.body).toContain('<Object><Key>avatar/u/3.png</Key></Object><Quiet>true</Quiet>');
  });

  it('throws when S3 could not delete some of the keys, or listed a truncated page with no way on', async () => {
    expect.assertions(2);
    answers = [{ status: 200, body: listXml(['avatar/u/1.png', 'avatar/u/2.png']) }, { status: 200, body: deleteResultXml([{ key: 'avatar/u/1.png', code: 'AccessDenied' }, { key: 'avatar/u/2.png', code: 'InternalError' }]) }];
    await expect(store().deleteAllUnder('avatar/u/')).rejects.toThrow('could not delete 2 avatar objects under avatar/u/ (AccessDenied, InternalError)');
    answers = [{ status: 200, body: listXml(['avatar/u/1.png']).replace('<IsTruncated>false</IsTruncated>', '<IsTruncated>true</IsTruncated>') }, { status: 200, body: deleteResultXml() }];
    await expect(store().deleteAllUnder('avatar/u/')).rejects.toThrow('truncated listing without a continuation token');
  });

  it('sends nothing for an empty prefix, and refuses an answer that is no listing', async () => {
    expect.assertions(2);
    answers = [{ status: 200, body: listXml([]) }];
    await store().deleteAllUnder('avatar/u/');
    expect(received).toHaveLength(1);
    answers = [{ status: 200, body: '<html>captive portal</html>' }];
    await expect(store().deleteAllUnder('avatar/u/')).rejects.toThrow('answered without a listing');
  });

  it('signs each attempt with the credentials of the moment, as the provider gives them', async () => {
    let calls = 0;
    const requests = new BucketRequests({
      ...options,
      endpoint,
      credentials: async () => ({ accessKeyId: `AKID${++calls}`, secretAccessKey: 'secret', sessionToken: `token${calls}` }),
    });
    answers = [{ status: 503 }, { status: 204 }];
    await requests.send({ operation: 'DeleteObject', method: 'DELETE', key: 'avatar/u/a.png' });
    const signedWith = received.map(({ headers }) => ({ key: /Credential=AKID(\d+)\//.exec(String(headers.authorization))?.[1], token: headers['x-amz-security-token'] }));
    expect(signedWith).toHaveLength(2);
    // A key of its own for each attempt, each sent with its own session token.
    expect(Number(signedWith[1]!.key)).toBeGreaterThan(Number(signedWith[0]!.key));
    for (const { key, token } of signedWith) expect(token).toBe(`token${key}`);
  });
});
