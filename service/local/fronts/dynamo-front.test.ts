import {
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, type RouteId } from '../../manifest.js';
import { emulatorCredentials, emulatorRegion, startEmulators, type Emulators } from '../emulators.js';
import { sandboxSessionToken } from '../s3-front.js';
import { signedHeaders } from '../sigv4.js';
import { startDynamoFront, type DynamoFront } from './dynamo-front.js';
import type { FrontCall } from './front-call.js';
import { rawRequest } from './raw-http.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

describe('the sandbox DynamoDB front answers as DynamoDB and IAM would', () => {
  let emulators: Emulators;
  let front: DynamoFront;
  const calls: FrontCall[] = [];
  let hold: ((call: FrontCall) => Promise<void | (() => void)>) | undefined;
  const clients: DynamoDBClient[] = [];

  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'chatshyld-dynamo-front' });
    front = await startDynamoFront({
      target: emulators.dynamoEndpoint,
      tableNames: emulators.tableNames,
      routes,
      onCall: async (call) => {
        calls.push(call);
        return hold?.(call);
      },
    });
  });
  afterAll(async () => {
    for (const client of clients) client.destroy();
    await front?.close();
    await emulators?.close();
  });

  /** A function's DynamoDB client: the emulators' keys, with its route's session token. */
  const clientOf = (routeId: RouteId | undefined, config: Partial<DynamoDBClientConfig> = {}) => {
    const client = new DynamoDBClient({
      region: emulatorRegion,
      endpoint: front.endpoint,
      maxAttempts: 1,
      credentials: { ...emulatorCredentials, ...(routeId && { sessionToken: sandboxSessionToken(routeId) }) },
      ...config,
    });
    clients.push(client);
    return client;
  };
  const denial = (routeId: string, action: string, table: string) =>
    `User: arn:aws:sts::000000000000:assumed-role/${routeId}/sandbox is not authorized to perform: dynamodb:${action} on resource: ` +
    `arn:aws:dynamodb:${emulatorRegion}:000000000000:table/${table} because no identity-based policy allows the dynamodb:${action} action`;

  it('lets a route do what its grants allow, and the write lands in dynalite', async () => {
    const users = emulators.tableNames.users;
    const verifyOtp = clientOf('verifyOtp');
    await verifyOtp.send(new PutItemCommand({ TableName: users, Item: marshall({ pk: 'user#front-1', name: 'Ada' }) }));
    const { Item } = await clientOf('getMe').send(new GetItemCommand({ TableName: users, Key: marshall({ pk: 'user#front-1' }) }));
    expect(unmarshall(Item!)).toEqual({ pk: 'user#front-1', name: 'Ada' });
    expect(calls.slice(-2)).toEqual([
      { service: 'dynamodb', routeId: 'verifyOtp', action: 'PutItem' },
      { service: 'dynamodb', routeId: 'getMe', action: 'GetItem' },
    ]);
  });

  it('refuses an action the route is not granted, with IAM’s AccessDeniedException and 400, and writes nothing', async () => {
    expect.assertions(5);
    const users = emulators.tableNames.users;
    const before = calls.length;
    try {
      await clientOf('getMe').send(new PutItemCommand({ TableName: users, Item: marshall({ pk: 'user#front-denied' }) }));
    } catch (error) {
      expect(error).toMatchObject({ name: 'AccessDeniedException', message: denial('getMe', 'PutItem', users), $metadata: { httpStatusCode: 400 } });
    }
    // A table the route has no grant on at all.
    await expect(
      clientOf('getMe').send(new GetItemCommand({ TableName: emulators.tableNames.rateLimits, Key: marshall({ pk: 'x' }) })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException', message: denial('getMe', 'GetItem', emulators.tableNames.rateLimits) });
    // A table that is not the sandbox's.
    await expect(clientOf('getMe').send(new GetItemCommand({ TableName: 'someone-elses', Key: marshall({ pk: 'x' }) }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    expect((await emulators.dynamo.send(new GetItemCommand({ TableName: users, Key: marshall({ pk: 'user#front-denied' }) }))).Item).toBeUndefined();
    expect(calls.length, 'a refused request is not announced').toBe(before);
  });

  it('checks every table of a batch and every part of a transaction', async () => {
    const { users, refreshTokens } = emulators.tableNames;
    // deleteMe may BatchWriteItem on refreshTokens only: a batch that also names users is refused whole.
    const batch = new BatchWriteItemCommand({
      RequestItems: {
        [refreshTokens]: [{ PutRequest: { Item: marshall({ pk: 'token#batch' }) } }],
        [users]: [{ PutRequest: { Item: marshall({ pk: 'user#batch' }) } }],
      },
    });
    await expect(clientOf('deleteMe').send(batch)).rejects.toMatchObject({ name: 'AccessDeniedException', message: denial('deleteMe', 'BatchWriteItem', users) });
    expect((await emulators.dynamo.send(new GetItemCommand({ TableName: refreshTokens, Key: marshall({ pk: 'token#batch' }) }))).Item).toBeUndefined();
    await expect(
      clientOf('deleteMe').send(new BatchWriteItemCommand({ RequestItems: { [refreshTokens]: [{ DeleteRequest: { Key: marshall({ pk: 'token#batch' }) } }] } })),
    ).resolves.toBeDefined();
    // verifyOtp may PutItem on users, but a transaction's condition check needs dynamodb:ConditionCheckItem.
    const transaction = new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName: users, Item: marshall({ pk: 'user#transact' }) } },
        { ConditionCheck: { TableName: users, Key: marshall({ pk: 'phone#transact' }), ConditionExpression: 'attribute_not_exists(pk)' } },
      ],
    });
    await expect(clientOf('verifyOtp').send(transaction)).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: denial('verifyOtp', 'ConditionCheckItem', users),
    });
  });

  it('refuses a request with no session token, another token, an unknown key or a wrong secret, as AWS does', async () => {
    const get = new GetItemCommand({ TableName: emulators.tableNames.users, Key: marshall({ pk: 'user#front-1' }) });
    const invalid = { name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.', $metadata: { httpStatusCode: 400 } };
    await expect(clientOf(undefined).send(get)).rejects.toMatchObject(invalid);
    await expect(clientOf(undefined, { credentials: { ...emulatorCredentials, sessionToken: 'chatshyld-sandbox-route/admin' } }).send(get)).rejects.toMatchObject(invalid);
    await expect(
      clientOf(undefined, { credentials: { accessKeyId: 'AKIDOTHER', secretAccessKey: emulatorCredentials.secretAccessKey, sessionToken: sandboxSessionToken('getMe') } }).send(get),
    ).rejects.toMatchObject(invalid);
    await expect(
      clientOf(undefined, { credentials: { accessKeyId: emulatorCredentials.accessKeyId, secretAccessKey: 'not-the-secret', sessionToken: sandboxSessionToken('getMe') } }).send(get),
    ).rejects.toMatchObject({ name: 'InvalidSignatureException', $metadata: { httpStatusCode: 400 } });
  });

  /** A raw JSON 1.0 call, signed as the getMe route unless told otherwise. */
  const raw = (target: string, payload: string, change: (headers: Record<string, string>) => void = () => {}) => {
    const headers = signedHeaders({
      method: 'POST',
      url: new URL('/', front.endpoint),
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': target },
      body: payload,
      credentials: { ...emulatorCredentials, sessionToken: sandboxSessionToken('getMe') },
      region: emulatorRegion,
      service: 'dynamodb',
      now: Date.now(),
    });
    change(headers);
    return rawRequest(front.endpoint, headers, payload);
  };
  const getPayload = () => JSON.stringify({ TableName: emulators.tableNames.users, Key: { pk: { S: 'user#front-1' } } });

  it('refuses an unsigned request, a body changed after signing, and a signature older than 15 minutes', async () => {
    const signed = await raw('DynamoDB_20120810.GetItem', getPayload());
    expect(signed.status).toBe(200);
    expect(JSON.parse(signed.body)).toEqual({ Item: { pk: { S: 'user#front-1' }, name: { S: 'Ada' } } });

    const unsigned = await raw('DynamoDB_20120810.GetItem', getPayload(), (headers) => delete headers.authorization);
    expect(unsigned.status).toBe(400);
    expect(JSON.parse(unsigned.body)).toEqual({ __type: 'com.amazon.coral.service#MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' });

    const payload = getPayload();
    const headers = signedHeaders({
      method: 'POST',
      url: new URL('/', front.endpoint),
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' },
      body: payload,
      credentials: { ...emulatorCredentials, sessionToken: sandboxSessionToken('getMe') },
      region: emulatorRegion,
      service: 'dynamodb',
      now: Date.now(),
    });
    const changed = await rawRequest(front.endpoint, headers, payload.replace('front-1', 'front-2'));
    expect(changed.status).toBe(400);
    expect(JSON.parse(changed.body).__type).toBe('com.amazon.coral.service#InvalidSignatureException');

    const stale = signedHeaders({
      method: 'POST',
      url: new URL('/', front.endpoint),
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' },
      body: payload,
      credentials: { ...emulatorCredentials, sessionToken: sandboxSessionToken('getMe') },
      region: emulatorRegion,
      service: 'dynamodb',
      now: Date.now() - 16 * 60 * 1000,
    });
    const late = await rawRequest(front.endpoint, stale, payload);
    expect(late.status).toBe(400);
    expect(JSON.parse(late.body)).toMatchObject({ __type: 'com.amazon.coral.service#InvalidSignatureException', message: expect.stringMatching(/^Signature expired: \d{8}T\d{6}Z is now earlier than/) });
  });

  it('refuses, with 403, a request from a web page (Origin) or for another host name, before anything else', async () => {
    const before = calls.length;
    const fromPage = await raw('DynamoDB_20120810.GetItem', getPayload(), (headers) => (headers.origin = 'http://localhost:5173'));
    expect(fromPage.status).toBe(403);
    expect(fromPage.body).not.toContain('Ada');
    const nullOrigin = await raw('DynamoDB_20120810.GetItem', getPayload(), (headers) => (headers.origin = 'null'));
    expect(nullOrigin.status).toBe(403);
    // A DNS name pointed at 127.0.0.1 (rebinding): the Host header is the page's, not ours.
    const rebound = await raw('DynamoDB_20120810.GetItem', getPayload(), (headers) => (headers.host = `attacker.example:${new URL(front.endpoint).port}`));
    expect(rebound.status).toBe(403);
    const otherPort = await raw('DynamoDB_20120810.GetItem', getPayload(), (headers) => (headers.host = '127.0.0.1:1'));
    expect(otherPort.status).toBe(403);
    // localhost with our port is ours (the SDK may be given either spelling).
    const local = await raw('DynamoDB_20120810.GetItem', getPayload(), (headers) => (headers.host = `localhost:${new URL(front.endpoint).port}`));
    expect(local.status).not.toBe(403);
    expect(calls.length - before).toBeLessThanOrEqual(1);
  });

  it('returns the item as it was with a refused ALL_OLD write, with no GetItem grant, as DynamoDB does', async () => {
    expect.assertions(5);
    const rateLimits = emulators.tableNames.rateLimits;
    // presignAvatar may PutItem and UpdateItem on rateLimits, but not GetItem.
    const presign = clientOf('presignAvatar');
    await presign.send(new PutItemCommand({ TableName: rateLimits, Item: marshall({ pk: 'limit#front', count: 3 }) }));
    await expect(presign.send(new GetItemCommand({ TableName: rateLimits, Key: marshall({ pk: 'limit#front' }) }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    try {
      await presign.send(
        new PutItemCommand({
          TableName: rateLimits,
          Item: marshall({ pk: 'limit#front', count: 1 }),
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      expect(error).toMatchObject({ name: 'ConditionalCheckFailedException', $metadata: { httpStatusCode: 400 } });
      expect(unmarshall((error as { Item: Record<string, never> }).Item)).toEqual({ pk: 'limit#front', count: 3 });
    }
    try {
      await presign.send(
        new UpdateItemCommand({
          TableName: rateLimits,
          Key: marshall({ pk: 'limit#front' }),
          UpdateExpression: 'ADD #count :one',
          ConditionExpression: '#count < :max',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: marshall({ ':one': 1, ':max': 3 }),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      expect(unmarshall((error as { Item: Record<string, never> }).Item)).toEqual({ pk: 'limit#front', count: 3 });
    }
    // Without ALL_OLD, the refusal carries no item, as on DynamoDB.
    try {
      await presign.send(
        new PutItemCommand({ TableName: rateLimits, Item: marshall({ pk: 'limit#front', count: 1 }), ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    } catch (error) {
      expect((error as { Item?: unknown }).Item).toBeUndefined();
    }
  });

  it('serves parallel requests of several routes, each under its own grants', async () => {
    const rateLimits = emulators.tableNames.rateLimits;
    const sendOtp = clientOf('sendOtp');
    const getMe = clientOf('getMe');
    const bump = () =>
      sendOtp.send(
        new UpdateItemCommand({
          TableName: rateLimits,
          Key: marshall({ pk: 'limit#parallel' }),
          UpdateExpression: 'ADD #count :one',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: marshall({ ':one': 1 }),
        }),
      );
    const refused = () => getMe.send(new UpdateItemCommand({ TableName: rateLimits, Key: marshall({ pk: 'limit#parallel' }), UpdateExpression: 'SET x = :x', ExpressionAttributeValues: marshall({ ':x': 1 }) }));
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, n) => (n % 2 === 0 ? bump() : refused())));
    expect(results.filter((result, n) => n % 2 === 0 && result.status === 'fulfilled')).toHaveLength(20);
    expect(results.filter((result, n) => n % 2 === 1 && result.status === 'rejected' && (result.reason as Error).name === 'AccessDeniedException')).toHaveLength(20);
    const { Item } = await emulators.dynamo.send(new GetItemCommand({ TableName: rateLimits, Key: marshall({ pk: 'limit#parallel' }), ConsistentRead: true }));
    expect(unmarshall(Item!)).toEqual({ pk: 'limit#parallel', count: 20 });
  });

  it('awaits onCall before forwarding, and calls what it returns once the answer is sent', async () => {
    const order: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    hold = async (call) => {
      order.push(`start ${call.action}`);
      await released;
      return () => {
        order.push(`done ${call.action}`);
        finished();
      };
    };
    try {
      const pending = clientOf('getMe').send(new GetItemCommand({ TableName: emulators.tableNames.users, Key: marshall({ pk: 'user#front-1' }) }));
      let answered = false;
      void pending.then(() => (answered = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(order).toEqual(['start GetItem']);
      expect(answered, 'held until onCall resolves').toBe(false);
      release();
      expect((await pending).Item).toBeDefined();
      await done;
      expect(order).toEqual(['start GetItem', 'done GetItem']);
    } finally {
      hold = undefined;
    }
  });
});
