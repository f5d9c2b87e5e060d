import { GetObjectTaggingCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorCredentials, emulatorRegion, startEmulators, type Emulators } from '../../local/emulators.js';
import { sandboxSessionToken, startS3Front, type S3Front } from '../../local/s3-front.js';
import type { RouteId } from '../../manifest.js';
import { BucketRequests, S3RequestError } from './bucket-requests.js';
import { SigV4AvatarStore } from './object-store.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

/**
 * The fetch adapter against s3rver behind the sandbox's S3 front, which checks every request's
 * header signature and holds each route's session token to its manifest grants: the calls patchMe
 * and deleteMe make, as those routes, and what the front refuses them.
 */
describe('SigV4 avatar store on s3rver, through the S3 front', () => {
  let emulators: Emulators;
  let front: S3Front;

  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'object-store' });
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

  /** The store as the route's function makes it: its role's session, the front as the endpoint override. */
  const storeOf = (route: RouteId, credentials: Partial<typeof emulatorCredentials> = {}) =>
    new SigV4AvatarStore({
      bucket: emulators.bucket,
      region: emulatorRegion,
      credentials: { ...emulatorCredentials, ...credentials, sessionToken: sandboxSessionToken(route) },
      endpoint: front.endpoint,
      retryDelayMs: () => 0,
    });
  const put = (Key: string, Body: string | Buffer = 'x', ContentType = 'image/png') =>
    emulators.s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key, Body, ContentType }));
  const exists = (Key: string) =>
    emulators.s3.send(new HeadObjectCommand({ Bucket: emulators.bucket, Key })).then(
      () => true,
      (error: { $metadata?: { httpStatusCode?: number } }) => (error.$metadata?.httpStatusCode === 404 ? false : Promise.reject(error)),
    );
  const tags = async (Key: string) =>
    (await emulators.s3.send(new GetObjectTaggingCommand({ Bucket: emulators.bucket, Key }))).TagSet?.map(({ Key: name, Value }) => `${name}=${Value}`);
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => 'resolved',
      (error: unknown) => (error instanceof S3RequestError ? `${error.statusCode} ${error.code}` : `not an S3RequestError: ${String(error)}`),
    );

  it('describes an object for patchMe, and says undefined for a missing one, which the front answers 403 without s3:ListBucket', async () => {
    await put('avatar/u1/a.png', Buffer.alloc(1234, 7));
    const store = storeOf('patchMe');
    expect(await store.describe('avatar/u1/a.png')).toEqual({ contentType: 'image/png', size: 1234 });
    expect(await store.describe('avatar/u1/missing.png')).toBeUndefined();
    // The answers behind those: 403 to patchMe (no list grant), 404 to the bucket owner.
    const head = (sessionToken?: string) =>
      refusal(
        new BucketRequests({ bucket: emulators.bucket, region: emulatorRegion, credentials: { ...emulatorCredentials, ...(sessionToken && { sessionToken }) }, endpoint: front.endpoint }).send({
          operation: 'HeadObject',
          method: 'HEAD',
          key: 'avatar/u1/missing.png',
        }),
      );
    expect(await head(sandboxSessionToken('patchMe'))).toBe('403 Forbidden');
    expect(await head()).toBe('404 NotFound');
  });

  it('tags an object with its state, replacing the tag set, as patchMe', async () => {
    await put('avatar/u2/a.png');
    const store = storeOf('patchMe');
    await store.setState('avatar/u2/a.png', 'attached');
    expect(await tags('avatar/u2/a.png')).toEqual(['state=attached']);
    await store.setState('avatar/u2/a.png', 'pending');
    expect(await tags('avatar/u2/a.png')).toEqual(['state=pending']);
  });

  it('deletes one object as patchMe, and a missing one without complaint, as S3 does', async () => {
    await put('avatar/u3/a.png');
    const store = storeOf('patchMe');
    await store.delete('avatar/u3/a.png');
    expect(await exists('avatar/u3/a.png')).toBe(false);
    await store.delete('avatar/u3/a.png');
  });

  it('handles keys that need escaping in the path, the signature and the XML', async () => {
    const keys = ['avatar/u4/a b+c.png', 'avatar/u4/ü&<x>.png', "avatar/u4/(it's)*!~.png", 'avatar/u4/%41=?.png'];
    for (const key of keys) await put(key, 'bytes');
    const patch = storeOf('patchMe');
    for (const key of keys) {
      expect(await patch.describe(key), key).toEqual({ contentType: 'image/png', size: 5 });
      await patch.setState(key, 'attached');
      expect(await tags(key), key).toEqual(['state=attached']);
    }
    await storeOf('deleteMe').deleteAllUnder('avatar/u4/');
    for (const key of keys) expect(await exists(key), key).toBe(false);
  });

  it('deletes everything under a prefix and nothing beside it, as deleteMe', async () => {
    await Promise.all(Array.from({ length: 12 }, (_, n) => put(`avatar/gone/${n}.png`)));
    await put('avatar/gone-not/keep.png');
    await storeOf('deleteMe').deleteAllUnder('avatar/gone/');
    const list = async (Prefix: string) =>
      (await emulators.s3.send(new ListObjectsV2Command({ Bucket: emulators.bucket, Prefix }))).Contents ?? [];
    expect(await list('avatar/gone/')).toHaveLength(0);
    expect(await list('avatar/gone-not/')).toHaveLength(1);
    await storeOf('deleteMe').deleteAllUnder('avatar/nothing-here/');
  });

  it('gets the front’s refusal of what a route is not granted, as S3RequestError with S3’s code, and changes nothing', async () => {
    await put('avatar/u5/a.png');
    // deleteMe may list and delete, not tag or read; patchMe may not list.
    expect(await refusal(storeOf('deleteMe').setState('avatar/u5/a.png', 'attached'))).toBe('403 AccessDenied');
    expect(await refusal(storeOf('patchMe').deleteAllUnder('avatar/u5/'))).toBe('403 AccessDenied');
    // presignAvatar may put and tag, not delete; no route may act outside avatar/.
    expect(await refusal(storeOf('presignAvatar').delete('avatar/u5/a.png'))).toBe('403 AccessDenied');
    expect(await refusal(storeOf('patchMe').delete('elsewhere/a.png'))).toBe('403 AccessDenied');
    expect(await exists('avatar/u5/a.png')).toBe(true);
    expect(await tags('avatar/u5/a.png')).toEqual([]);
  });

  it('is refused with a wrong secret or an unknown key id, and changes nothing', async () => {
    await put('avatar/u6/a.png');
    expect(await refusal(storeOf('patchMe', { secretAccessKey: 'wrong' }).delete('avatar/u6/a.png'))).toBe('403 SignatureDoesNotMatch');
    expect(await refusal(storeOf('patchMe', { accessKeyId: 'AKIDUNKNOWN' }).setState('avatar/u6/a.png', 'attached'))).toBe('403 InvalidAccessKeyId');
    expect(await refusal(storeOf('deleteMe', { secretAccessKey: 'wrong' }).deleteAllUnder('avatar/u6/'))).toBe('403 SignatureDoesNotMatch');
    expect(await exists('avatar/u6/a.png')).toBe(true);
  });
});
