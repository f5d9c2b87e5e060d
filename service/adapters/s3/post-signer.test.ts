import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { avatarBucket } from '../../manifest.js';
import { emulatorCredentials, emulatorRegion, startEmulators, type Emulators } from '../../local/emulators.js';
import { sandboxSessionToken, startS3Front, type S3Front } from '../../local/s3-front.js';
import { SigV4AvatarUploadSigner } from './post-signer.js';
import { S3AvatarUploadSigner } from './upload-signer.js';

const withToken = {
  accessKeyId: 'ASIAEXAMPLEEXAMPLE00',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE/session+token==',
};
const { sessionToken: _, ...withoutToken } = withToken;
// Milliseconds on purpose: the policy's expiration and X-Amz-Date carry whole seconds.
const signingDate = new Date('2026-11-25T12:34:56.789Z');

const decodedPolicy = (fields: Record<string, string>) => JSON.parse(Buffer.from(fields.Policy!, 'base64').toString('utf8')) as unknown;

describe('SigV4 avatar upload signer', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllEnvs();
  });

  it.each([
    ['eu-west-1', 'chatshyld-dev-avatars-1a2b3c', 'avatar/0b7c6a9e/5e4d3c2b.png', 'image/png', 300, withToken, undefined],
    ['us-east-1', 'bucket', 'avatar/a-b/c-d.webp', 'image/webp', 60, withoutToken, undefined],
    ['ap-southeast-2', 'some.bucket-name', 'avatar/x/y.jpg', 'image/jpeg', 600, withToken, undefined],
    ['eu-west-1', 'chatshyld-dev-avatars', 'avatar/u/a.png', 'image/png', 300, withToken, 'http://127.0.0.1:4569'],
    ['eu-west-1', 'chatshyld-dev-avatars', 'avatar/u/a.png', 'image/png', 300, withoutToken, 'https://s3.example.test:8443/prefix'],
    ['eu-west-1', 'dotted.bucket', 'avatar/u/a.png', 'image/png', 300, withoutToken, 'https://s3.example.test'],
    ['eu-west-1', 'dotted.bucket', 'avatar/u/a.png', 'image/png', 300, withoutToken, 'http://localhost:4566'],
    ['eu-west-1', 'chatshyld-dev-avatars', 'avatar/u/a.png', 'image/png', 300, withoutToken, 'https://s3.example.test/prefix/'],
    ['cn-north-1', 'chatshyld-dev-avatars', 'avatar/u/a.png', 'image/png', 300, withToken, undefined],
    ['us-isob-east-1', 'dotted.bucket', 'avatar/u/a.png', 'image/png', 300, withToken, undefined],
  ])('makes the fields, policy and URL createPresignedPost makes (%s, %s, endpoint %s)', async (region, bucket, key, contentType, expiresIn, credentials, endpoint) => {
    const ours = await new SigV4AvatarUploadSigner({ bucket, region, credentials, endpoint, now: () => signingDate }).presignUpload(
      key,
      contentType,
      avatarBucket.maxBytes,
      expiresIn,
    );
    // The reference: the S3 client as the Lambda wiring makes it, with the endpoint override in the environment.
    if (endpoint) vi.stubEnv('AWS_ENDPOINT_URL_S3', endpoint);
    vi.useFakeTimers({ now: signingDate, toFake: ['Date'] });
    const client = new S3Client({ region, credentials });
    const theirs = await new S3AvatarUploadSigner(client, bucket).presignUpload(key, contentType, avatarBucket.maxBytes, expiresIn);
    client.destroy();

    expect(ours.url).toBe(theirs.url);
    expect(decodedPolicy(ours.fields)).toEqual(decodedPolicy(theirs.fields));
    const { Policy: _ours, ...ourFields } = ours.fields;
    const { Policy: _theirs, ...theirFields } = theirs.fields;
    expect(ourFields).toEqual(theirFields);
    expect(Object.keys(ours.fields).sort()).toEqual(
      ['key', 'Content-Type', 'tagging', 'bucket', 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'Policy', 'X-Amz-Signature']
        .concat('sessionToken' in credentials ? ['X-Amz-Security-Token'] : [])
        .sort(),
    );
    expect(ours.fields['X-Amz-Credential']).toBe(`${credentials.accessKeyId}/20261125/${region}/s3/aws4_request`);
  });

  it('changes the signature when the policy or the secret changes', async () => {
    const sign = (key: string, secret = withToken.secretAccessKey) =>
      new SigV4AvatarUploadSigner({ bucket: 'b', region: 'eu-west-1', credentials: { ...withToken, secretAccessKey: secret }, now: () => signingDate })
        .presignUpload(key, 'image/png', 1024, 300)
        .then(({ fields }) => fields['X-Amz-Signature']);
    const base = await sign('avatar/u/a.png');
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(await sign('avatar/u/b.png')).not.toBe(base);
    expect(await sign('avatar/u/a.png', 'another-secret')).not.toBe(base);
  });
});

describe('uploads the SigV4 upload signer presigns, at the sandbox S3 front', () => {
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
  let emulators: Emulators;
  let front: S3Front;
  let now = Date.now();
  let counter = 0;

  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'post-signer' });
    front = await startS3Front({
      target: emulators.s3Endpoint,
      secrets: { [emulatorCredentials.accessKeyId]: emulatorCredentials.secretAccessKey },
      clock: { now: () => now },
    });
  }, 60_000);
  afterAll(async () => {
    await front?.close();
    await emulators?.close();
  });

  const presign = async (contentType = 'image/png') => {
    const key = `avatar/user-1/${++counter}.png`;
    const signer = new SigV4AvatarUploadSigner({
      bucket: emulators.bucket,
      region: emulatorRegion,
      credentials: { ...emulatorCredentials, sessionToken: sandboxSessionToken('presignAvatar') },
      endpoint: front.endpoint,
      now: () => new Date(now),
    });
    return { key, ...(await signer.presignUpload(key, contentType, avatarBucket.maxBytes, 300)) };
  };
  const upload = (grant: { url: string; fields: Record<string, string> }, bytes: Buffer, type: string, change: (form: FormData) => void = () => {}) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(grant.fields)) form.append(name, value);
    change(form);
    form.append('file', new Blob([bytes], { type }), 'avatar');
    return fetch(grant.url, { method: 'POST', body: form });
  };
  const refusal = async (response: Response) => {
    const text = await response.text();
    return { status: response.status, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1], message: /<Message>([^<]+)<\/Message>/.exec(text)?.[1] };
  };
  const stored = (key: string) =>
    emulators.s3.send(new HeadObjectCommand({ Bucket: emulators.bucket, Key: key })).then(
      () => 200,
      (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode,
    );

  it('accepts an upload that keeps the policy, stored under the signed key', async () => {
    const grant = await presign();
    const response = await upload(grant, png, 'image/png');
    expect(response.status, await response.text()).toBe(204);
    expect(await stored(grant.key)).toBe(200);
  });

  it('refuses an upload over the size range, and an empty one', async () => {
    const grant = await presign();
    expect(await refusal(await upload(grant, Buffer.alloc(avatarBucket.maxBytes + 1, 1), 'image/png'))).toMatchObject({ status: 400, code: 'EntityTooLarge' });
    expect(await refusal(await upload(grant, Buffer.alloc(0), 'image/png'))).toMatchObject({ status: 400, code: 'EntityTooSmall' });
  });

  it('refuses another content type, another key, and a changed tag set', async () => {
    const grant = await presign();
    const otherType = await upload(grant, png, 'text/html', (form) => form.set('Content-Type', 'text/html'));
    expect(await refusal(otherType)).toMatchObject({ status: 403, code: 'AccessDenied', message: expect.stringContaining('$Content-Type') });
    const otherKey = await upload(grant, png, 'image/png', (form) => form.set('key', grant.key.replace(/\.png$/, '-2.png')));
    expect(await refusal(otherKey)).toMatchObject({ status: 403, code: 'AccessDenied', message: expect.stringContaining('$key') });
    const otherTags = await upload(grant, png, 'image/png', (form) => form.set('tagging', grant.fields.tagging!.replace('pending', 'attached')));
    expect(await refusal(otherTags)).toMatchObject({ status: 403, code: 'AccessDenied', message: expect.stringContaining('$tagging') });
    expect(await stored(grant.key.replace(/\.png$/, '-2.png'))).toBe(404);
  });

  it('refuses an expired upload', async () => {
    const grant = await presign();
    now += 301_000;
    expect(await refusal(await upload(grant, png, 'image/png'))).toMatchObject({ status: 403, code: 'AccessDenied', message: 'Invalid according to Policy: Policy expired.' });
    expect(await stored(grant.key)).toBe(404);
  });
});
