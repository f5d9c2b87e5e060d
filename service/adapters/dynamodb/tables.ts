import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceNotFoundException,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { tables, type TableDefinition, type TableId } from '../../manifest.js';

/** The CreateTable request for a table of the manifest (what infra declares in CloudFormation). */
export function createTableInput(definition: TableDefinition, tableName: string): CreateTableCommandInput {
  const attributes = new Map<string, 'S' | 'N'>([[definition.partitionKey.name, definition.partitionKey.type]]);
  for (const index of definition.indexes) {
    attributes.set(index.partitionKey.name, index.partitionKey.type);
    if (index.sortKey) attributes.set(index.sortKey.name, index.sortKey.type);
  }
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    KeySchema: [{ AttributeName: definition.partitionKey.name, KeyType: 'HASH' }],
    ...(definition.indexes.length > 0 && {
      GlobalSecondaryIndexes: definition.indexes.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
          ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' as const },
      })),
    }),
  };
}

export type TableNames = Readonly<Record<TableId, string>>;

/** Creates every table of the manifest that does not exist yet (the sandbox and tests; infra owns AWS). */
export async function ensureTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  await Promise.all(
    Object.values(tables).map(async (definition) => {
      const TableName = names[definition.id];
      try {
        await client.send(new DescribeTableCommand({ TableName }));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException)) throw error;
        await client.send(new CreateTableCommand(createTableInput(definition, TableName)));
      }
    }),
  );
}

export function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}
