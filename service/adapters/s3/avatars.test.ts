import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulators, type Emulators } from '../../local/emulators.js';
import { S3AvatarStore } from './avatars.js';

describe('S3 avatar store on s3rver', () => {
  let emulators: Emulators;
  let store: S3AvatarStore;
  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'avatar-test' });
    store = new S3AvatarStore(emulators.s3, emulators.bucket);
  });
  afterAll(async () => {
    await emulators?.close();
  });

  const put = (Key: string, Body = 'x', ContentType = 'image/png') =>
    emulators.s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key, Body, ContentType }));

  it('describes objects, and says undefined for missing ones', async () => {
    await put('avatar/u/a.png', 'hello');
    expect(await store.describe('avatar/u/a.png')).toEqual({ contentType: 'image/png', size: 5 });
    expect(await store.describe('avatar/u/missing.png')).toBeUndefined();
  });

  it('signs download URLs that serve the object', async () => {
    await put('avatar/u/b.png', 'bytes');
    const url = await store.downloadUrl('avatar/u/b.png', 120);
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('120');
    expect(await (await fetch(url)).text()).toBe('bytes');
  });

  it('deletes everything under a prefix and nothing beside it', async () => {
    await Promise.all(Array.from({ length: 12 }, (_, n) => put(`avatar/gone/${n}.png`)));
    await put('avatar/gone-not/keep.png');
    await store.deleteAllUnder('avatar/gone/');
    const list = async (Prefix: string) =>
      (await emulators.s3.send(new ListObjectsV2Command({ Bucket: emulators.bucket, Prefix }))).Contents ?? [];
    expect(await list('avatar/gone/')).toHaveLength(0);
    expect(await list('avatar/gone-not/')).toHaveLength(1);
    await store.deleteAllUnder('avatar/nothing-here/');
  });
});
