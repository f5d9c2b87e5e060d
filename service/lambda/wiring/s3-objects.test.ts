import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { HttpRequest } from '@smithy/types';
import type { Transport } from '../../adapters/s3/bucket-requests.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MisconfigurationError } from '../../core/errors.js';
import { emulatorCredentials, emulatorRegion, startEmulators, type Emulators } from '../../local/emulators.js';
import { sandboxSessionToken, startS3Front, type S3Front } from '../../local/s3-front.js';
import { avatarBucket } from '../../manifest.js';
import { avatarStore } from './s3.js';
import { cases, key, stubCase, stubCleanS3Environment } from './testing/s3-environments.js';

const sessionToken = 'IQoJb3JpZ2luX2VjEXAMPLE/session+token==';
const signingDate = new Date('2026-11-25T12:34:56Z');

/** One request as it would go on the wire: where, how, and the headers S3 reads to check it. */
interface SentRequest {
  readonly method: string;
  /** Scheme, host (with a port only when not the scheme's default) and path, as written on the wire. */
  readonly target: string;
  readonly query: Record<string, string>;
  /** The credential scope of the signature: `<date>/<region>/s3/aws4_request`. */
  readonly scope: string | undefined;
  readonly headers: Record<string, string | undefined>;
  readonly body: string | undefined;
}

/** The headers S3 checks a request's signature, payload and checksum by. */
const checkedHeaders = ['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'content-type', 'x-amz-checksum-crc32', 'x-amz-sdk-checksum-algorithm'];
const scopeOf = (authorization: string | undefined) => /Credential=[^/]+\/([^,]+),/.exec(authorization ?? '')?.[1];
const pick = (headers: Record<string, string>) => Object.fromEntries(checkedHeaders.map((name) => [name, headers[name]]));

/** What the S3 client sends for the calls the avatar store makes, in this environment; an Error where it sends nothing. */
async function clientRequests(region: string, bucket: string): Promise<SentRequest[] | Error> {
  const sent: SentRequest[] = [];
  const handler = {
    handle: async (request: HttpRequest) => {
      const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]));
      sent.push({
        method: request.method,
        target: `${request.protocol}//${headers.host}${request.path}`,
        query: Object.fromEntries(Object.entries(request.query ?? {}).map(([name, value]) => [name, String(value ?? '')])),
        scope: scopeOf(headers.authorization),
        headers: pick(headers),
        body: request.body === undefined ? undefined : Buffer.from(request.body as string).toString('utf8'),
      });
      throw new Error('not sent');
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({}),
  };
  const client = new S3Client({ region, maxAttempts: 1, requestHandler: handler });
  const commands = [
    new HeadObjectCommand({ Bucket: bucket, Key: key }),
    new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet: [{ Key: avatarBucket.stateTag, Value: 'attached' }] } }),
    new DeleteObjectCommand({ Bucket: bucket, Key: key }),
    new ListObjectsV2Command({ Bucket: bucket, Prefix: 'avatar/u/' }),
    new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: key }], Quiet: true } }),
  ];
  try {
    for (const command of commands) {
      const before = sent.length;
      const error = await client.send(command as never).then(
        () => new Error('the request handler did not run'),
        (error: Error) => error,
      );
      if (sent.length === before) return error;
    }
    return sent;
  } finally {
    client.destroy();
  }
}

/** What the wiring's store sends for the same calls, answered as S3 would answer them. */
async function storeRequests(): Promise<SentRequest[]> {
  const sent: SentRequest[] = [];
  const transport: Transport = async (wire) => {
    const url = new URL(wire.url);
    const headers = wire.headers as Record<string, string>;
    sent.push({
      method: wire.method,
      // As written on the wire: the Host header, and the path before any normalising.
      target: `${url.protocol}//${headers.host}${wire.url.slice(`${url.protocol}//`.length).replace(/^[^/]*/, '').replace(/\?.*$/, '')}`,
      query: Object.fromEntries(url.searchParams),
      scope: scopeOf(headers.authorization),
      headers: pick(headers),
      body: wire.body,
    });
    if (wire.method === 'HEAD') return { status: 200, headers: { 'content-type': 'image/png', 'content-length': '3' }, body: '' };
    if (url.searchParams.get('list-type') === '2') {
      return { status: 200, headers: {}, body: `<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>${key}</Key></Contents></ListBucketResult>` };
    }
    if (url.searchParams.has('delete')) return { status: 200, headers: {}, body: '<DeleteResult></DeleteResult>' };
    return { status: wire.method === 'DELETE' ? 204 : 200, headers: {}, body: '' };
  };
  const store = avatarStore({ transport });
  await store.describe(key);
  await store.setState(key, 'attached');
  await store.delete(key);
  await store.deleteAllUnder('avatar/u/');
  return sent;
}

describe('the patchMe and deleteMe object calls, against what the S3 client sends for them', () => {
  beforeEach(() => {
    stubCleanS3Environment();
    vi.stubEnv('AWS_SESSION_TOKEN', sessionToken);
    // One clock for both, so their dates and payload hashes must match too.
    vi.useFakeTimers({ now: signingDate, toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllEnvs();
  });

  it.each(cases)('%s, bucket %s, %o', async (region, bucket, settings) => {
    stubCase(avatarBucket.env, region, bucket, settings);
    const theirs = await clientRequests(region, bucket);
    if (theirs instanceof Error) {
      // The client would fail every S3 call of this environment: the store fails when it is made.
      expect(() => avatarStore(), theirs.message).toThrow(MisconfigurationError);
      return;
    }
    const ours = await storeRequests();
    // HeadObject, PutObjectTagging, DeleteObject, ListObjectsV2, DeleteObjects: the same host,
    // path, query, body, checksum and credential scope (us-east-1 for aws-global).
    expect(ours).toEqual(theirs);
  });
});

/**
 * The wiring's store from a function's environment alone (the bucket, the region, the role's
 * session in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, the endpoint override),
 * against s3rver behind the S3 front, which checks each signature and holds each route's session
 * to its grants.
 */
describe('the wiring’s store, configured by the environment alone, through the S3 front', () => {
  let emulators: Emulators;
  let front: S3Front;
  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'wiring-objects' });
    front = await startS3Front({
      target: emulators.s3Endpoint,
      secrets: { [emulatorCredentials.accessKeyId]: emulatorCredentials.secretAccessKey },
      clock: { now: () => Date.now() },
    });
  }, 60_000);
  afterAll(async () => {
    await front?.close();
    await emulators?.close();
  });
  beforeEach(() => {
    stubCleanS3Environment();
    vi.stubEnv('AWS_REGION', emulatorRegion);
    vi.stubEnv('AWS_ACCESS_KEY_ID', emulatorCredentials.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', emulatorCredentials.secretAccessKey);
    vi.stubEnv('AWS_ENDPOINT_URL_S3', front.endpoint);
    vi.stubEnv(avatarBucket.env, emulators.bucket);
  });
  afterEach(() => vi.unstubAllEnvs());

  const put = (objectKey: string) => emulators.s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key: objectKey, Body: 'png', ContentType: 'image/png' }));
  const asRoute = (route: 'patchMe' | 'deleteMe') => vi.stubEnv('AWS_SESSION_TOKEN', sandboxSessionToken(route));

  it('attaches, replaces and deletes as patchMe, and sweeps a prefix as deleteMe', async () => {
    await put('avatar/w1/a.png');
    await put('avatar/w1/b.png');
    asRoute('patchMe');
    const patch = avatarStore();
    expect(await patch.describe('avatar/w1/a.png')).toEqual({ contentType: 'image/png', size: 3 });
    expect(await patch.describe('avatar/w1/none.png')).toBeUndefined();
    await patch.setState('avatar/w1/a.png', 'attached');
    await patch.delete('avatar/w1/b.png');
    expect(await patch.describe('avatar/w1/b.png')).toBeUndefined();
    asRoute('deleteMe');
    await avatarStore().deleteAllUnder('avatar/w1/');
    asRoute('patchMe');
    expect(await avatarStore().describe('avatar/w1/a.png')).toBeUndefined();
  });

  it('is held to the route of the session the environment names', async () => {
    expect.assertions(2);
    await put('avatar/w2/a.png');
    asRoute('deleteMe');
    await expect(avatarStore().setState('avatar/w2/a.png', 'attached')).rejects.toMatchObject({ code: 'AccessDenied', statusCode: 403 });
    asRoute('patchMe');
    await expect(avatarStore().deleteAllUnder('avatar/w2/')).rejects.toMatchObject({ code: 'AccessDenied', statusCode: 403 });
  });
});
