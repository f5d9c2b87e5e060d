import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { PhoneBlock, TokenFamily } from '../../core/ports.js';
import { auditDayKey, phoneBlockKey, tokenFamilyKey, ttlSeconds, userKey } from './keys.js';
import type { TableNames } from './tables.js';
import { isConditionFailure } from './tables.js';
import { phoneBlockOf } from './users.js';

/** What the operations module writes to the audit log; the caller keeps phone numbers masked. */
export interface StoredAuditRecord {
  readonly actor: string;
  readonly action: string;
  readonly target: { readonly userId?: string; readonly phone?: string };
  /** ISO 8601. */
  readonly at: string;
  readonly reason?: string;
  readonly detail?: Readonly<Record<string, string | number>>;
}

/** A family as on-call sees it: no token hashes. */
export type FamilyRecord = Omit<TokenFamily, 'head' | 'previous'>;

/** Records per audit item: a record is at most about 2 KB (a 500-character reason), so well under 400 KB. */
const auditRecordsPerItem = 100;
/** Items per day at most: 100 000 changes a day. */
const maxAuditParts = 1000;
const auditPartKey = (day: string, part: number) => (part === 0 ? auditDayKey(day) : `${auditDayKey(day)}#${part}`);
/** DynamoDB's answer to an update that would take an item past 400 KB. */
const isItemTooLarge = (error: unknown) =>
  (error as Error).name === 'ValidationException' && /item size|size has exceeded/i.test((error as Error).message);

/** How long audit days are kept before TTL removes them. */
export const auditRetentionDays = 400;

/**
 * The writes only on-call makes, over the service's own tables: phone blocks, the block and the
 * revocation marker on a user item, a user's refresh-token families, and the audit days. Each
 * method's DynamoDB actions are listed in `operatorStoreCalls` (manifest), which the IAM policy of the
 * on-call role is built from.
 */
export class DynamoOperatorStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tables: Pick<TableNames, 'users' | 'refreshTokens'>,
  ) {}

  /**
   * Writes the number's block. With `unlessHeldAt` (epoch ms), only if no block holds at that time
   * (none, or one whose end has passed); false when one does.
   */
  async putPhoneBlock(block: PhoneBlock, unlessHeldAt?: number): Promise<boolean> {
    try {
      await this.putBlockItem(block, unlessHeldAt);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async putBlockItem(block: PhoneBlock, unlessHeldAt: number | undefined): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        ...(unlessHeldAt !== undefined && {
          ConditionExpression: 'attribute_not_exists(pk) OR (attribute_exists(#until) AND #until <= :now)',
          ExpressionAttributeNames: { '#until': 'until' },
          ExpressionAttributeValues: marshall({ ':now': unlessHeldAt }),
        }),
        TableName: this.tables.users,
        Item: marshall(
          {
            pk: phoneBlockKey(block.phone),
            ...block,
            // TTL removes an ended block some time after `until`; reads compare with the clock.
            ...(block.until !== undefined && { expiresAt: ttlSeconds(block.until) }),
          },
          { removeUndefinedValues: true },
        ),
      }),
    );
  }

  /** Deletes the number's block; the block as it was, if there was one. */
  async deletePhoneBlock(phone: string): Promise<PhoneBlock | undefined> {
    const { Attributes } = await this.client.send(
      new DeleteItemCommand({ TableName: this.tables.users, Key: marshall({ pk: phoneBlockKey(phone) }), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes && phoneBlockOf(Attributes);
  }

  /**
   * Marks an existing, not deleted, user blocked (until `until`, or until lifted) and adds one to its
   * revocation epoch; false when there is no such user or its deletion has begun.
   */
  async blockUser(userId: string, until: number | undefined): Promise<boolean> {
    return this.updateUser(
      userId,
      `SET #status = :blocked${until === undefined ? '' : ', blockedUntil = :until'} ADD accessEpoch :one${until === undefined ? ' REMOVE blockedUntil' : ''}`,
      '(attribute_not_exists(#status) OR #status = :blocked)',
      { ':blocked': 'blocked', ':one': 1, ...(until !== undefined && { ':until': until }) },
    );
  }

  /** Lifts a user's block (the epoch stays: tokens revoked stay revoked); false when it was not blocked. */
  async unblockUser(userId: string): Promise<boolean> {
    return this.updateUser(userId, 'REMOVE #status, blockedUntil', '#status = :blocked', { ':blocked': 'blocked' });
  }

  /**
   * Adds one to the revocation epoch of an existing user, atomically (two revokes never read the same
   * epoch); false when there is no such user. Access tokens issued before are refused from now on.
   */
  async bumpAccessEpoch(userId: string): Promise<boolean> {
    return this.updateUser(userId, 'ADD accessEpoch :one', undefined, { ':one': 1 });
  }

  /**
   * Every family of the user, newest first; never a token hash. The byUser index projects keys only:
   * one query for the keys, then the family items, read side by side.
   */
  async familiesOf(userId: string): Promise<FamilyRecord[]> {
    const keys: string[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tables.refreshTokens,
          IndexName: 'byUser',
          KeyConditionExpression: 'userId = :userId',
          ExpressionAttributeValues: marshall({ ':userId': userId }),
          ...(startKey && { ExclusiveStartKey: startKey }),
        }),
      );
      for (const item of page.Items ?? []) {
        const pk = item.pk?.S;
        if (pk?.startsWith(tokenFamilyKey(''))) keys.push(pk);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    const items = await Promise.all(
      keys.map(async (pk) => {
        const { Item } = await this.client.send(
          new GetItemCommand({ TableName: this.tables.refreshTokens, Key: marshall({ pk }), ConsistentRead: true }),
        );
        return Item && unmarshall(Item);
      }),
    );
    return items
      .filter((item): item is Record<string, any> => item !== undefined && item.userId === userId)
      .map((item) => ({
        id: item.familyId as string,
        userId,
        status: item.status,
        previousRotatedAt: item.previousRotatedAt ?? null,
        createdAt: item.createdAt,
        expiresAt: item.expiresAt * 1000,
        ...(item.revokedReason && { revokedReason: item.revokedReason }),
      }))
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  /**
   * Appends to the day's first audit item with room: a day is as many items as it needs
   * (`audit#DAY`, then `audit#DAY#1`, `#2`, …), each at most `auditRecordsPerItem` records, and an
   * item DynamoDB finds too large (records written by an earlier version) counts as full.
   */
  async appendAudit(record: StoredAuditRecord): Promise<void> {
    const day = record.at.slice(0, 10);
    const expiresAt = ttlSeconds(Date.parse(`${day}T00:00:00Z`) + auditRetentionDays * 24 * 60 * 60 * 1000);
    for (let part = 0; part < maxAuditParts; part++) {
      try {
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.tables.users,
            Key: marshall({ pk: auditPartKey(day, part) }),
            UpdateExpression: 'SET #records = list_append(if_not_exists(#records, :empty), :record), expiresAt = :expiresAt',
            ConditionExpression: 'attribute_not_exists(#records) OR size(#records) < :max',
            ExpressionAttributeNames: { '#records': 'records' },
            ExpressionAttributeValues: marshall(
              { ':empty': [], ':record': [record], ':expiresAt': expiresAt, ':max': auditRecordsPerItem },
              { removeUndefinedValues: true },
            ),
          }),
        );
        return;
      } catch (error) {
        if (!isConditionFailure(error) && !isItemTooLarge(error)) throw error;
      }
    }
    throw new Error(`the audit of ${day} has no room left in ${maxAuditParts} items`);
  }

  /** One day's records (`day` as YYYY-MM-DD, UTC), in the order they were written. */
  async auditDay(day: string): Promise<StoredAuditRecord[]> {
    const records: StoredAuditRecord[] = [];
    for (let part = 0; part < maxAuditParts; part++) {
      const { Item } = await this.client.send(
        new GetItemCommand({ TableName: this.tables.users, Key: marshall({ pk: auditPartKey(day, part) }), ConsistentRead: true }),
      );
      if (!Item) break;
      records.push(...((unmarshall(Item).records ?? []) as StoredAuditRecord[]));
    }
    return records;
  }

  private async updateUser(
    userId: string,
    update: string,
    condition: string | undefined,
    values: Record<string, unknown>,
  ): Promise<boolean> {
    const usesStatus = update.includes('#status') || condition?.includes('#status');
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tables.users,
          Key: marshall({ pk: userKey(userId) }),
          UpdateExpression: update,
          ConditionExpression: condition ? `attribute_exists(pk) AND ${condition}` : 'attribute_exists(pk)',
          ...(usesStatus && { ExpressionAttributeNames: { '#status': 'status' } }),
          ExpressionAttributeValues: marshall(values),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
