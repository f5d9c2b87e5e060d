/**
 * DynamoDB answers a refused conditional write that asked for `ReturnValuesOnConditionCheckFailure:
 * 'ALL_OLD'` with the item as it was, inside the ConditionalCheckFailedException, at no read cost;
 * dynalite ignores the parameter and returns no item. This middleware adds the item to the refusal,
 * read by a client of its own (so it is neither counted as the route's call nor held to its grants,
 * as on AWS), and so the sandbox's calls per route match what the functions send on AWS. It reads
 * after the refusal, not atomically with it: callers must treat the item as a snapshot, as they
 * would anyway (it may change right after).
 */
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { emulatorCredentials, emulatorRegion } from './emulators.js';

interface ConditionalWriteInput {
  readonly TableName?: string;
  readonly Key?: Record<string, AttributeValue>;
  readonly Item?: Record<string, AttributeValue>;
  readonly ReturnValuesOnConditionCheckFailure?: string;
}

export function returnItemsOnConditionFailure(client: DynamoDBClient, endpoint: string, keyNames: readonly string[] = ['pk']): void {
  let reader: DynamoDBClient | undefined;
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const input = args.input as ConditionalWriteInput;
        const refused = (error as { name?: string }).name === 'ConditionalCheckFailedException';
        if (!refused || input.ReturnValuesOnConditionCheckFailure !== 'ALL_OLD' || (error as { Item?: unknown }).Item) throw error;
        const key = input.Key ?? (input.Item && Object.fromEntries(keyNames.filter((name) => input.Item![name]).map((name) => [name, input.Item![name]!])));
        if (!input.TableName || !key) throw error;
        reader ??= new DynamoDBClient({ region: emulatorRegion, credentials: emulatorCredentials, endpoint });
        const { Item } = await reader.send(new GetItemCommand({ TableName: input.TableName, Key: key, ConsistentRead: true }));
        if (Item) Object.assign(error as object, { Item });
        throw error;
      }
    },
    { step: 'initialize', name: 'chatshyldConditionFailureItems' },
  );
}
