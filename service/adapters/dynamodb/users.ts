import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { AccountStatus, PhoneBlock, SetStatusOptions, User, UserStore } from '../../core/ports.js';
import { phoneBlockKey, phoneClaimKey, userKey } from './keys.js';
import { isConditionFailure } from './tables.js';

/** Users table: `user#<id>` items and `phone#<e164>` claims pointing at them. */
export class DynamoUserStore implements UserStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async get(id: string): Promise<User | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk: userKey(id) }), ConsistentRead: true }),
    );
    return Item && userOf(Item);
  }

  async phoneOwner(phone: string): Promise<string | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk: phoneClaimKey(phone) }), ConsistentRead: true }),
    );
    return Item && (unmarshall(Item).userId as string);
  }

  async phoneBlock(phone: string): Promise<PhoneBlock | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk: phoneBlockKey(phone) }), ConsistentRead: true }),
    );
    return Item && phoneBlockOf(Item);
  }

  async setStatus(
    id: string,
    status: Exclude<AccountStatus, 'active'>,
    options: SetStatusOptions = {},
  ): Promise<User | undefined> {
    const keepBlock = status !== 'blocked' && !options.overBlock;
    const conditions = ['attribute_exists(pk)'];
    const values: Record<string, unknown> = { ':status': status };
    if (keepBlock) {
      // A block whose end has passed is no block (when the caller says what time it is).
      conditions.push(
        options.now === undefined
          ? '(attribute_not_exists(#status) OR #status <> :blocked)'
          : '(attribute_not_exists(#status) OR #status <> :blocked OR blockedUntil <= :now)',
      );
      values[':blocked'] = 'blocked';
      if (options.now !== undefined) values[':now'] = options.now;
    }
    if (options.tokenEpoch !== undefined) {
      conditions.push('(attribute_not_exists(accessEpoch) OR accessEpoch <= :tokenEpoch)');
      values[':tokenEpoch'] = options.tokenEpoch;
    }
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: userKey(id) }),
          UpdateExpression: 'SET #status = :status',
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: marshall(values),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return userOf(Attributes!);
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async claimPhone(phone: string, userId: string): Promise<string> {
    // A claim can vanish between the failed put and the read (account deletion): try again.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: marshall({ pk: phoneClaimKey(phone), userId, createdAt: new Date().toISOString() }),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return userId;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const owner = await this.phoneOwner(phone);
      if (owner) return owner;
    }
    throw new Error('phone claim kept changing while it was read');
  }

  async createUser(user: User): Promise<boolean> {
    return this.conditionalPut(user, 'attribute_not_exists(pk)');
  }

  async replaceUser(next: User, expectedUpdatedAt: string): Promise<boolean> {
    // Never over a status or a revocation marker set since the read: a deletion, block or
    // revocation must not be undone by a PATCH (an operator's write leaves updatedAt as it is).
    const conditions = ['updatedAt = :expected'];
    const values: Record<string, string | number> = { ':expected': expectedUpdatedAt };
    if (next.status) {
      conditions.push('#status = :status');
      values[':status'] = next.status;
    } else {
      conditions.push('attribute_not_exists(#status)');
    }
    if (next.accessEpoch === undefined) {
      conditions.push('attribute_not_exists(accessEpoch)');
    } else {
      conditions.push('accessEpoch = :accessEpoch');
      values[':accessEpoch'] = next.accessEpoch;
    }
    if (next.blockedUntil === undefined) {
      conditions.push('attribute_not_exists(blockedUntil)');
    } else {
      conditions.push('blockedUntil = :blockedUntil');
      values[':blockedUntil'] = next.blockedUntil;
    }
    return this.conditionalPut(next, conditions.join(' AND '), values);
  }

  async releasePhone(phone: string, userId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: marshall({ pk: phoneClaimKey(phone) }),
          ConditionExpression: 'userId = :userId',
          ExpressionAttributeValues: marshall({ ':userId': userId }),
        }),
      );
    } catch (error) {
      // Gone already, or claimed by a newer account: either way not ours to delete.
      if (!isConditionFailure(error)) throw error;
    }
  }

  async deleteUser(id: string): Promise<void> {
    await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: marshall({ pk: userKey(id) }) }));
  }

  private async conditionalPut(
    user: User,
    condition: string,
    values?: Record<string, string | number>,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ pk: userKey(user.id), ...user }, { removeUndefinedValues: true }),
          ConditionExpression: condition,
          ...(condition.includes('#status') && { ExpressionAttributeNames: { '#status': 'status' } }),
          ...(values && { ExpressionAttributeValues: marshall(values) }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}

export function userOf(item: Record<string, AttributeValue>): User {
  const { id, phone, name, photoKey, createdAt, updatedAt, status, blockedUntil, accessEpoch } = unmarshall(item);
  return {
    id,
    phone,
    name: name ?? null,
    photoKey: photoKey ?? null,
    createdAt,
    updatedAt,
    ...(status && { status }),
    ...(typeof blockedUntil === 'number' && { blockedUntil }),
    ...(typeof accessEpoch === 'number' && { accessEpoch }),
  };
}

export function phoneBlockOf(item: Record<string, AttributeValue>): PhoneBlock {
  const { phone, blockedAt, until, reason } = unmarshall(item);
  return {
    phone,
    blockedAt,
    ...(typeof until === 'number' && { until }),
    ...(typeof reason === 'string' && { reason }),
  };
}
