import {
  BatchWriteItemCommand,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { RefreshTokenRecord, RefreshTokenStore, TokenFamily } from '../../core/ports.js';
import { refreshTokenKey, tokenFamilyKey, ttlSeconds } from './keys.js';
import { isConditionFailure } from './tables.js';

const batchSize = 25;

/**
 * RefreshTokens table: one item per token (keyed by its HMAC) and one per family, both carrying
 * `userId` for the byUser index and `expiresAt` (epoch seconds) for TTL.
 */
export class DynamoRefreshTokenStore implements RefreshTokenStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async putToken(record: RefreshTokenRecord): Promise<void> {
    await this.writeToken(record);
  }

  async putDerivedToken(record: RefreshTokenRecord): Promise<boolean> {
    try {
      await this.writeToken(record);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async writeToken(record: RefreshTokenRecord): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({
          pk: refreshTokenKey(record.hash),
          kind: 'token',
          hash: record.hash,
          pepperKid: record.pepperKid,
          userId: record.userId,
          familyId: record.familyId,
          issuedAt: record.issuedAt,
          expiresAt: ttlSeconds(record.expiresAt),
          ...(record.familyExpiresAt !== undefined && { familyExpiresAt: record.familyExpiresAt }),
        }),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getToken(hash: string): Promise<RefreshTokenRecord | undefined> {
    const item = await this.read(refreshTokenKey(hash));
    if (!item) return undefined;
    return {
      hash: item.hash,
      pepperKid: item.pepperKid,
      userId: item.userId,
      familyId: item.familyId,
      issuedAt: item.issuedAt,
      expiresAt: item.expiresAt * 1000,
      ...(typeof item.familyExpiresAt === 'number' && { familyExpiresAt: item.familyExpiresAt }),
    };
  }

  async deleteToken(hash: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: marshall({ pk: refreshTokenKey(hash) }) }),
    );
  }

  async createFamily(family: TokenFamily): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(
          {
            pk: tokenFamilyKey(family.id),
            kind: 'family',
            familyId: family.id,
            userId: family.userId,
            status: family.status,
            head: family.head,
            previous: family.previous,
            previousRotatedAt: family.previousRotatedAt,
            createdAt: family.createdAt,
            expiresAt: ttlSeconds(family.expiresAt),
          },
          { removeUndefinedValues: true },
        ),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getFamily(id: string): Promise<TokenFamily | undefined> {
    const item = await this.read(tokenFamilyKey(id));
    if (!item) return undefined;
    return {
      id: item.familyId,
      userId: item.userId,
      status: item.status,
      head: item.head,
      previous: item.previous ?? null,
      previousRotatedAt: item.previousRotatedAt ?? null,
      createdAt: item.createdAt,
      expiresAt: item.expiresAt * 1000,
      ...(item.revokedReason && { revokedReason: item.revokedReason }),
    };
  }

  async advanceHead(
    familyId: string,
    expectedHead: string,
    next: { head: string; previous: string; previousRotatedAt: number },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: tokenFamilyKey(familyId) }),
          UpdateExpression: 'SET head = :head, previous = :previous, previousRotatedAt = :rotatedAt',
          ConditionExpression: '#status = :active AND head = :expected',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: marshall({
            ':head': next.head,
            ':previous': next.previous,
            ':rotatedAt': next.previousRotatedAt,
            ':active': 'active',
            ':expected': expectedHead,
          }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async revokeFamily(familyId: string, reason: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: tokenFamilyKey(familyId) }),
          UpdateExpression: 'SET #status = :revoked, revokedReason = if_not_exists(revokedReason, :reason)',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: marshall({ ':revoked': 'revoked', ':reason': reason }),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async deleteFamily(familyId: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: marshall({ pk: tokenFamilyKey(familyId) }) }),
    );
  }

  async deleteAllForUser(userId: string): Promise<void> {
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'byUser',
          KeyConditionExpression: 'userId = :userId',
          ExpressionAttributeValues: marshall({ ':userId': userId }),
          ...(startKey && { ExclusiveStartKey: startKey }),
        }),
      );
      const keys = (page.Items ?? []).map((item) => ({ pk: item.pk! }));
      for (let i = 0; i < keys.length; i += batchSize) {
        await this.deleteBatch(keys.slice(i, i + batchSize).map((Key) => ({ DeleteRequest: { Key } })));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  private async deleteBatch(requests: WriteRequest[]): Promise<void> {
    let pending = requests;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
      if (attempt >= 8) throw new Error(`could not delete ${pending.length} refresh-token items`);
      const result = await this.client.send(
        new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } }),
      );
      pending = result.UnprocessedItems?.[this.tableName] ?? [];
    }
  }

  private async read(pk: string): Promise<Record<string, any> | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk }), ConsistentRead: true }),
    );
    return Item && unmarshall(Item);
  }
}
