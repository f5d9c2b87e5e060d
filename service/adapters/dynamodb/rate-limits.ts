import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type {
  AttemptLimit,
  ChallengeAttempt,
  Clock,
  OtpChallenge,
  OtpChallengeStore,
  RateLimitDecision,
  RateLimiter,
} from '../../core/ports.js';
import { otpChallengeKey, rateLimitCounterKey, ttlSeconds } from './keys.js';
import { isConditionFailure } from './tables.js';

/**
 * How many members (source addresses) one key counts in a window: far more than honest use needs, and
 * it keeps the item small however many addresses an attacker rotates through (they meet the per-phone
 * ceiling long before).
 */
const maxMembers = 100;

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

  async hitMember(key: string, member: string, limit: number, windowSeconds: number): Promise<RateLimitDecision> {
    const pk = rateLimitCounterKey(key);
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.clock.now();
      try {
        const { Attributes } = await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: marshall({ pk }),
            UpdateExpression: 'SET members.#member = if_not_exists(members.#member, :zero) + :one',
            ConditionExpression: 'windowEndsAt > :now AND (attribute_exists(members.#member) OR size(members) < :most)',
            ExpressionAttributeNames: { '#member': member },
            ExpressionAttributeValues: marshall({ ':zero': 0, ':one': 1, ':now': now, ':most': maxMembers }),
            ReturnValues: 'ALL_NEW',
          }),
        );
        const { members, windowEndsAt } = unmarshall(Attributes!);
        return { allowed: members[member] <= limit, retryAfterSeconds: (windowEndsAt - now) / 1000 };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      if (await this.openWindow(pk, { members: { [member]: 1 } }, now, windowSeconds)) {
        return { allowed: 1 <= limit, retryAfterSeconds: windowSeconds };
      }
      // Either a concurrent first hit opened the window (count again), or the open window refused a
      // new member because it already counts as many as it may hold.
      const { Item } = await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk }), ConsistentRead: true }),
      );
      const current = Item && unmarshall(Item);
      const full = current && !(member in current.members) && Object.keys(current.members).length >= maxMembers;
      if (full && current.windowEndsAt > now) {
        return { allowed: false, retryAfterSeconds: (current.windowEndsAt - now) / 1000 };
      }
    }
    throw new Error(`rate-limit counter ${key.split('#')[0]} kept changing`);
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
      // the window, so a send makes one round trip here.
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: otpChallengeKey(challenge.phone) }),
          UpdateExpression:
            'SET phone = :phone, challengeId = :id, via = :via, expiresAtMs = :expiresAtMs, expiresAt = :ttl,' +
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
