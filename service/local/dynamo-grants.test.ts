import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeById, routes, routeTableActions } from '../manifest.js';
import { routeDynamoClient } from './dynamo-grants.js';
import { startEmulators, type Emulators } from './emulators.js';

describe('DynamoDB as a route role sees it', () => {
  let emulators: Emulators;
  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'chatshyld-grants' });
  });
  afterAll(async () => {
    await emulators?.close();
  });

  it('refuses an action the route is not granted with AccessDeniedException, and lets a granted one through', async () => {
    const client = routeDynamoClient(emulators.dynamoEndpoint, emulators.tableNames, routeById('getMe'));
    try {
      const Key = marshall({ pk: 'user#nobody' });
      await expect(client.send(new GetItemCommand({ TableName: emulators.tableNames.users, Key }))).resolves.toBeDefined();
      const write = client.send(new PutItemCommand({ TableName: emulators.tableNames.users, Item: Key }));
      await expect(write).rejects.toMatchObject({ name: 'AccessDeniedException' });
      await expect(write).rejects.toThrow(/not authorized to perform: dynamodb:PutItem/);
      // A table the route has no grant on at all.
      const other = client.send(new GetItemCommand({ TableName: emulators.tableNames.rateLimits, Key }));
      await expect(other).rejects.toMatchObject({ name: 'AccessDeniedException' });
    } finally {
      client.destroy();
    }
  });

  it('gives each route exactly the actions derived from its store calls', () => {
    // health touches no table; every other route's grants name only tables it declares.
    expect(routeTableActions(routeById('health'))).toEqual({});
    for (const route of routes) {
      for (const table of Object.keys(routeTableActions(route))) {
        expect(route.access.tables, `${route.id} uses ${table}`).toHaveProperty(table);
      }
    }
  });
});
