import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type {
  Clock,
  OtpChallenge,
  OtpChallengeStore,
  RateLimitDecision,
  RateLimiter,
} from '../../core/ports.js';
import { otpChallengeKey, rateLimitCounterKey, ttlSeconds } from './keys.js';
import { isConditionFailure } from './tables.js';

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
      try {
        const { Attributes } = await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: marshall({ pk }),
            UpdateExpression: 'ADD hits :one',
            ConditionExpression: 'windowEndsAt > :now',
            ExpressionAttributeValues: marshall({ ':one': 1, ':now': now }),
            ReturnValues: 'ALL_NEW',
          }),
        );
        const { hits, windowEndsAt } = unmarshall(Attributes!);
        return { allowed: hits <= limit, retryAfterSeconds: (windowEndsAt - now) / 1000 };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      // No open window: start one, unless a concurrent hit just did.
      const windowEndsAt = now + windowSeconds * 1000;
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: marshall({ pk, hits: 1, windowEndsAt, expiresAt: ttlSeconds(windowEndsAt) }),
            ConditionExpression: 'attribute_not_exists(pk) OR windowEndsAt <= :now',
            ExpressionAttributeValues: marshall({ ':now': now }),
          }),
        );
        return { allowed: 1 <= limit, retryAfterSeconds: windowSeconds };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    throw new Error(`rate-limit counter ${key} kept changing`);
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

/** Pending OTP challenges, also in the RateLimits table: short-lived, per phone, with TTL. */
export class DynamoOtpChallengeStore implements OtpChallengeStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async open(challenge: OtpChallenge): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({
          pk: otpChallengeKey(challenge.phone),
          phone: challenge.phone,
          challengeId: challenge.id,
          via: challenge.via,
          failures: challenge.failures,
          expiresAt: ttlSeconds(challenge.expiresAt),
        }),
      }),
    );
  }

  async get(phone: string): Promise<OtpChallenge | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: otpChallengeKey(phone) }),
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const item = unmarshall(Item);
    return {
      phone: item.phone,
      id: item.challengeId,
      via: item.via,
      failures: item.failures,
      expiresAt: item.expiresAt * 1000,
    };
  }

  async recordFailure(phone: string, challengeId: string): Promise<number> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: otpChallengeKey(phone) }),
          UpdateExpression: 'ADD failures :one',
          ConditionExpression: 'challengeId = :id',
          ExpressionAttributeValues: marshall({ ':one': 1, ':id': challengeId }),
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return unmarshall(Attributes!).failures as number;
    } catch (error) {
      // A new code replaced the challenge meanwhile; its count starts afresh.
      if (isConditionFailure(error)) return 0;
      throw error;
    }
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
}
