import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoUserStore } from '../adapters/dynamodb/users.js';
import { startTestService, testPhone, type TestService } from '../testing/harness.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A deleted (or blocked) account ends at once, for every token it had, whatever races it. */
describe('account deletion', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  const presign = (token: string) => service.call('presignAvatar', { token, body: { contentType: 'image/png' } });
  const objectsUnder = async (userId: string) =>
    (
      await service.emulators.s3.send(
        new ListObjectsV2Command({ Bucket: service.emulators.bucket, Prefix: `avatar/${userId}/` }),
      )
    ).Contents ?? [];
  const liveOf = async (userId: string) =>
    (await service.scanAll()).filter(
      (item) => item.userId === userId && (item.kind === 'token' || (item.kind === 'family' && item.status === 'active')),
    );

  it('refuses every credential of a deleted account: presign, read, patch, refresh', async () => {
    const session = await service.login();
    service.clock.advance(31_000); // past the per-phone send cooldown: a second device signs in
    const second = await service.login(session.phone);
    const refreshed = (await service.call('refresh', { body: { refreshToken: session.refreshToken } })).body;
    expect((await service.call('deleteMe', { token: session.token })).status).toBe(204);

    const presigns = await Promise.all(Array.from({ length: 100 }, () => presign(session.token)));
    expect(presigns.filter((response) => response.status !== 401)).toHaveLength(0);
    expect((await service.call('getMe', { token: session.token })).status).toBe(401);
    expect((await service.call('patchMe', { token: session.token, body: { name: 'Ghost' } })).status).toBe(401);
    for (const refreshToken of [session.refreshToken, refreshed.refreshToken, second.refreshToken]) {
      expect((await service.call('refresh', { body: { refreshToken } })).status).toBe(401);
    }
    expect(await objectsUnder(session.user.id)).toHaveLength(0);
  });

  it('refuses a blocked account at once through the same check', async () => {
    const session = await service.login();
    const users = new DynamoUserStore(service.emulators.dynamo, service.emulators.tableNames.users);
    await users.setStatus(session.user.id, 'blocked');
    expect((await service.call('getMe', { token: session.token })).status).toBe(401);
    expect((await service.call('patchMe', { token: session.token, body: { name: 'X' } })).status).toBe(401);
    expect((await presign(session.token)).status).toBe(401);
    // Issue 14 gave a blocked account's refresh its own answer: 403 `account_blocked`, not 401.
    const refreshed = await service.call('refresh', { body: { refreshToken: session.refreshToken } });
    expect(refreshed.status).toBe(403);
    expect(refreshed.body.error.code).toBe('account_blocked');
    expect((await users.get(session.user.id))?.status).toBe('blocked');
  });

  it('refuses a blocked account its own deletion, so a block cannot be shed by deleting and signing in again', async () => {
    const session = await service.login();
    const users = new DynamoUserStore(service.emulators.dynamo, service.emulators.tableNames.users);
    await users.setStatus(session.user.id, 'blocked');
    const answer = await service.call('deleteMe', { token: session.token });
    expect(answer.status).toBe(401);
    const after = await users.get(session.user.id);
    expect(after?.status).toBe('blocked');
    expect(await users.phoneOwner(session.phone)).toBe(session.user.id);
  });

  it('limits presigns per user', async () => {
    const session = await service.login();
    const answers = await Promise.all(Array.from({ length: 30 }, () => presign(session.token)));
    const accepted = answers.filter((response) => response.status === 200).length;
    expect(accepted).toBe(20);
    expect(answers.filter((response) => response.status === 429)).toHaveLength(10);
  });

  it('leaves nothing live when presigns and a patch race the deletion (looped)', async () => {
    for (let run = 0; run < 10; run++) {
      const session = await service.login();
      const burst = Array.from({ length: 15 }, async (_, i) => {
        await pause(i % 5);
        return presign(session.token);
      });
      const patch = service.call('patchMe', { token: session.token, body: { name: `Racer ${run}` } });
      const deleted = await service.call('deleteMe', { token: session.token });
      await Promise.all([...burst, patch]);
      expect(deleted.status).toBe(204);

      // Once the deletion has answered, nothing is accepted for the account.
      const after = await Promise.all(Array.from({ length: 5 }, () => presign(session.token)));
      expect(after.map((response) => response.status)).toEqual([401, 401, 401, 401, 401]);
      const left = (await service.scanAll()).filter((item) => JSON.stringify(item).includes(session.user.id));
      expect(left.filter((item) => item.kind !== undefined || String(item.pk).startsWith('user#'))).toEqual([]);
      expect(await objectsUnder(session.user.id)).toHaveLength(0);
    }
  });

  it('leaves no live session of the deleted account when a login of its phone races the deletion (looped)', async () => {
    for (let run = 0; run < 15; run++) {
      const phone = testPhone();
      const session = await service.login(phone);
      const oldId = session.user.id as string;
      service.clock.advance(31_000); // past the per-phone send cooldown
      expect((await service.call('sendOtp', { body: { phone } })).status).toBe(200);
      const code = service.outbox.latest(phone)!.code;

      const [deleted, login] = await Promise.all([
        service.call('deleteMe', { token: session.token }),
        (async () => {
          await pause(run % 8);
          return service.call('verifyOtp', { body: { phone, code } });
        })(),
      ]);
      expect(deleted.status).toBe(204);
      expect([200, 401]).toContain(login.status);

      expect(await liveOf(oldId)).toEqual([]);
      const users = await service.scanAll();
      expect(users.some((item) => item.pk === `user#${oldId}`)).toBe(false);
      if (login.status === 200) {
        // The login made (or became) a new account, whose session works; the old id is gone for good.
        expect(login.body.user.id).not.toBe(oldId);
        expect((await service.call('refresh', { body: { refreshToken: login.body.refreshToken } })).status).toBe(200);
      }
      // The phone belongs to nobody, or to an account that exists and is open.
      const claim = users.find((item) => item.pk === `phone#${phone}`);
      if (claim) {
        const owner = users.find((item) => item.pk === `user#${claim.userId}`);
        expect(owner).toBeDefined();
        expect(owner!.status).toBeUndefined();
      }
    }
  });
});
