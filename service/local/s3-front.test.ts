import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { avatarBucket } from '../manifest.js';
import { startSandbox, type Sandbox } from './sandbox.js';
import { emulatorCredentials, emulatorRegion, startEmulators, type Emulators } from './emulators.js';
import type { FrontCall } from './fronts/front-call.js';
import { rawRequest } from './fronts/raw-http.js';
import { routeS3Client, sandboxSessionToken, startS3Front, type S3Front } from './s3-front.js';
import { sha256Hex, signedHeaders } from './sigv4.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

/** The S3 error code and message of an XML error body. */
async function s3Error(response: Response): Promise<{ status: number; code?: string; message?: string }> {
  const text = await response.text();
  return { status: response.status, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1], message: /<Message>([^<]+)<\/Message>/.exec(text)?.[1] };
}

interface Presigned {
  readonly url: string;
  readonly fields: Record<string, string>;
  readonly key: string;
  readonly expiresIn: number;
}

/** Uploads as a client would: the form's fields, then the file last. */
function upload(presign: Presigned, bytes: Buffer, type: string, change: (form: FormData) => void = () => {}) {
  const form = new FormData();
  for (const [name, value] of Object.entries(presign.fields)) form.append(name, value);
  change(form);
  form.append('file', new Blob([bytes], { type }), 'avatar');
  return fetch(presign.url, { method: 'POST', body: form });
}

describe('the sandbox S3 front refuses what S3 refuses', () => {
  let stateDir: string;
  let sandbox: Sandbox;
  let now = Date.now();
  let token: string;

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${sandbox.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const presign = async (contentType = 'image/png') => (await api('POST', '/profile/avatar/presign', { contentType })).body as Presigned;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-s3-front-'));
    const codes: string[] = [];
    sandbox = await startSandbox({ stateDir, clock: { now: () => now }, onOtp: (message) => codes.push(message.code) });
    const post = (path: string, body: unknown) =>
      fetch(`${sandbox.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await post('/auth/send-otp', { phone: '+14155550188' });
    token = ((await (await post('/auth/verify-otp', { phone: '+14155550188', code: codes[0] })).json()) as { token: string }).token;
  });
  afterAll(async () => {
    await sandbox?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('answers 403, not 404, for a missing key to a route with no s3:ListBucket, and PATCH says not uploaded', async () => {
    const { key } = await presign();
    const patchMe = routeS3Client(sandbox.s3Endpoint, 'patchMe', emulatorCredentials, emulatorRegion);
    const deleteMe = routeS3Client(sandbox.s3Endpoint, 'deleteMe', emulatorCredentials, emulatorRegion);
    try {
      await expect(patchMe.send(new HeadObjectCommand({ Bucket: sandbox.emulators.bucket, Key: key }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 403 },
      });
      // deleteMe holds s3:ListBucket (but not s3:GetObject): its read is refused for the grant, not the key.
      await expect(deleteMe.send(new HeadObjectCommand({ Bucket: sandbox.emulators.bucket, Key: key }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 403 },
      });
      // A route may not write where its manifest grants nothing.
      await expect(
        patchMe.send(new PutObjectCommand({ Bucket: sandbox.emulators.bucket, Key: key, Body: png, ContentType: 'image/png' })),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
    } finally {
      patchMe.destroy();
      deleteMe.destroy();
    }
    const attached = await api('PATCH', '/profile/me', { photoKey: key });
    expect(attached).toMatchObject({ status: 400, body: { error: { code: 'photo_not_uploaded' } } });
  });

  it('accepts an upload that keeps the policy, and serves it through a presigned GET', async () => {
    const upload1 = await presign();
    expect((await upload(upload1, png, 'image/png')).status).toBe(204);
    const me = await api('PATCH', '/profile/me', { photoKey: upload1.key });
    expect(me.status).toBe(200);
    const photo = await fetch(me.body.photoUrl);
    expect(photo.status).toBe(200);
    expect(Buffer.from(await photo.arrayBuffer())).toEqual(png);
  });

  it('refuses an upload over content-length-range with EntityTooLarge, and an empty one with EntityTooSmall', async () => {
    const grant = await presign();
    expect(await s3Error(await upload(grant, Buffer.alloc(avatarBucket.maxBytes + 1, 1), 'image/png'))).toMatchObject({
      status: 400,
      code: 'EntityTooLarge',
    });
    expect(await s3Error(await upload(grant, Buffer.alloc(0), 'image/png'))).toMatchObject({ status: 400, code: 'EntityTooSmall' });
  });

  it('refuses another key, another Content-Type, and a field the policy does not name', async () => {
    const grant = await presign();
    const otherKey = await upload(grant, png, 'image/png', (form) => form.set('key', grant.key.replace(/\.png$/, '-2.png')));
    expect(await s3Error(otherKey)).toMatchObject({ status: 403, code: 'AccessDenied', message: expect.stringContaining('$key') });
    const otherType = await upload(grant, png, 'text/html', (form) => form.set('Content-Type', 'text/html'));
    expect(await s3Error(otherType)).toMatchObject({ status: 403, code: 'AccessDenied', message: expect.stringContaining('$Content-Type') });
    const extra = await upload(grant, png, 'image/png', (form) => form.append('acl', 'public-read'));
    expect(await s3Error(extra)).toMatchObject({ status: 403, code: 'AccessDenied', message: expect.stringContaining('Extra input fields: acl') });
  });

  it('refuses a policy that was changed after signing, with SignatureDoesNotMatch', async () => {
    const grant = await presign();
    const policy = JSON.parse(Buffer.from(grant.fields.Policy!, 'base64').toString('utf8'));
    policy.conditions = policy.conditions.map((condition: unknown) =>
      Array.isArray(condition) && condition[0] === 'content-length-range' ? ['content-length-range', 1, 1e9] : condition,
    );
    const forged = await upload(grant, png, 'image/png', (form) => form.set('Policy', Buffer.from(JSON.stringify(policy)).toString('base64')));
    expect(await s3Error(forged)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuses a presigned GET whose signature was changed, or whose key was swapped', async () => {
    const grant = await presign();
    await upload(grant, png, 'image/png');
    const { photoUrl } = (await api('PATCH', '/profile/me', { photoKey: grant.key })).body as { photoUrl: string };
    const tampered = new URL(photoUrl);
    const signature = tampered.searchParams.get('X-Amz-Signature')!;
    tampered.searchParams.set('X-Amz-Signature', `${signature[0] === 'a' ? 'b' : 'a'}${signature.slice(1)}`);
    expect(await s3Error(await fetch(tampered))).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    const swapped = new URL(photoUrl);
    swapped.pathname = swapped.pathname.replace(/[^/]+$/, 'someone-else.png');
    expect(await s3Error(await fetch(swapped))).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuses anonymous requests and SDK requests signed with a wrong secret, as S3 does for this bucket', async () => {
    const grant = await presign();
    await upload(grant, png, 'image/png');
    const { photoUrl } = (await api('PATCH', '/profile/me', { photoKey: grant.key })).body as { photoUrl: string };
    const front = new URL(photoUrl);
    const objectUrl = `${front.origin}${front.pathname}`;
    const bucketUrl = `${front.origin}/${front.pathname.split('/')[1]}`;
    // Unsigned: list, read, overwrite, delete — each AccessDenied, and the photo is untouched.
    expect(await s3Error(await fetch(`${bucketUrl}?list-type=2`))).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(await s3Error(await fetch(objectUrl))).toMatchObject({ status: 403, code: 'AccessDenied' });
    const overwrite = await fetch(objectUrl, { method: 'PUT', headers: { 'content-type': 'text/html' }, body: '<script>1</script>' });
    expect(await s3Error(overwrite)).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(await s3Error(await fetch(objectUrl, { method: 'DELETE' }))).toMatchObject({ status: 403, code: 'AccessDenied' });
    // Header-signed by the SDK, but with a secret the front does not know for that key id.
    const forger = new S3Client({
      region: emulatorRegion,
      endpoint: front.origin,
      forcePathStyle: true,
      credentials: { accessKeyId: emulatorCredentials.accessKeyId, secretAccessKey: 'not-the-secret' },
    });
    try {
      await expect(forger.send(new ListObjectsV2Command({ Bucket: front.pathname.split('/')[1]! }))).rejects.toMatchObject({
        name: 'SignatureDoesNotMatch',
      });
    } finally {
      forger.destroy();
    }
    const served = await fetch(photoUrl);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(png)).toBe(true);
  });

  it('refuses an expired presigned POST and an expired presigned GET', async () => {
    const grant = await presign();
    await upload(grant, png, 'image/png');
    const { photoUrl } = (await api('PATCH', '/profile/me', { photoKey: grant.key })).body as { photoUrl: string };
    const late = await presign();
    const getExpires = Number(new URL(photoUrl).searchParams.get('X-Amz-Expires'));
    // The SDK signs both with the real clock: past the later of the two expiries from the real time
    // now (which is after both were signed), whatever this file's earlier tests did to the clock.
    now = Math.max(now, Date.now()) + (Math.max(getExpires, late.expiresIn) + 5) * 1000;
    expect(await s3Error(await upload(late, png, 'image/png'))).toMatchObject({ status: 403, code: 'AccessDenied', message: 'Invalid according to Policy: Policy expired.' });
    expect(await s3Error(await fetch(photoUrl))).toMatchObject({ status: 403, code: 'AccessDenied', message: 'Request has expired' });
  });
});

describe('the S3 front answers only local SDK clients, and reports each call it forwards', () => {
  let emulators: Emulators;
  let front: S3Front;
  const calls: FrontCall[] = [];
  let hold: ((call: FrontCall) => Promise<void | (() => void)>) | undefined;

  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'chatshyld-s3-front-guard' });
    front = await startS3Front({
      target: emulators.s3Endpoint,
      secrets: { [emulatorCredentials.accessKeyId]: emulatorCredentials.secretAccessKey },
      clock: { now: () => Date.now() },
      onCall: async (call) => {
        calls.push(call);
        return hold?.(call);
      },
    });
  });
  afterAll(async () => {
    await front?.close();
    await emulators?.close();
  });

  /** A GetObject of a key, header-signed as getMe's function signs it, with these headers changed. */
  const signedGet = (change: Record<string, string>) => {
    const url = new URL(`/${emulators.bucket}/avatar/guard.png`, front.endpoint);
    const headers = signedHeaders({
      method: 'GET',
      url,
      headers: { 'x-amz-content-sha256': sha256Hex('') },
      body: '',
      credentials: { ...emulatorCredentials, sessionToken: sandboxSessionToken('getMe') },
      region: emulatorRegion,
      service: 's3',
      now: Date.now(),
    });
    return rawRequest(front.endpoint, { ...headers, ...change }, '', 'GET', url.pathname);
  };

  it('refuses, with 403, a request from a web page (Origin) or for another host name, before any other check', async () => {
    const key = 'avatar/guard.png';
    await emulators.s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key: key, Body: png, ContentType: 'image/png' }));
    const served = await signedGet({});
    expect(served.status).toBe(200);
    expect(calls.at(-1)).toEqual({ service: 's3', routeId: 'getMe', action: 'GetObject' });
    const before = calls.length;
    // The same request as the function's own, with an Origin a page in a browser would add.
    const fromPage = await signedGet({ origin: 'http://localhost:8080' });
    expect(fromPage.status).toBe(403);
    expect(fromPage.body).toContain('<Code>AccessDenied</Code>');
    const rebound = await signedGet({ host: `avatars.rebind.example:${new URL(front.endpoint).port}` });
    expect(rebound.status).toBe(403);
    expect(calls.length, 'nothing was forwarded').toBe(before);
    // An unsigned read from a page is refused by the Origin check, whatever S3's anonymous rules would say.
    const page = await fetch(new URL(`/${emulators.bucket}/${key}`, front.endpoint), { headers: { origin: 'https://example.com' } });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('Origin');
  });

  it('awaits onCall with the route and operation, and calls what it returns when the answer is sent', async () => {
    const patchMe = routeS3Client(front.endpoint, 'patchMe', emulatorCredentials, emulatorRegion);
    const order: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    hold = async (call) => {
      order.push(`start ${call.routeId} ${call.action}`);
      await released;
      return () => {
        order.push(`done ${call.action}`);
        finished();
      };
    };
    try {
      let answered = false;
      const pending = patchMe.send(new HeadObjectCommand({ Bucket: emulators.bucket, Key: 'avatar/guard.png' })).finally(() => (answered = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(order).toEqual(['start patchMe HeadObject']);
      expect(answered).toBe(false);
      release();
      expect((await pending).ContentLength).toBe(png.length);
      await done;
      expect(order).toEqual(['start patchMe HeadObject', 'done HeadObject']);
      expect(calls.at(-1)).toEqual({ service: 's3', routeId: 'patchMe', action: 'HeadObject' });
    } finally {
      hold = undefined;
      patchMe.destroy();
    }
  });
});
