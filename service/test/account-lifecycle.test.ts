import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../testing/harness.js';

describe('a whole account lifecycle', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('login → refresh → avatar → delete leaves no secret and nothing of the user behind', async () => {
    const bystander = await service.login();
    const seen = { refreshTokens: [] as string[], codes: [] as string[] };

    const phone = '+14155550199';
    await service.call('sendOtp', { body: { phone } });
    const code = service.outbox.latest(phone)!.code;
    seen.codes.push(code);
    const login = (await service.call('verifyOtp', { body: { phone, code } })).body;
    const userId = login.user.id as string;
    seen.refreshTokens.push(login.refreshToken);

    let refreshToken = login.refreshToken as string;
    let token = login.token as string;
    for (let i = 0; i < 3; i++) {
      const next = (await service.call('refresh', { body: { refreshToken } })).body;
      refreshToken = next.refreshToken;
      token = next.token;
      seen.refreshTokens.push(refreshToken);
    }
    // A second session on another device.
    service.clock.advance(31_000);
    await service.call('sendOtp', { body: { phone } });
    const secondCode = service.outbox.latest(phone)!.code;
    seen.codes.push(secondCode);
    const second = (await service.call('verifyOtp', { body: { phone, code: secondCode } })).body;
    seen.refreshTokens.push(second.refreshToken);

    const presign = (await service.call('presignAvatar', { token, body: { contentType: 'image/png' } })).body;
    const form = new FormData();
    for (const [name, value] of Object.entries(presign.fields as Record<string, string>)) form.append(name, value);
    form.append('file', new Blob([Buffer.from('png-bytes')], { type: 'image/png' }));
    expect((await fetch(presign.url, { method: 'POST', body: form })).status).toBe(204);
    expect((await service.call('patchMe', { token, body: { name: 'Grace', photoKey: presign.key } })).status).toBe(200);
    // And an upload never attached: deletion must find it too.
    const stray = (await service.call('presignAvatar', { token, body: { contentType: 'image/jpeg' } })).body;
    const strayForm = new FormData();
    for (const [name, value] of Object.entries(stray.fields as Record<string, string>)) strayForm.append(name, value);
    strayForm.append('file', new Blob([Buffer.from('jpg')], { type: 'image/jpeg' }));
    await fetch(stray.url, { method: 'POST', body: strayForm });

    const before = JSON.stringify(await service.scanAll());
    for (const secret of [...seen.refreshTokens, ...seen.codes.map((c) => `"${c}"`)]) {
      expect(before).not.toContain(secret);
    }
    expect(before).toContain(userId);

    const deleted = await service.call('deleteMe', { token });
    expect(deleted.status).toBe(204);

    const after = await service.scanAll();
    const dump = JSON.stringify(after);
    expect(dump).not.toContain(userId);
    expect(dump).not.toContain(phone);
    for (const secret of seen.refreshTokens) expect(dump).not.toContain(secret);
    const objects = await service.emulators.s3.send(
      new ListObjectsV2Command({ Bucket: service.emulators.bucket, Prefix: `avatar/${userId}/` }),
    );
    expect(objects.Contents ?? []).toHaveLength(0);

    // The bystander is untouched.
    expect(dump).toContain(bystander.user.id);
    expect((await service.call('getMe', { token: bystander.token })).status).toBe(200);

    // Every credential of the deleted account is dead; deleting again is harmless.
    expect((await service.call('getMe', { token })).status).toBe(401);
    expect((await service.call('refresh', { body: { refreshToken } })).status).toBe(401);
    expect((await service.call('refresh', { body: { refreshToken: second.refreshToken } })).status).toBe(401);
    expect((await service.call('deleteMe', { token })).status).toBe(204);

    // The number can sign up afresh as a new user.
    const again = await service.login(phone);
    expect(again.user.id).not.toBe(userId);
  });

  it('converges concurrent first logins of one phone on one user', async () => {
    const phone = '+14155550142';
    const { Users } = await import('../core/users.js');
    const { DynamoUserStore } = await import('../adapters/dynamodb/users.js');
    const users = new Users(new DynamoUserStore(service.emulators.dynamo, service.emulators.tableNames.users), service.clock);
    const results = await Promise.all(Array.from({ length: 10 }, () => users.findOrCreate(phone)));
    expect(new Set(results.map((result) => result.user.id)).size).toBe(1);
    expect(results.filter((result) => result.created)).toHaveLength(1);
  });
});
