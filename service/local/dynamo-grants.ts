/**
 * DynamoDB as a route's function sees it: its role may send only the actions the manifest grants it
 * on each table (`routeTableActions`), and AWS answers anything else with AccessDeniedException.
 * dynalite checks no permissions, so without this a store call missing from a route's `calls` works
 * here and fails only once deployed. The sandbox and the test harness give each route such a client.
 */
import { DynamoDBClient, DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import type { TableNames } from '../adapters/dynamodb/tables.js';
import { routeTableActions, type DynamoAction, type RouteDefinition, type TableId } from '../manifest.js';
import { returnItemsOnConditionFailure } from './condition-failure-items.js';
import { emulatorCredentials, emulatorRegion } from './emulators.js';

/** The tables a request names: one for most commands, several for a batch. */
function tablesOf(input: Record<string, unknown>): string[] {
  if (typeof input.TableName === 'string') return [input.TableName];
  const items = input.RequestItems;
  return items && typeof items === 'object' ? Object.keys(items) : [];
}

/** The AWS error for an action the role lacks, in the words AWS uses. */
function accessDenied(routeId: string, action: string, table: string): DynamoDBServiceException {
  return new DynamoDBServiceException({
    name: 'AccessDeniedException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message:
      `User: arn:aws:sts::000000000000:assumed-role/${routeId}/sandbox is not authorized to perform: ` +
      `dynamodb:${action} on resource: arn:aws:dynamodb:${emulatorRegion}:000000000000:table/${table} ` +
      'because no identity-based policy allows the dynamodb action',
  });
}

/** A DynamoDB client for one route's function: refuses, as IAM would, what its grants do not allow. */
export function routeDynamoClient(
  endpoint: string,
  tableNames: TableNames,
  route: Pick<RouteDefinition, 'access'> & { readonly id: string },
): DynamoDBClient {
  const granted = routeTableActions(route);
  const tableIds = new Map(Object.entries(tableNames).map(([id, name]) => [name, id as TableId]));
  const client = new DynamoDBClient({ region: emulatorRegion, credentials: emulatorCredentials, endpoint });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const action = String(context.commandName ?? '').replace(/Command$/, '') as DynamoAction;
      for (const table of tablesOf(args.input as Record<string, unknown>)) {
        const id = tableIds.get(table);
        if (!id || !granted[id]?.includes(action)) throw accessDenied(route.id, action, table);
      }
      return next(args);
    },
    { step: 'initialize', name: 'chatshyldRouteGrants' },
  );
  returnItemsOnConditionFailure(client, endpoint);
  return client;
}
