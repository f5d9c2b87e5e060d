import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoRefreshTokenStore } from '../adapters/dynamodb/refresh-tokens.js';
import { keyTag, newKey, parseKeyRing, type KeyEntry } from '../core/key-ring.js';
import { hashRefreshToken } from '../core/sessions.js';
import { readSecretsFile } from '../local/secrets-file.js';
import { startTestService, type TestService } from '../testing/harness.js';

const day = 24 * 3600 * 1000;

/** Refresh tokens name their pepper: one hash and one lookup per refresh, whatever the ring holds. */
describe('refresh tokens and the pepper ring', () => {
  let service: TestService;
  const commands: string[] = [];
  beforeAll(async () => {
    service = await startTestService();
    // Counts every DynamoDB call the functions make, by command.
    service.emulators.dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(context.commandName ?? 'unknown');
        return next(args);
      },
      { step: 'initialize', name: 'countDynamoCalls' },
    );
  });
  afterAll(async () => {
    await service?.close();
  });
  beforeEach(() => {
    service.clock.advance(61_000); // past the secrets cache max age and the unknown-kid cooldown
  });

  const refresh = (refreshToken: string) => service.call('refresh', { body: { refreshToken } });
  const readsDuring = async <T>(work: () => Promise<T>) => {
    commands.length = 0;
    const result = await work();
    return { result, reads: commands.filter((name) => /^(GetItem|BatchGetItem|Query|Scan)Command$/.test(name)).length };
  };
  const pepperNow = async () => (await readSecretsFile(service.secretsPath))['refresh-pepper']!.current;

  /** A token as the service issued them before tags: stored under `pepper`, heading a new family. */
  const legacyToken = async (pepper: KeyEntry, userId: string, expiresAt: number) => {
    const token = randomBytes(32).toString('base64url');
    const key = parseKeyRing('refresh-pepper', JSON.stringify({ current: pepper })).current;
    const store = new DynamoRefreshTokenStore(service.emulators.dynamo, service.emulators.tableNames.refreshTokens);
    const familyId = `legacy-${randomBytes(4).toString('hex')}`;
    const hash = hashRefreshToken(key, token);
    const now = service.clock.now();
    await store.putToken({ hash, pepperKid: pepper.kid, userId, familyId, issuedAt: now, expiresAt });
    await store.createFamily({ id: familyId, userId, status: 'active', head: hash, previous: null, previousRotatedAt: null, createdAt: now, expiresAt: now + 180 * day });
    return token;
  };

  it('reads as much for a token under the oldest of eight peppers as under the only one', async () => {
    const session = await service.login();
    const { reads: oneKey, result: first } = await readsDuring(() => refresh(session.refreshToken));
    expect(first.status).toBe(200);
    expect(first.body.refreshToken).toMatch(/^[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{43}$/);

    // Seven rotations later the token's pepper is the oldest of eight.
    const oldest = await pepperNow();
    const newer = Array.from({ length: 7 }, (_, i) => newKey(new Date(Date.now() + i)));
    await service.updateSecrets((secrets) => ({
      ...secrets,
      'refresh-pepper': {
        current: newer.at(-1)!,
        verifyOnly: [...newer.slice(0, -1), { ...oldest, retiredAt: new Date().toISOString(), validUntil: new Date(Date.now() + 30 * day).toISOString() }],
      },
    }));
    service.clock.advance(61_000);
    const { reads: eightKeys, result } = await readsDuring(() => refresh(first.body.refreshToken));
    expect(result.status).toBe(200);
    console.info(`DynamoDB reads per refresh: ${oneKey} (one pepper), ${eightKeys} (token under the oldest of eight)`);
    expect(eightKeys).toBe(oneKey);
    // And the successor is under the new pepper, named by its tag.
    expect(result.body.refreshToken.split('.')[0]).toBe(keyTag(newer.at(-1)!.kid));
  });

  it('keeps refreshing tokens issued before tags until they expire', async () => {
    const { user } = await service.login();
    const pepper = await pepperNow();
    const token = await legacyToken(pepper, user.id, service.clock.now() + 2 * day);
    const refreshed = await refresh(token);
    expect(refreshed.status).toBe(200);
    expect((await refresh(refreshed.body.refreshToken)).status).toBe(200);

    const expiring = await legacyToken(pepper, user.id, service.clock.now() + day);
    service.clock.advance(day + 1000);
    expect((await refresh(expiring)).status).toBe(401);
  });

  it('finds a token under a pepper this function has not seen yet with one forced re-read, and cools down', async () => {
    const { user } = await service.login();
    await refresh((await service.login()).refreshToken); // the cache holds the ring now
    // Another function already hashes with a pepper published a moment ago.
    const fresh = newKey(new Date());
    const current = await pepperNow();
    await service.updateSecrets((secrets) => ({ ...secrets, 'refresh-pepper': { current: fresh, verifyOnly: [current] } }));
    const key = parseKeyRing('refresh-pepper', JSON.stringify({ current: fresh })).current;
    const token = `${key.tag}.${randomBytes(32).toString('base64url')}`;
    const store = new DynamoRefreshTokenStore(service.emulators.dynamo, service.emulators.tableNames.refreshTokens);
    const now = service.clock.now();
    await store.putToken({ hash: hashRefreshToken(key, token), pepperKid: fresh.kid, userId: user.id, familyId: 'f-unseen', issuedAt: now, expiresAt: now + day });
    await store.createFamily({ id: 'f-unseen', userId: user.id, status: 'active', head: hashRefreshToken(key, token), previous: null, previousRotatedAt: null, createdAt: now, expiresAt: now + day });
    expect((await refresh(token)).status).toBe(200);

    // A forged tag inside the cooldown costs no lookup at all.
    const { reads, result } = await readsDuring(() => refresh(`zzzzzzzz.${randomBytes(32).toString('base64url')}`));
    expect(result.status).toBe(401);
    expect(reads).toBe(0);
  });
});
