import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectTaggingCommand, HeadObjectCommand, PutObjectTaggingCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3AvatarStore } from '../adapters/s3/avatars.js';
import { DynamoUserStore } from '../adapters/dynamodb/users.js';
import { Profiles } from '../core/profiles.js';
import { resolveSettings } from '../settings.js';
import { RecordingLog } from '../testing/harness.js';
import { emulatorCredentials, emulatorRegion } from './emulators.js';
import { routeS3Client } from './s3-front.js';
import { startSandbox, type Sandbox } from './sandbox.js';

const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const taggingOf = (state: string) => `<Tagging><TagSet><Tag><Key>state</Key><Value>${state}</Value></Tag></TagSet></Tagging>`;

interface Presigned {
  readonly url: string;
  readonly fields: Record<string, string>;
  readonly key: string;
}

/** Uploads as a client would: the form's fields, then the file last. */
function upload(presign: Presigned, change: (form: FormData) => void = () => {}) {
  const form = new FormData();
  for (const [name, value] of Object.entries(presign.fields)) form.append(name, value);
  change(form);
  form.append('file', new Blob([png], { type: 'image/png' }), 'avatar');
  return fetch(presign.url, { method: 'POST', body: form });
}

describe('avatar objects that nothing references expire (state tag + lifecycle rule)', () => {
  let stateDir: string;
  let sandbox: Sandbox;
  let phones = 0;
  const codes: string[] = [];

  const post = (path: string, body: unknown) =>
    fetch(`${sandbox.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const login = async () => {
    const phone = `+1415555${String(300 + ++phones).padStart(4, '0')}`;
    await post('/auth/send-otp', { phone });
    const body = (await (await post('/auth/verify-otp', { phone, code: codes.at(-1) })).json()) as { token: string; user: { id: string } };
    return { token: body.token, userId: body.user.id };
  };
  const api = async (token: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${sandbox.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: response.status === 204 ? undefined : ((await response.json()) as any) };
  };
  const presign = async (token: string) => (await api(token, 'POST', '/profile/avatar/presign', { contentType: 'image/png' })).body as Presigned;
  /** The object's tags as the bucket owner reads them (s3rver behind the front), or 'missing'. */
  const stateOf = async (key: string) => {
    try {
      const { TagSet } = await sandbox.emulators.s3.send(new GetObjectTaggingCommand({ Bucket: sandbox.emulators.bucket, Key: key }));
      return Object.fromEntries((TagSet ?? []).map((tag) => [tag.Key, tag.Value]));
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') return 'missing';
      throw error;
    }
  };

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-avatar-lifecycle-'));
    sandbox = await startSandbox({ stateDir, onOtp: (message) => codes.push(message.code) });
  });
  afterAll(async () => {
    await sandbox?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('tags every upload state=pending, through a policy condition on the exact tagging document', async () => {
    const { token } = await login();
    const grant = await presign(token);
    expect(grant.fields.tagging).toBe(taggingOf('pending'));
    const policy = JSON.parse(Buffer.from(grant.fields.Policy!, 'base64').toString('utf8'));
    expect(policy.conditions).toContainEqual({ tagging: taggingOf('pending') });
    expect((await upload(grant)).status).toBe(204);
    expect(await stateOf(grant.key)).toEqual({ state: 'pending' });
  });

  it('refuses an upload whose tagging field is missing, changed or respelled', async () => {
    const { token } = await login();
    const grant = await presign(token);
    const refusal = async (response: Response) => {
      const text = await response.text();
      return { status: response.status, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1], message: /<Message>([^<]+)<\/Message>/.exec(text)?.[1] };
    };
    const tampered = [
      (form: FormData) => form.delete('tagging'),
      (form: FormData) => form.set('tagging', taggingOf('attached')),
      (form: FormData) => form.set('tagging', ''),
      (form: FormData) => form.set('tagging', taggingOf('pending').replace('<TagSet>', '<TagSet> ')),
    ];
    for (const change of tampered) {
      expect(await refusal(await upload(grant, change))).toMatchObject({
        status: 403,
        code: 'AccessDenied',
        message: expect.stringContaining('$tagging'),
      });
    }
    expect(await stateOf(grant.key)).toBe('missing');
  });

  it('marks an attached photo attached, and deletes a replaced or removed one', async () => {
    const { token } = await login();
    const first = await presign(token);
    await upload(first);
    expect((await api(token, 'PATCH', '/profile/me', { photoKey: first.key })).status).toBe(200);
    expect(await stateOf(first.key)).toEqual({ state: 'attached' });

    const second = await presign(token);
    await upload(second);
    expect((await api(token, 'PATCH', '/profile/me', { photoKey: second.key })).status).toBe(200);
    expect(await stateOf(second.key)).toEqual({ state: 'attached' });
    expect(await stateOf(first.key)).toBe('missing');

    expect((await api(token, 'PATCH', '/profile/me', { photoKey: null })).status).toBe(200);
    expect(await stateOf(second.key)).toBe('missing');
  });

  it('leaves a replaced photo pending when its delete fails, so the lifecycle rule still removes it', async () => {
    const { token, userId } = await login();
    const first = await presign(token);
    await upload(first);
    expect((await api(token, 'PATCH', '/profile/me', { photoKey: first.key })).status).toBe(200);
    const second = await presign(token);
    await upload(second);

    // patchMe's own grants through the front, with a delete that fails as S3 can (throttling, 5xx).
    const s3 = routeS3Client(sandbox.s3Endpoint, 'patchMe', emulatorCredentials, emulatorRegion);
    class FailingDelete extends S3AvatarStore {
      override delete(): Promise<void> {
        return Promise.reject(Object.assign(new Error('SlowDown'), { name: 'SlowDown' }));
      }
    }
    const store = new FailingDelete(s3, sandbox.emulators.bucket);
    const log = new RecordingLog();
    const profiles = new Profiles(
      new DynamoUserStore(sandbox.emulators.dynamo, sandbox.emulators.tableNames.users),
      store,
      store,
      { now: () => Date.now() },
      resolveSettings(),
      log,
    );
    try {
      expect((await profiles.update(userId, { photoKey: second.key })).photoKey).toBe(second.key);
    } finally {
      s3.destroy();
    }
    expect(await stateOf(second.key)).toEqual({ state: 'attached' });
    expect(await stateOf(first.key)).toEqual({ state: 'pending' });
    expect(log.lines).toContainEqual(expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ key: first.key }) }));
  });

  it('leaves an upload made after the account was deleted pending, with a presign issued before', async () => {
    const { token, userId } = await login();
    const grant = await presign(token);
    expect((await api(token, 'DELETE', '/profile/me')).status).toBe(204);
    // The policy is still in date: S3 accepts it, and nothing of the account remains to attach it.
    expect((await upload(grant)).status).toBe(204);
    expect(grant.key.startsWith(`avatar/${userId}/`)).toBe(true);
    expect(await stateOf(grant.key)).toEqual({ state: 'pending' });
  });

  it('lets only the routes granted s3:PutObjectTagging tag an object', async () => {
    const { token } = await login();
    const grant = await presign(token);
    await upload(grant);
    const tag = (routeId: 'getMe' | 'deleteMe' | 'patchMe') => {
      const client = routeS3Client(sandbox.s3Endpoint, routeId, emulatorCredentials, emulatorRegion);
      return client
        .send(new PutObjectTaggingCommand({ Bucket: sandbox.emulators.bucket, Key: grant.key, Tagging: { TagSet: [{ Key: 'state', Value: 'attached' }] } }))
        .finally(() => client.destroy());
    };
    await expect(tag('getMe')).rejects.toMatchObject({ name: 'AccessDenied' });
    await expect(tag('deleteMe')).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(await stateOf(grant.key)).toEqual({ state: 'pending' });
    await tag('patchMe');
    expect(await stateOf(grant.key)).toEqual({ state: 'attached' });
    // No route may read tags: none is granted s3:GetObjectTagging.
    const patchMe = routeS3Client(sandbox.s3Endpoint, 'patchMe', emulatorCredentials, emulatorRegion);
    await expect(patchMe.send(new GetObjectTaggingCommand({ Bucket: sandbox.emulators.bucket, Key: grant.key }))).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    patchMe.destroy();
    await sandbox.emulators.s3.send(new HeadObjectCommand({ Bucket: sandbox.emulators.bucket, Key: grant.key }));
  });
});
