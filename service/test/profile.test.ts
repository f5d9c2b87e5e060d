import { createHmac } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorCredentials } from '../local/emulators.js';
import { startTestService, type TestService } from '../testing/harness.js';

/** Uploads through the presigned POST exactly as the app would (multipart form, file last). */
async function upload(presign: { url: string; fields: Record<string, string> }, bytes: Buffer, type: string) {
  const form = new FormData();
  for (const [name, value] of Object.entries(presign.fields)) form.append(name, value);
  form.append('file', new Blob([bytes], { type }), 'avatar');
  return fetch(presign.url, { method: 'POST', body: form });
}

const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

describe('profile and avatars', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  const presign = (token: string, contentType = 'image/png') =>
    service.call('presignAvatar', { token, body: { contentType } });
  const patch = (token: string, body: unknown) => service.call('patchMe', { token, body });

  it('requires a bearer token on every profile route', async () => {
    for (const route of ['getMe', 'patchMe', 'presignAvatar', 'deleteMe'] as const) {
      const response = await service.call(route, { body: { name: 'x' } });
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('unauthorized');
      expect(response.headers['www-authenticate']).toBe('Bearer');
    }
    const tampered = await service.call('getMe', { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    expect(tampered.status).toBe(401);
  });

  it('answers no 5xx to many concurrent updates of one profile; each one applied or a retryable 409', async () => {
    const { token } = await service.login();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => patch(token, { name: `Name ${i}` })));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status !== 200 && status !== 409)).toEqual([]);
    for (const answer of answers.filter((a) => a.status === 409)) expect(answer.body.error.code).toBe('profile_conflict');
    const final = (await service.call('getMe', { token })).body.name;
    expect(answers.filter((a) => a.status === 200).map((a) => a.body.name)).toContain(final);
  });

  it('updates the name after trimming, and refuses bad names', async () => {
    const { token } = await service.login();
    const renamed = await patch(token, { name: '  Ada Lovelace 👩‍💻 ' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe('Ada Lovelace 👩‍💻');
    expect(Date.parse(renamed.body.updatedAt)).toBeGreaterThan(Date.parse(renamed.body.createdAt) - 1);
    for (const name of ['', '   ', 'x'.repeat(65), 'bad\u0000name', 'line\nbreak', 'evil\u202Eeman', 42, null]) {
      const response = await patch(token, { name });
      expect(response.status, JSON.stringify(name)).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
    }
    expect((await patch(token, {})).status).toBe(400);
    expect((await service.call('getMe', { token })).body.name).toBe('Ada Lovelace 👩‍💻');
  });

  it('refuses names made only of invisible characters, and counts length in graphemes', async () => {
    const { token } = await service.login();
    const invisible = [
      '\u3164', // Hangul filler, a letter that renders as nothing
      '\u3164\u3164 \u3164',
      '\u2800\u2800', // Braille blank
      '\u200B', // zero-width space
      '\u200D\u200D', // zero-width joiners
      '\u2060', // word joiner
      '\uFE0F\uFE0E', // variation selectors
      '\u{E0041}\u{E0042}', // tag characters
      '\u115F\u1160\uFFA0', // the other Hangul fillers
      '\u034F', // combining grapheme joiner
      '\u00A0\u3000', // no-break and ideographic spaces
    ];
    for (const name of invisible) {
      const response = await patch(token, { name });
      expect(response.status, JSON.stringify(name)).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
    }
    // 64 family emoji are 64 graphemes (and 448 code points): accepted; 65 are not.
    const family = '👨‍👩‍👧‍👦';
    expect((await patch(token, { name: family.repeat(64) })).status).toBe(200);
    expect((await patch(token, { name: family.repeat(65) })).status).toBe(400);
    // Accents written as a letter plus a combining mark count once each.
    const accented = 'e\u0301'.repeat(64);
    expect((await patch(token, { name: accented })).status).toBe(200);
    expect((await patch(token, { name: 'Ana\u3164Lu' })).status).toBe(200);
  });

  it('refuses an empty photoKey instead of taking it to remove the photo', async () => {
    const { token } = await service.login();
    const uploaded = (await presign(token)).body;
    expect((await upload(uploaded, png, 'image/png')).status).toBe(204);
    expect((await patch(token, { photoKey: uploaded.key })).status).toBe(200);
    const empty = await patch(token, { photoKey: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.error.code).toBe('invalid_request');
    const me = await service.call('getMe', { token });
    expect(me.body.photoKey).toBe(uploaded.key);
    expect((await fetch(me.body.photoUrl)).status).toBe(200);
  });

  it('presigns a POST whose policy bounds size, type, key and expiry', async () => {
    const { token, user } = await service.login();
    const response = await presign(token, 'image/webp');
    expect(response.status).toBe(200);
    const { url, fields, key, expiresIn, maxBytes } = response.body;
    expect(key).toMatch(new RegExp(`^avatar/${user.id}/[0-9a-f-]{36}\\.webp$`));
    expect(expiresIn).toBe(300);
    expect(maxBytes).toBe(5 * 1024 * 1024);
    expect(url).toBe(`${service.emulators.s3Endpoint}/${service.emulators.bucket}`);

    const policy = JSON.parse(Buffer.from(fields.Policy, 'base64').toString('utf8'));
    const expiry = Date.parse(policy.expiration) - Date.now();
    expect(expiry).toBeGreaterThan(290_000);
    expect(expiry).toBeLessThanOrEqual(300_000);
    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        ['content-length-range', 1, 5 * 1024 * 1024],
        ['eq', '$Content-Type', 'image/webp'],
        { key },
        { bucket: service.emulators.bucket },
      ]),
    );
    expect(fields.key).toBe(key);
    expect(fields['Content-Type']).toBe('image/webp');

    // s3rver does not check POST signatures; check the SigV4 signature of the policy here.
    const [accessKey, date, region, serviceName] = fields['X-Amz-Credential'].split('/');
    expect(accessKey).toBe(emulatorCredentials.accessKeyId);
    const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
    let signingKey = hmac(`AWS4${emulatorCredentials.secretAccessKey}`, date);
    for (const part of [region, serviceName, 'aws4_request']) signingKey = hmac(signingKey, part!);
    expect(createHmac('sha256', signingKey).update(fields.Policy).digest('hex')).toBe(fields['X-Amz-Signature']);
  });

  it('refuses content types other than jpeg, png and webp', async () => {
    const { token } = await service.login();
    for (const contentType of ['image/gif', 'image/svg+xml', 'text/html', 'IMAGE/PNG', '']) {
      const response = await presign(token, contentType);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('unsupported_content_type');
    }
  });

  it('attaches an uploaded photo, serves it, and deletes the replaced one', async () => {
    const { token } = await service.login();
    const first = (await presign(token)).body;
    expect((await upload(first, png, 'image/png')).status).toBe(204);
    const attached = await patch(token, { photoKey: first.key });
    expect(attached.status).toBe(200);
    expect(attached.body.photoKey).toBe(first.key);

    const me = await service.call('getMe', { token });
    const served = await fetch(me.body.photoUrl);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(png);
    expect(me.body.photoUrl).toContain('X-Amz-Expires=300');

    const second = (await presign(token, 'image/jpeg')).body;
    await upload(second, Buffer.from('ffd8ffe0', 'hex'), 'image/jpeg');
    expect((await patch(token, { photoKey: second.key })).status).toBe(200);
    expect((await fetch(`${service.emulators.s3Endpoint}/${service.emulators.bucket}/${first.key}`)).status).toBe(404);

    const removed = await patch(token, { photoKey: null });
    expect(removed.body).toMatchObject({ photoKey: null, photoUrl: null });
    expect((await fetch(`${service.emulators.s3Endpoint}/${service.emulators.bucket}/${second.key}`)).status).toBe(404);
  });

  it('refuses photo keys that are not the user\'s own uploads', async () => {
    const alice = await service.login();
    const bob = await service.login();
    const bobs = (await presign(bob.token)).body;
    await upload(bobs, png, 'image/png');
    const own = `avatar/${alice.user.id}`;
    const forbidden = [
      bobs.key, // another user's real upload
      `${own}/../${bob.user.id}/x.png`, // traversal
      `${own}/x/../y.png`,
      `${own}x/abc.png`, // look-alike prefix
      `${own}-evil/abc.png`,
      `avatar/${alice.user.id.toUpperCase()}/abc.png`,
      `${own}/abc.gif`,
      `${own}/abc.png.exe`,
      `${own}/abc.png/`,
      `/${own}/abc.png`,
      `${own}/abc.png\n`,
      'avatar//abc.png',
    ];
    for (const photoKey of forbidden) {
      const response = await patch(alice.token, { photoKey });
      expect(response.status, photoKey).toBe(403);
      expect(response.body.error.code).toBe('forbidden_photo_key');
    }
    const neverUploaded = await patch(alice.token, { photoKey: `${own}/0b0b0b0b-aaaa-bbbb-cccc-000000000000.png` });
    expect(neverUploaded.status).toBe(400);
    expect(neverUploaded.body.error.code).toBe('photo_not_uploaded');
  });

  it('refuses an object that breaks the upload policy, whatever put it there', async () => {
    const { token, user } = await service.login();
    const key = `avatar/${user.id}/1234abcd-0000-0000-0000-000000000000.png`;
    // s3rver does not enforce content-length-range or the Content-Type condition, so put one directly.
    await service.emulators.s3.send(
      new PutObjectCommand({ Bucket: service.emulators.bucket, Key: key, Body: '<svg/>', ContentType: 'image/svg+xml' }),
    );
    const response = await patch(token, { photoKey: key });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_photo');
    expect((await service.call('getMe', { token })).body.photoKey).toBeNull();
  });
});
