import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorCredentials, emulatorRegion, startEmulators, type Emulators } from '../../local/emulators.js';
import { randomIp, TestClock } from '../../testing/harness.js';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { AwsCallRecorder } from '../../local/aws-calls.js';
import { returnItemsOnConditionFailure } from '../../local/condition-failure-items.js';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { rateLimitCounterKey } from './keys.js';
import { DynamoOtpChallengeStore, DynamoRateLimiter } from './rate-limits.js';
import { DynamoRefreshTokenStore } from './refresh-tokens.js';
import { DynamoUserStore } from './users.js';

describe('DynamoDB stores on dynalite', () => {
  let emulators: Emulators;
  const clock = new TestClock(Date.parse('2026-03-01T00:00:00Z'));
  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'store-test' });
  });
  afterAll(async () => {
    await emulators?.close();
  });

  describe('rate limiter', () => {
    const limiter = () => new DynamoRateLimiter(emulators.dynamo, emulators.tableNames.rateLimits, clock);

    it('opens the window at the first hit, not at a clock boundary', async () => {
      clock.current = Date.parse('2026-03-01T00:00:29.900Z');
      expect(await limiter().hit('cooldown#a', 1, 30)).toEqual({ allowed: true, retryAfterSeconds: 30 });
      clock.advance(200); // past a 30-s epoch boundary
      const second = await limiter().hit('cooldown#a', 1, 30);
      expect(second.allowed).toBe(false);
      expect(second.retryAfterSeconds).toBeCloseTo(29.8, 5);
      clock.advance(29_800);
      expect((await limiter().hit('cooldown#a', 1, 30)).allowed).toBe(true);
    });

    it('counts concurrent hits atomically', async () => {
      const decisions = await Promise.all(Array.from({ length: 40 }, () => limiter().hit('burst#b', 10, 60)));
      expect(decisions.filter((decision) => decision.allowed)).toHaveLength(10);
    });

    const sendRules = {
      windows: [
        { limit: 1, windowSeconds: 30 },
        { limit: 10, windowSeconds: 3600 },
      ],
      perMember: { limit: 3, windowSeconds: 3600 },
    };

    it('counts members of one key apart, atomically, in one window, and forgets them with the key', async () => {
      const rules = { windows: [{ limit: 10, windowSeconds: 3600 }], perMember: { limit: 3, windowSeconds: 3600 } };
      const hits = await Promise.all(Array.from({ length: 20 }, (_, n) => limiter().hitAll('phone#m', `10.0.0.${n % 2}`, rules)));
      expect(hits.filter((decision) => decision.allowed)).toHaveLength(6);
      expect((await limiter().hitAll('phone#m', '2001:db8::7', rules)).allowed).toBe(true);
      await limiter().forget(['phone#m']);
      const one = { ...rules, perMember: { limit: 1, windowSeconds: 3600 } };
      expect((await limiter().hitAll('phone#m', '10.0.0.0', one)).allowed).toBe(true);
      expect((await limiter().hitAll('phone#m', '10.0.0.0', one)).allowed).toBe(false);
    });

    it('lets exactly one of many concurrent first hits through a window of one', async () => {
      const hits = await Promise.all(Array.from({ length: 12 }, (_, n) => limiter().hitAll('phone#race', `10.3.0.${n}`, sendRules)));
      expect(hits.filter((decision) => decision.allowed)).toHaveLength(1);
      const refused = hits.find((decision) => !decision.allowed)!;
      expect(refused.retryAfterSeconds).toBe(30);
    });

    it('counts a refused hit nowhere: a member refused by another window keeps its share', async () => {
      const hit = () => limiter().hitAll('phone#none', '10.4.0.1', sendRules);
      expect((await hit()).allowed).toBe(true);
      for (let n = 0; n < 5; n++) expect((await hit()).allowed).toBe(false);
      clock.advance(30_000);
      expect((await hit()).allowed).toBe(true);
      clock.advance(30_000);
      expect((await hit()).allowed).toBe(true);
      clock.advance(30_000);
      // Its share of 3 is spent by the three that went through, not by the five refused.
      const over = await hit();
      expect(over.allowed).toBe(false);
      expect(over.retryAfterSeconds).toBeGreaterThan(3000);
    });

    it('opens ended windows anew over the item, and counts concurrent hits there atomically too', async () => {
      const rules = { windows: [{ limit: 4, windowSeconds: 60 }], perMember: { limit: 100, windowSeconds: 60 } };
      for (let n = 0; n < 4; n++) expect((await limiter().hitAll('phone#ended', `10.5.0.${n}`, rules)).allowed).toBe(true);
      expect((await limiter().hitAll('phone#ended', '10.5.0.9', rules)).allowed).toBe(false);
      clock.advance(60_000);
      const hits = await Promise.all(Array.from({ length: 10 }, (_, n) => limiter().hitAll('phone#ended', `10.5.1.${n}`, rules)));
      expect(hits.filter((decision) => decision.allowed)).toHaveLength(4);
    });

    it('drops the members of an ended window, so an item holds no more members than its window let through', async () => {
      const rules = { windows: [{ limit: 100, windowSeconds: 3600 }], perMember: { limit: 1, windowSeconds: 10 } };
      for (let n = 0; n < 5; n++) expect((await limiter().hitAll('phone#drop', `10.6.0.${n}`, rules)).allowed).toBe(true);
      expect((await limiter().hitAll('phone#drop', '10.6.0.0', rules)).allowed).toBe(false);
      clock.advance(10_000);
      expect((await limiter().hitAll('phone#drop', '10.6.0.0', rules)).allowed).toBe(true);
      const { Item } = await emulators.dynamo.send(
        new GetItemCommand({ TableName: emulators.tableNames.rateLimits, Key: marshall({ pk: rateLimitCounterKey('phone#drop') }) }),
      );
      const members = Object.keys(unmarshall(Item!)).filter((name) => name.startsWith('m:'));
      expect(members).toEqual(['m:10.6.0.0']);
    });

    it('answers a refusal with the longest wait among the windows that refuse it', async () => {
      const hit = () => limiter().hitAll('phone#wait', '10.7.0.1', { ...sendRules, perMember: { limit: 1, windowSeconds: 3600 } });
      expect((await hit()).allowed).toBe(true);
      clock.advance(10_000);
      // The cooldown (20 s left) and the member's share (3590 s left) both refuse.
      expect(await hit()).toEqual({ allowed: false, retryAfterSeconds: 3590 });
    });

    it('decides from the counts DynamoDB returns with a refusal: a refused hit is one call, ended windows two', async () => {
      // As on AWS: the refusal carries the item (service/local/condition-failure-items.ts models it).
      const client = new DynamoDBClient({ region: emulatorRegion, credentials: emulatorCredentials, endpoint: emulators.dynamoEndpoint });
      returnItemsOnConditionFailure(client, emulators.dynamoEndpoint);
      const recorder = new AwsCallRecorder();
      recorder.watch(client, 'dynamodb');
      const own = new TestClock(clock.now());
      const aws = new DynamoRateLimiter(client, emulators.tableNames.rateLimits, own);
      const plain = new DynamoRateLimiter(emulators.dynamo, emulators.tableNames.rateLimits, own);
      const commands = () => recorder.take().map((call) => call.command);
      expect((await aws.hitAll('phone#aws', '10.8.0.1', sendRules)).allowed).toBe(true);
      expect(commands()).toEqual(['UpdateItem']);
      expect((await aws.hitAll('phone#aws', '10.8.0.1', sendRules)).allowed).toBe(false);
      expect(commands()).toEqual(['UpdateItem']);
      own.advance(2 * 3600_000);
      expect((await aws.hitAll('phone#aws', '10.8.0.1', sendRules)).allowed).toBe(true);
      expect(commands()).toEqual(['UpdateItem', 'PutItem']);
      // Without the item in the refusal (dynalite as it is), the same decisions read it first.
      own.advance(2 * 3600_000);
      expect((await plain.hitAll('phone#aws', '10.8.0.1', sendRules)).allowed).toBe(true);
      expect((await plain.hitAll('phone#aws', '10.8.0.1', sendRules)).allowed).toBe(false);
      client.destroy();
    });

    it('takes a hit back, unless another hit counted since', async () => {
      const own = new TestClock(clock.now());
      const counter = new DynamoRateLimiter(emulators.dynamo, emulators.tableNames.rateLimits, own);
      const hit = (member = '10.9.0.1') => counter.hitAll('phone#undo', member, sendRules);
      const first = await hit();
      await first.undo!();
      // No counts before it: none after.
      const second = await hit();
      expect(second.allowed).toBe(true);
      own.advance(31_000);
      const third = await hit();
      await third.undo!();
      own.advance(1_000);
      // The counts as they were after the second: its cooldown has ended, one of the member's 3 spent...
      expect((await hit()).allowed).toBe(true);
      own.advance(31_000);
      expect((await hit()).allowed).toBe(true);
      own.advance(31_000);
      expect((await hit()).allowed).toBe(false);
      // ...and a hit taken back after another one counted stays counted.
      own.advance(3600_000);
      const early = await hit('10.9.0.2');
      own.advance(31_000);
      expect((await hit('10.9.0.3')).allowed).toBe(true);
      await early.undo!();
      own.advance(31_000);
      expect((await hit('10.9.0.4')).allowed).toBe(true);
      const { Item } = await emulators.dynamo.send(
        new GetItemCommand({ TableName: emulators.tableNames.rateLimits, Key: marshall({ pk: rateLimitCounterKey('phone#undo') }) }),
      );
      expect(unmarshall(Item!)).toMatchObject({ w1Hits: 3, 'm:10.9.0.2': 1 });
    });

    it('never takes back a hit counted on the item made again after the counts were forgotten', async () => {
      const counter = limiter();
      const early = await counter.hitAll('phone#aba', '10.9.1.1', sendRules);
      // The account is deleted (its counters forgotten) and a send counts on a new item.
      await counter.forget(['phone#aba']);
      expect((await counter.hitAll('phone#aba', '10.9.1.2', sendRules)).allowed).toBe(true);
      expect(await early.undo!()).toBe(false);
      expect((await counter.hitAll('phone#aba', '10.9.1.3', sendRules)).allowed).toBe(false);
    });

    it('never moves the revision back when it takes a hit back, so a write conditioned on the counted state fails', async () => {
      const own = new TestClock(clock.now());
      const counter = new DynamoRateLimiter(emulators.dynamo, emulators.tableNames.rateLimits, own);
      await counter.hitAll('phone#rev', '10.9.2.1', sendRules);
      const key = { TableName: emulators.tableNames.rateLimits, Key: marshall({ pk: rateLimitCounterKey('phone#rev') }), ConsistentRead: true };
      const revision = async () => unmarshall((await emulators.dynamo.send(new GetItemCommand(key))).Item!).rev as number;
      const first = await revision();
      own.advance(31_000);
      const hit = await counter.hitAll('phone#rev', '10.9.2.2', sendRules);
      const counted = await revision();
      expect(counted).toBe(first + 1);
      expect(await hit.undo!()).toBe(true);
      // Taken back: the counts as they were, under a revision never used before.
      expect(await revision()).toBeGreaterThan(counted);
    });

    it('forgets counters', async () => {
      await limiter().hit('forget#c', 1, 60);
      expect((await limiter().hit('forget#c', 1, 60)).allowed).toBe(false);
      await limiter().forget(['forget#c']);
      expect((await limiter().hit('forget#c', 1, 60)).allowed).toBe(true);
    });
  });

  describe('OTP challenges', () => {
    const store = () => new DynamoOtpChallengeStore(emulators.dynamo, emulators.tableNames.rateLimits);
    const challenge = (id: string) => ({
      phone: '+14155550100',
      id,
      via: 'provider' as const,
      failures: 0,
      expiresAt: Date.parse('2026-03-01T00:10:00Z'),
    });

    it('is consumed by exactly one of many concurrent attempts', async () => {
      await store().open(challenge('c1'));
      const consumed = await Promise.all(Array.from({ length: 10 }, () => store().consume('+14155550100', 'c1')));
      expect(consumed.filter(Boolean)).toHaveLength(1);
      expect(await store().get('+14155550100')).toBeUndefined();
    });

    it('counts attempts per challenge, and a new challenge starts from zero', async () => {
      await store().open(challenge('c2'));
      await Promise.all(Array.from({ length: 4 }, () => store().attempt('+14155550100', randomIp(), { total: 5, perSource: 5 }, clock.now())));
      expect((await store().get('+14155550100'))?.attempts).toBe(4);
      await store().open(challenge('c3'));
      expect((await store().get('+14155550100'))?.attempts).toBe(0);
    });

    it('counts at most `limit` of many concurrent attempts, and says why it refused the rest', async () => {
      await store().open(challenge('c4'));
      const outcomes = await Promise.all(Array.from({ length: 40 }, () => store().attempt('+14155550100', randomIp(), { total: 5, perSource: 5 }, clock.now())));
      expect(outcomes.filter((o) => o.outcome === 'counted')).toHaveLength(5);
      expect(outcomes.filter((o) => o.outcome === 'exhausted')).toHaveLength(35);
      expect((await store().get('+14155550100'))?.attempts).toBe(5);
      expect(await store().attempt('+14155550199', '10.0.0.1', { total: 5, perSource: 3 }, clock.now())).toEqual({ outcome: 'none' });
      const late = Date.parse('2026-03-01T00:10:00Z');
      await store().open(challenge('c5'));
      expect(await store().attempt('+14155550100', '10.0.0.1', { total: 5, perSource: 3 }, late)).toEqual({ outcome: 'none' });
    });

    it('lets one source make only its share of the attempts', async () => {
      await store().open(challenge('c6'));
      const limit = { total: 5, perSource: 3 };
      const mine = await Promise.all(Array.from({ length: 10 }, () => store().attempt('+14155550100', '10.0.0.1', limit, clock.now())));
      expect(mine.filter((o) => o.outcome === 'counted')).toHaveLength(3);
      expect(mine.filter((o) => o.outcome === 'exhausted')).toHaveLength(7);
      expect((await store().attempt('+14155550100', '2001:db8::1', limit, clock.now())).outcome).toBe('counted');
      expect((await store().attempt('+14155550100', '10.0.0.2', limit, clock.now())).outcome).toBe('counted');
      expect((await store().attempt('+14155550100', '10.0.0.3', limit, clock.now())).outcome).toBe('exhausted');
    });

    it('keeps the attempts of a test number across new codes until its window ends', async () => {
      const phone = '+14155550101';
      const now = clock.now();
      const code = (id: string) => ({ ...challenge(id), phone, via: 'test-number' as const });
      await store().openKeepingAttempts(code('t1'), now + 600_000, now);
      await Promise.all(Array.from({ length: 3 }, () => store().attempt(phone, randomIp(), { total: 5, perSource: 5 }, now)));
      // A resend of the pending challenge keeps its id, and its attempts.
      await store().openKeepingAttempts(code('t2'), now + 600_000, now);
      expect(await store().get(phone)).toMatchObject({ id: 't1', attempts: 3 });
      // The window ended: a new challenge, a new id.
      await store().openKeepingAttempts(code('t3'), now + 700_000, now + 600_001);
      expect(await store().get(phone)).toMatchObject({ id: 't3', attempts: 0 });
      // Consumed, the next send opens a challenge of its own.
      expect(await store().consume(phone, 't3')).toBe(true);
      await store().openKeepingAttempts(code('t4'), now + 700_000, now + 600_002);
      expect(await store().get(phone)).toMatchObject({ id: 't4' });
    });
  });

  describe('refresh tokens', () => {
    const store = () => new DynamoRefreshTokenStore(emulators.dynamo, emulators.tableNames.refreshTokens);
    const token = (n: number, userId: string, familyId = 'f1') => ({
      hash: `${userId}-${n}-`.padEnd(64, '0'),
      pepperKid: 'p1',
      userId,
      familyId,
      issuedAt: 1,
      expiresAt: Date.parse('2026-04-01T00:00:00Z'),
    });

    it('refuses to overwrite a token', async () => {
      await store().putToken(token(0, 'dup'));
      await expect(store().putToken(token(0, 'dup'))).rejects.toThrow(/conditional/i);
    });

    it('stores a derived child once, however many concurrent refreshes put it', async () => {
      const puts = await Promise.all(Array.from({ length: 5 }, () => store().putDerivedToken(token(0, 'child'))));
      expect(puts.filter(Boolean)).toHaveLength(1);
      expect(await store().getToken(token(0, 'child').hash)).toMatchObject({ userId: 'child' });
    });

    it('moves a family head only from the expected head, and never once revoked', async () => {
      await store().createFamily({
        id: 'fam', userId: 'u', status: 'active', head: 'h0', previous: null, previousRotatedAt: null,
        createdAt: 0, expiresAt: Date.parse('2026-09-01T00:00:00Z'),
      });
      expect(await store().advanceHead('fam', 'wrong', { head: 'h1', previous: 'h0', previousRotatedAt: 1 })).toBe(false);
      expect(await store().advanceHead('fam', 'h0', { head: 'h1', previous: 'h0', previousRotatedAt: 1 })).toBe(true);
      await store().revokeFamily('fam', 'logout');
      await store().revokeFamily('fam', 'reuse');
      expect(await store().advanceHead('fam', 'h1', { head: 'h2', previous: 'h1', previousRotatedAt: 2 })).toBe(false);
      expect(await store().getFamily('fam')).toMatchObject({ status: 'revoked', head: 'h1', revokedReason: 'logout' });
      await store().revokeFamily('no-such-family', 'logout');
      expect(await store().getFamily('no-such-family')).toBeUndefined();
    });

    it('deletes every token and family of a user, past one batch, and nothing else', async () => {
      await Promise.all(Array.from({ length: 60 }, (_, n) => store().putToken(token(n, 'many'))));
      await store().createFamily({
        id: 'many-fam', userId: 'many', status: 'active', head: 'x', previous: null, previousRotatedAt: null,
        createdAt: 0, expiresAt: Date.parse('2026-09-01T00:00:00Z'),
      });
      await store().putToken(token(0, 'other'));
      await store().deleteAllForUser('many');
      expect(await store().getToken(token(59, 'many').hash)).toBeUndefined();
      expect(await store().getFamily('many-fam')).toBeUndefined();
      expect(await store().getToken(token(0, 'other').hash)).toBeDefined();
    });
  });

  describe('users', () => {
    const store = () => new DynamoUserStore(emulators.dynamo, emulators.tableNames.users);
    const user = { id: 'u1', phone: '+14155550177', name: null, photoKey: null, createdAt: 'a', updatedAt: '1' };

    it('replaces a user only from the version it read', async () => {
      expect(await store().createUser(user)).toBe(true);
      expect(await store().createUser(user)).toBe(false);
      expect(await store().replaceUser({ ...user, name: 'A', updatedAt: '2' }, '1')).toBe(true);
      expect(await store().replaceUser({ ...user, name: 'B', updatedAt: '3' }, '1')).toBe(false);
      expect((await store().get('u1'))?.name).toBe('A');
    });

    it('releases a phone claim only for its owner', async () => {
      expect(await store().claimPhone('+14155550178', 'owner')).toBe('owner');
      expect(await store().claimPhone('+14155550178', 'intruder')).toBe('owner');
      await store().releasePhone('+14155550178', 'intruder');
      expect(await store().claimPhone('+14155550178', 'third')).toBe('owner');
      await store().releasePhone('+14155550178', 'owner');
      expect(await store().claimPhone('+14155550178', 'third')).toBe('third');
    });
  });
});
