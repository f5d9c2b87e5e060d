import {
  type AttributeValue,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { randomInt } from 'node:crypto';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type {
  AttemptLimit,
  CountedHit,
  HitAllRules,
  ChallengeAttempt,
  Clock,
  OtpChallenge,
  OtpChallengeStore,
  RateLimitDecision,
  RateLimiter,
} from '../../core/ports.js';
import { otpChallengeKey, rateLimitCounterKey, ttlSeconds } from './keys.js';
import { isConditionFailure } from './tables.js';
import type { WindowLimit } from '../../settings.js';

/**
 * Counters in the RateLimits table. A window opens at a key's first hit and lasts `windowSeconds`,
 * so a 1-per-30-s cooldown really is 30 s from the send (an epoch-aligned window would let two
 * sends through a second apart across its boundary). Each hit is one atomic conditional write.
 */
export class DynamoRateLimiter implements RateLimiter {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly clock: Clock,
  ) {}

  async hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision> {
    const pk = rateLimitCounterKey(key);
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.clock.now();
      const windowEndsAt = now + windowSeconds * 1000;
      try {
        // One write counts the hit in the open window, or opens the window when there is no counter
        // yet (the usual first hit: no second round trip).
        const { Attributes } = await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: marshall({ pk }),
            UpdateExpression:
              'ADD hits :one SET windowEndsAt = if_not_exists(windowEndsAt, :windowEndsAt), expiresAt = if_not_exists(expiresAt, :ttl)',
            ConditionExpression: 'attribute_not_exists(pk) OR windowEndsAt > :now',
            ExpressionAttributeValues: marshall({ ':one': 1, ':now': now, ':windowEndsAt': windowEndsAt, ':ttl': ttlSeconds(windowEndsAt) }),
            ReturnValues: 'ALL_NEW',
          }),
        );
        const counted = unmarshall(Attributes!);
        return { allowed: counted.hits <= limit, retryAfterSeconds: (counted.windowEndsAt - now) / 1000 };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      // A counter whose window has ended (not yet removed by TTL): start a new window over it,
      // unless a concurrent hit just did.
      if (await this.openWindow(pk, { hits: 1 }, now, windowSeconds)) {
        return { allowed: 1 <= limit, retryAfterSeconds: windowSeconds };
      }
    }
    // The key names a phone or an address: only its policy goes into the message (and so the logs).
    throw new Error(`rate-limit counter ${key.split('#')[0]} kept changing`);
  }

  async hitAll(key: string, member: string, rules: HitAllRules): Promise<CountedHit> {
    if (rules.windows.length === 0) throw new Error('hitAll needs at least one window of the key');
    const pk = rateLimitCounterKey(key);
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.clock.now();
      // A new item's first revision is random: one made again after the counts were forgotten (the
      // account deleted) never has the revision a take-back of a hit on the old one expects.
      const firstRev = randomInt(2 ** 47);
      const refused = await this.countInOpenWindows(pk, member, rules, now, firstRev);
      if ('counted' in refused) return this.counted(pk, refused.counted, nextRev(refused.counted, firstRev), { member, rules, now });
      // Refused, or windows have ended and must be written anew over the item: decide from the counts
      // DynamoDB returned with the refusal, or (an endpoint that returns none) read them now.
      const current = refused.current ?? (await this.readCounts(pk));
      const next = nextCounts(current, member, rules, now, firstRev);
      if (!('item' in next)) return { allowed: false, retryAfterSeconds: next.retryAfterSeconds };
      if (await this.replaceCounts(pk, current, next.item)) return this.counted(pk, current, next.item.rev as number, { member, rules, now });
      // Another hit changed the item since it was read: count again.
    }
    throw new Error(`rate-limit counter ${key.split('#')[0]} kept changing`);
  }

  /**
   * One conditional write that counts the hit when the key has no counts yet, or when every window
   * is open with room (a window that lets one hit through has room only once it has ended, so its
   * next window is opened here too). Refused, it returns the counts as they were, when DynamoDB
   * sends them with the refusal (`ReturnValuesOnConditionCheckFailure`).
   */
  private async countInOpenWindows(
    pk: string,
    member: string,
    rules: HitAllRules,
    now: number,
    firstRev: number,
  ): Promise<{ counted: Record<string, any> | undefined } | { current: Record<string, any> | undefined }> {
    const names: Record<string, string> = { '#member': memberAttribute(member), '#rev': 'rev' };
    const values: Record<string, unknown> = {
      ':now': now,
      ':one': 1,
      ':zero': 0,
      ':firstRev': firstRev - 1,
      ':memberLimit': rules.perMember.limit,
      ':memberEnd': now + rules.perMember.windowSeconds * 1000,
      ':ttl': ttlSeconds(now + longestWindowSeconds(rules) * 1000),
    };
    const conditions: string[] = [];
    const updates: string[] = [];
    rules.windows.forEach((rule, index) => {
      const [end, hits] = [`w${index}End`, `w${index}Hits`];
      values[`:${end}`] = now + rule.windowSeconds * 1000;
      if (rule.limit === 1) {
        conditions.push(`(attribute_not_exists(${end}) OR ${end} <= :now)`);
        updates.push(`${end} = :${end}`, `${hits} = :one`);
      } else {
        values[`:${hits}Limit`] = rule.limit;
        conditions.push(`(attribute_not_exists(${end}) OR (${end} > :now AND ${hits} < :${hits}Limit))`);
        updates.push(`${end} = if_not_exists(${end}, :${end})`, `${hits} = if_not_exists(${hits}, :zero) + :one`);
      }
    });
    // Members are attributes of their own, not entries of a map: a map entry cannot be set on an item
    // that does not exist yet, and the first hit must need one write too.
    conditions.push('(attribute_not_exists(memberEnd) OR (memberEnd > :now AND (attribute_not_exists(#member) OR #member < :memberLimit)))');
    updates.push(
      'memberEnd = if_not_exists(memberEnd, :memberEnd)',
      '#member = if_not_exists(#member, :zero) + :one',
      '#rev = if_not_exists(#rev, :firstRev) + :one',
      'expiresAt = :ttl',
    );
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk }),
          UpdateExpression: `SET ${updates.join(', ')}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: marshall(values),
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { counted: Attributes && unmarshall(Attributes) };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = (error as { Item?: Record<string, AttributeValue> }).Item;
      return { current: item && unmarshall(item) };
    }
  }

  /**
   * An allowed hit of `member`, written as revision `written`, with the way back to `before` (the
   * counts it replaced; none: no item), all of it or all but the key's first window.
   */
  private counted(
    pk: string,
    before: Record<string, any> | undefined,
    written: number,
    hit: { member: string; rules: HitAllRules; now: number },
  ): CountedHit {
    const undo = async (options: { keepFirstWindow?: boolean } = {}) => {
      const unchanged = { ConditionExpression: '#rev = :rev', ExpressionAttributeNames: { '#rev': 'rev' }, ExpressionAttributeValues: marshall({ ':rev': written }) };
      // The counts as they were, under a revision never used before (going back to the old one would
      // let a write conditioned on it land on other counts); with `keepFirstWindow`, the first window
      // as the hit left it.
      let restored: Record<string, any> | undefined = before && { ...before, rev: written + 1 };
      if (options.keepFirstWindow) {
        const after = nextCounts(before, hit.member, hit.rules, hit.now, written);
        if (!('item' in after)) throw new Error('a counted hit has no counts');
        restored = { ...before, pk, w0End: after.item.w0End, w0Hits: after.item.w0Hits, rev: written + 1, expiresAt: after.item.expiresAt };
      }
      try {
        if (restored) await this.client.send(new PutItemCommand({ TableName: this.tableName, Item: marshall(restored), ...unchanged }));
        else await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: marshall({ pk }), ...unchanged }));
        return true;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        return false;
      }
    };
    return { allowed: true, retryAfterSeconds: 0, undo };
  }

  private async readCounts(pk: string): Promise<Record<string, any> | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk }), ConsistentRead: true }),
    );
    return Item && unmarshall(Item);
  }

  /** Writes `next` over the counts read (`current`), unless another hit changed them since. */
  private async replaceCounts(pk: string, current: Record<string, any> | undefined, next: Record<string, unknown>): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ ...next, pk }),
          ...(current
            ? { ConditionExpression: '#rev = :rev', ExpressionAttributeNames: { '#rev': 'rev' }, ExpressionAttributeValues: marshall({ ':rev': current.rev }) }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Writes a counter with a fresh window unless an open one exists; returns whether it did. */
  private async openWindow(pk: string, counts: Record<string, unknown>, now: number, windowSeconds: number): Promise<boolean> {
    const windowEndsAt = now + windowSeconds * 1000;
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ pk, ...counts, windowEndsAt, expiresAt: ttlSeconds(windowEndsAt) }),
          ConditionExpression: 'attribute_not_exists(pk) OR windowEndsAt <= :now',
          ExpressionAttributeValues: marshall({ ':now': now }),
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  async forget(keys: readonly string[]): Promise<void> {
    await Promise.all(
      keys.map((key) =>
        this.client.send(
          new DeleteItemCommand({ TableName: this.tableName, Key: marshall({ pk: rateLimitCounterKey(key) }) }),
        ),
      ),
    );
  }
}

const memberAttribute = (member: string) => `m:${member}`;

const longestWindowSeconds = (rules: HitAllRules) =>
  Math.max(rules.perMember.windowSeconds, ...rules.windows.map((rule) => rule.windowSeconds));

/** The revision a write over `current` gives the item: one more, or `firstRev` on a new item. */
const nextRev = (current: Record<string, any> | undefined, firstRev: number): number =>
  typeof current?.rev === 'number' ? current.rev + 1 : firstRev;

/**
 * What `hitAll` writes after a refused conditional write, from the counts it then read: a refusal
 * (with the longest wait among the windows that refuse), or the counts with the hit in them, each
 * ended window opened anew and, if the members' window ended, its members dropped.
 */
export function nextCounts(
  current: Record<string, any> | undefined,
  member: string,
  rules: HitAllRules,
  now: number,
  firstRev: number,
): { item: Record<string, unknown> } | { retryAfterSeconds: number } {
  const waits: number[] = [];
  const item: Record<string, unknown> = {};
  const count = (end: unknown, hits: number, rule: WindowLimit) => {
    if (typeof end === 'number' && end > now) {
      if (hits >= rule.limit) waits.push(end - now);
      return { end, hits: hits + 1 };
    }
    return { end: now + rule.windowSeconds * 1000, hits: 1 };
  };
  rules.windows.forEach((rule, index) => {
    const counted = count(current?.[`w${index}End`], current?.[`w${index}Hits`] ?? 0, rule);
    item[`w${index}End`] = counted.end;
    item[`w${index}Hits`] = counted.hits;
  });
  const membersOpen = typeof current?.memberEnd === 'number' && current.memberEnd > now;
  if (membersOpen) {
    for (const [name, value] of Object.entries(current!)) if (name.startsWith('m:')) item[name] = value;
  }
  const counted = count(current?.memberEnd, membersOpen ? (current![memberAttribute(member)] ?? 0) : 0, rules.perMember);
  item.memberEnd = counted.end;
  item[memberAttribute(member)] = counted.hits;
  if (waits.length > 0) return { retryAfterSeconds: Math.max(...waits) / 1000 };
  item.rev = nextRev(current, firstRev);
  item.expiresAt = ttlSeconds(now + longestWindowSeconds(rules) * 1000);
  return { item };
}

/**
 * Pending OTP challenges, also in the RateLimits table: short-lived, per phone, with TTL. `expiresAtMs`
 * is the exact end of the code's life; `expiresAt` is DynamoDB's TTL (seconds, and later for test
 * numbers, whose attempt window outlives one code).
 */
export class DynamoOtpChallengeStore implements OtpChallengeStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async open(challenge: Omit<OtpChallenge, 'attempts'>): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({ ...this.challengeItem(challenge, challenge.expiresAt), attempts: 0, sources: {} }),
      }),
    );
  }

  async openKeepingAttempts(
    challenge: Omit<OtpChallenge, 'attempts'>,
    windowEndsAt: number,
    now: number,
    options: { resetTotal?: boolean } = {},
  ): Promise<void> {
    try {
      // Within the pending window: a new code; the same per-source counts, and the same total
      // unless asked to reset it. No challenge at all (the usual first send): the same write opens
      // the window, so a send makes one round trip here. A pending challenge keeps its id: a resend
      // is the provider's same verification (the same code), and a right code being checked while it
      // lands still consumes the challenge it was checked against.
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: otpChallengeKey(challenge.phone) }),
          UpdateExpression:
            'SET phone = :phone, challengeId = if_not_exists(challengeId, :id), via = :via, expiresAtMs = :expiresAtMs, expiresAt = :ttl,' +
            ' sources = if_not_exists(sources, :noSources), windowEndsAt = if_not_exists(windowEndsAt, :windowEndsAt),' +
            (options.resetTotal ? ' attempts = :zero' : ' attempts = if_not_exists(attempts, :zero)'),
          ConditionExpression: 'attribute_not_exists(pk) OR windowEndsAt > :now',
          ExpressionAttributeValues: marshall({
            ':phone': challenge.phone,
            ':id': challenge.id,
            ':via': challenge.via,
            ':expiresAtMs': challenge.expiresAt,
            // The item must outlive the window too; the window is at most `windowEndsAt` away.
            ':ttl': ttlSeconds(Math.max(challenge.expiresAt, windowEndsAt)),
            ':now': now,
            ':noSources': {},
            ':windowEndsAt': windowEndsAt,
            ':zero': 0,
          }),
        }),
      );
      return;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    // A challenge whose window has ended: start a new window over it. A concurrent send may have
    // started it first; either way the count is never lowered while a window is open.
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({
            ...this.challengeItem(challenge, Math.max(challenge.expiresAt, windowEndsAt)),
            attempts: 0,
            sources: {},
            windowEndsAt,
          }),
          ConditionExpression: 'attribute_not_exists(pk) OR attribute_not_exists(windowEndsAt) OR windowEndsAt <= :now',
          ExpressionAttributeValues: marshall({ ':now': now }),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      await this.openKeepingAttempts(challenge, windowEndsAt, now, options);
    }
  }

  async get(phone: string): Promise<OtpChallenge | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: otpChallengeKey(phone) }),
        ConsistentRead: true,
      }),
    );
    return Item && challengeOf(unmarshall(Item));
  }

  async attempt(
    phone: string,
    source: string,
    limit: AttemptLimit,
    now: number,
    retried = false,
  ): Promise<ChallengeAttempt> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: otpChallengeKey(phone) }),
          // Per-source counts live in the challenge: at most `total` entries, gone with it.
          UpdateExpression: 'SET attempts = attempts + :one, sources.#source = if_not_exists(sources.#source, :zero) + :one',
          ConditionExpression:
            'attribute_exists(challengeId) AND expiresAtMs > :now AND attempts < :total' +
            ' AND (attribute_not_exists(sources.#source) OR sources.#source < :perSource)',
          ExpressionAttributeNames: { '#source': source },
          ExpressionAttributeValues: marshall({
            ':one': 1,
            ':zero': 0,
            ':now': now,
            ':total': limit.total,
            ':perSource': limit.perSource,
          }),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { outcome: 'counted', challenge: challengeOf(unmarshall(Attributes!)) };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    // Refused: only now read why (no challenge, an expired one, or one used up), off the happy path.
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk: otpChallengeKey(phone) }), ConsistentRead: true }),
    );
    const current = Item && unmarshall(Item);
    if (!current || challengeOf(current).expiresAt <= now) return { outcome: 'none' };
    if (current.attempts >= limit.total || (current.sources?.[source] ?? 0) >= limit.perSource) {
      return { outcome: 'exhausted' };
    }
    // A new code replaced the challenge between the write and the read: count against that one, once.
    return retried ? { outcome: 'none' } : this.attempt(phone, source, limit, now, true);
  }

  async consume(phone: string, challengeId: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: otpChallengeKey(phone) }),
          ConditionExpression: 'challengeId = :id',
          ExpressionAttributeValues: marshall({ ':id': challengeId }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async forget(phone: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: marshall({ pk: otpChallengeKey(phone) }) }),
    );
  }

  private challengeItem(challenge: Omit<OtpChallenge, 'attempts'>, keepUntil: number) {
    return {
      pk: otpChallengeKey(challenge.phone),
      phone: challenge.phone,
      challengeId: challenge.id,
      via: challenge.via,
      expiresAtMs: challenge.expiresAt,
      expiresAt: ttlSeconds(keepUntil),
    };
  }
}

function challengeOf(item: Record<string, any>): OtpChallenge {
  return {
    phone: item.phone,
    id: item.challengeId,
    via: item.via,
    attempts: item.attempts ?? 0,
    // Items written before attempts were counted up front have no exact expiry: treat them as gone.
    expiresAt: item.expiresAtMs ?? 0,
  };
}
