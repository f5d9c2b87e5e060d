import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wiring } from '../composition.js';
import { parseKeyRing } from '../core/key-ring.js';
import type { RefreshTokenStore } from '../core/ports.js';
import { hashRefreshToken, type Sessions } from '../core/sessions.js';
import { localAdapters } from '../local/adapters.js';
import { readSecretsFile } from '../local/secrets-file.js';
import { resolveSettings } from '../settings.js';
import { randomIp, startTestService, type TestService } from '../testing/harness.js';

/** Parallel refreshes of one token, as two tabs or a retrying mobile client send them. */
describe('refresh races', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  const refresh = (refreshToken: string) => service.call('refresh', { body: { refreshToken } });
  const currentPepper = async () =>
    parseKeyRing('refresh-pepper', JSON.stringify((await readSecretsFile(service.secretsPath))['refresh-pepper'])).current;
  const familyOf = async (userId: string) =>
    (await service.scanAll()).filter((item) => item.kind === 'family' && item.userId === userId);

  for (const parallel of [10, 50]) {
    it(`leaves every one of ${parallel} parallel refreshers of one token with a working session`, async () => {
      const session = await service.login();
      const results = await Promise.all(Array.from({ length: parallel }, () => refresh(session.refreshToken)));
      expect(results.map((result) => result.status)).toEqual(results.map(() => 200));
      const issued = results.map((result) => result.body.refreshToken as string);

      // At most one live successor: the family's head, and every caller holds it.
      const pepper = await currentPepper();
      const [family] = await familyOf(session.user.id);
      expect(family!.status).toBe('active');
      expect(new Set(issued.map((token) => hashRefreshToken(pepper, token)))).toEqual(new Set([family!.head]));

      // Every caller carries on: each refreshes its token onward, all at once.
      const onward = await Promise.all(issued.map((token) => refresh(token)));
      expect(onward.map((result) => result.status)).toEqual(onward.map(() => 200));
      for (const result of results) expect((await service.call('getMe', { token: result.body.token })).status).toBe(200);
    });
  }

  it('limits logout per source IP (60 per 5 min by default), before reading any token', async () => {
    const ip = randomIp();
    const logout = (from: string) => service.call('logout', { ip: from, body: { refreshToken: 'A'.repeat(43) } });
    const answers = await Promise.all(Array.from({ length: 70 }, () => logout(ip)));
    expect(answers.filter((answer) => answer.status === 204)).toHaveLength(60);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(refused).toHaveLength(10);
    expect(refused[0]!.body.error.code).toBe('rate_limited');
    expect(Number(refused[0]!.headers['retry-after'])).toBeGreaterThan(0);
    // Another source is not affected, and a real logout from it still ends its family.
    const session = await service.login();
    expect((await logout(randomIp())).status).toBe(204);
    expect((await service.call('logout', { body: { refreshToken: session.refreshToken } })).status).toBe(204);
    expect((await refresh(session.refreshToken)).status).toBe(401);
  });

  it('still revokes the family when the parent is replayed after the grace window', async () => {
    const session = await service.login();
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(session.refreshToken)));
    const child = results[0]!.body.refreshToken as string;
    service.clock.advance(11_000);
    expect((await refresh(session.refreshToken)).status).toBe(401);
    expect((await refresh(child)).status).toBe(401);
    expect((await familyOf(session.user.id))[0]!.status).toBe('revoked');
  });

  it('keeps one live successor and every honest caller signed in, for any interleaving of refreshes and retries', async () => {
    const user = await service.login();
    const pepper = await currentPepper();
    const adapters = localAdapters({
      emulators: service.emulators,
      secretsPath: service.secretsPath,
      otpSender: service.outbox,
      settings: resolveSettings(),
      clock: service.clock,
      log: service.log,
      metrics: service.metrics,
      stage: 'test',
      version: 'test',
    });
    const plain = new Wiring(adapters).sessions();

    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        // Per caller: how many times it sends the same refresh again (a retry after a lost answer).
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 6 }),
        async (scheduler, retries) => {
          const real = adapters.refreshTokenStore();
          // Every store call resolves when the scheduler says: callers interleave step by step.
          const scheduled = new Proxy(real, {
            get: (target, property) => {
              const value = Reflect.get(target, property);
              return typeof value === 'function' ? scheduler.scheduleFunction(value.bind(target)) : value;
            },
          }) as RefreshTokenStore;
          const sessions: Sessions = new Wiring({ ...adapters, refreshTokenStore: () => scheduled }).sessions();

          const { refreshToken: parent } = await plain.start(user.user.id);
          const caller = async (times: number) => {
            let last = await sessions.refresh(parent, randomIp());
            for (let i = 0; i < times; i++) last = await sessions.refresh(parent, randomIp());
            return last.refreshToken;
          };
          const held = await scheduler.waitFor(Promise.all(retries.map(caller)));

          // ≤ 1 live successor: the head, and it is what every caller holds.
          const family = (await service.scanAll()).find(
            (item) => item.kind === 'family' && item.head === hashRefreshToken(pepper, held[0]!),
          );
          expect(family?.status).toBe('active');
          expect(new Set(held.map((token) => hashRefreshToken(pepper, token))).size).toBe(1);
          // No honest caller is signed out: each carries on from what it holds.
          const onward = await Promise.all(held.map((token) => plain.refresh(token, randomIp())));
          expect(onward).toHaveLength(held.length);
        },
      ),
      { numRuns: 25 },
    );
  });
});
