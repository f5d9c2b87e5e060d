/**
 * A DynamoDB front for the sandbox: an HTTP endpoint on 127.0.0.1 in front of dynalite that answers
 * a function's DynamoDB client as DynamoDB and IAM would, where dynalite checks nothing.
 *
 * - Who calls. Each route's credentials carry a session token naming its route (as a Lambda's role
 *   session names its role); a request with no token or another one is refused as AWS refuses a
 *   security token it does not know (UnrecognizedClientException), and so is an access key we do not
 *   know. The SigV4 signature is checked (InvalidSignatureException for a wrong secret or a changed
 *   request, or one signed more than 15 minutes away from now).
 * - What it may do. Every table a request names (one, or several in a batch or a transaction) must be
 *   granted that action by the route's manifest entry (`routeTableActions`), as IAM grants them;
 *   anything else is AccessDeniedException, 400, in IAM's words. A transaction needs the item action
 *   of each of its parts (PutItem, UpdateItem, DeleteItem, ConditionCheckItem, GetItem), as in IAM.
 * - What dynalite lacks. A refused conditional write that asked for
 *   `ReturnValuesOnConditionCheckFailure: ALL_OLD` carries the item as it was in its error, as
 *   DynamoDB sends it; dynalite leaves it out, so the front reads it (a consistent GetItem, its own
 *   call, not the route's) and adds it. That read follows the refusal rather than being atomic with
 *   it: the item is a snapshot, as the caller must treat it anyway.
 *
 * Everything else is forwarded to dynalite byte for byte, and its answer streamed back.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { TableNames } from '../../adapters/dynamodb/tables.js';
import { systemClock, type Clock } from '../../core/ports.js';
import { routeTableActions, tables, type RouteDefinition, type RouteId, type TableId } from '../../manifest.js';
import { emulatorCredentials, emulatorRegion } from '../emulators.js';
import { sandboxSessionToken } from '../s3-front.js';
import { checkHeaderSignature, headerValue, sha256Hex, signatureExpiredMessage, signedHeaders } from '../sigv4.js';
import { announceCall, type OnFrontCall } from './front-call.js';
import { readBody, startLoopbackServer } from './loopback.js';

export interface DynamoFrontOptions {
  /** dynalite's endpoint. */
  readonly target: string;
  readonly tableNames: TableNames;
  /** The routes whose functions call through this front (the manifest's, or some of them). */
  readonly routes: readonly Pick<RouteDefinition, 'id' | 'access'>[];
  /**
   * The clock request signatures are dated against: the machine's (the default), since the SDK signs
   * with it. Never a sandbox clock a test moves on purpose.
   */
  readonly clock?: Clock;
  readonly onCall?: OnFrontCall;
  /** Access key id → secret; by default the emulators' keys, which the sandbox gives its functions. */
  readonly secrets?: Readonly<Record<string, string>>;
}

export interface DynamoFront {
  readonly endpoint: string;
  close(): Promise<void>;
}

/** The account the sandbox's ARNs name, as dynamo-grants.ts and the S3 front do. */
const account = '000000000000';

class DynamoRefusal extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
    /** AccessDeniedException spells its message with a capital M, as DynamoDB does. */
    readonly messageField: 'message' | 'Message' = 'message',
  ) {
    super(message);
  }
}

const invalidToken = () => new DynamoRefusal('com.amazon.coral.service#UnrecognizedClientException', 'The security token included in the request is invalid.');

/** The IAM action and table resource of each part of a request. */
interface NamedResource {
  readonly action: string;
  readonly table: string | undefined;
  readonly index?: string;
}

const transactActions: Record<string, string> = {
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  ConditionCheck: 'ConditionCheckItem',
  Get: 'GetItem',
};

/** What a request touches, for IAM: one table, the tables of a batch, or each part of a transaction. */
export function namedResources(action: string, input: Record<string, unknown>): NamedResource[] {
  if (action === 'TransactWriteItems' || action === 'TransactGetItems') {
    const parts = Array.isArray(input.TransactItems) ? (input.TransactItems as Record<string, { TableName?: unknown }>[]) : [];
    return parts.flatMap((part) =>
      Object.entries(part ?? {}).map(([kind, body]) => ({
        action: transactActions[kind] ?? kind,
        table: typeof body?.TableName === 'string' ? body.TableName : undefined,
      })),
    );
  }
  if (typeof input.TableName === 'string') {
    return [{ action, table: input.TableName, ...(typeof input.IndexName === 'string' && { index: input.IndexName }) }];
  }
  const items = input.RequestItems;
  if (items && typeof items === 'object') return Object.keys(items).map((table) => ({ action, table }));
  // ListTables and the like name no table: IAM checks them against every table.
  return [{ action, table: undefined }];
}

export async function startDynamoFront(options: DynamoFrontOptions): Promise<DynamoFront> {
  const clock = options.clock ?? systemClock;
  const secrets = options.secrets ?? { [emulatorCredentials.accessKeyId]: emulatorCredentials.secretAccessKey };
  const tableIds = new Map(Object.entries(options.tableNames).map(([id, name]) => [name, id as TableId]));
  const grants = new Map(options.routes.map((route) => [sandboxSessionToken(route.id), { id: route.id, actions: routeTableActions(route) }]));

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    const [rawPath = '/', rawQuery = ''] = (request.url ?? '/').split(/\?(.*)/s);
    const check = checkHeaderSignature({
      request,
      method: request.method ?? 'POST',
      rawPath,
      query: new URLSearchParams(rawQuery),
      payloadHash: sha256Hex(body),
      secrets,
      now: clock.now(),
    });
    const region = check.ok ? check.region : emulatorRegion;
    if (!check.ok) {
      switch (check.reason) {
        case 'missing':
          throw new DynamoRefusal('com.amazon.coral.service#MissingAuthenticationTokenException', 'Request is missing Authentication Token');
        case 'malformed':
          throw new DynamoRefusal('com.amazon.coral.service#IncompleteSignatureException', `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${headerValue(request, 'authorization')}`);
        case 'unknown-key':
          throw invalidToken();
        case 'skewed':
          throw new DynamoRefusal('com.amazon.coral.service#InvalidSignatureException', signatureExpiredMessage(check.signedAt, clock.now()));
        case 'mismatch':
          throw new DynamoRefusal(
            'com.amazon.coral.service#InvalidSignatureException',
            'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
          );
      }
    }
    const caller = grants.get(headerValue(request, 'x-amz-security-token') ?? '');
    if (!caller) throw invalidToken();

    const [api, action = ''] = (headerValue(request, 'x-amz-target') ?? '').split('.');
    if (api !== 'DynamoDB_20120810' || !action) throw new DynamoRefusal('com.amazon.coral.service#UnknownOperationException', '');
    let input: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8') || '{}');
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      input = parsed as Record<string, unknown>;
    } catch {
      throw new DynamoRefusal('com.amazon.coral.service#SerializationException', 'Start of structure or map found where not expected.');
    }

    for (const resource of namedResources(action, input)) {
      const id = resource.table === undefined ? undefined : tableIds.get(resource.table);
      const granted = id !== undefined && (caller.actions[id] as readonly string[] | undefined)?.includes(resource.action);
      if (!granted) throw accessDenied(caller.id, resource, region);
    }

    await announceCall(options.onCall, { service: 'dynamodb', routeId: caller.id, action }, response);
    const upstream = await forward(options.target, request, body);
    const wantsOldItem = input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && ['PutItem', 'UpdateItem', 'DeleteItem'].includes(action);
    if (!wantsOldItem || upstream.statusCode !== 400) {
      response.writeHead(upstream.statusCode ?? 502, upstream.headers);
      upstream.pipe(response);
      return;
    }
    const answer = await readBody(upstream);
    const patched = await withOldItem(answer, input, region);
    const headers = { ...upstream.headers };
    if (patched !== answer) {
      headers['content-length'] = String(patched.length);
      headers['x-amz-crc32'] = String(crc32(patched));
    }
    response.writeHead(400, headers);
    response.end(patched);
  }

  /** A ConditionalCheckFailedException as DynamoDB sends it for ALL_OLD: with the item, if there is one. */
  async function withOldItem(answer: Buffer, input: Record<string, unknown>, region: string): Promise<Buffer> {
    let error: { __type?: unknown; Item?: unknown };
    try {
      error = JSON.parse(answer.toString('utf8')) as typeof error;
    } catch {
      return answer;
    }
    if (typeof error.__type !== 'string' || !error.__type.endsWith('#ConditionalCheckFailedException') || error.Item) return answer;
    const tableName = input.TableName as string;
    const id = tableIds.get(tableName);
    const key = (input.Key as Record<string, unknown> | undefined) ?? keyOf(input.Item as Record<string, unknown> | undefined, id);
    if (!key) return answer;
    const item = await readItem(tableName, key, region);
    return item ? Buffer.from(JSON.stringify({ ...error, Item: item })) : answer;
  }

  /** A consistent GetItem straight to dynalite: the front's own read, counted as no route's call. */
  async function readItem(TableName: string, Key: unknown, region: string): Promise<unknown> {
    const url = new URL('/', options.target);
    const payload = JSON.stringify({ TableName, Key, ConsistentRead: true });
    const headers = signedHeaders({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' },
      body: payload,
      credentials: emulatorCredentials,
      region,
      service: 'dynamodb',
      now: Date.now(),
    });
    delete headers.host;
    const answer = await fetch(url, { method: 'POST', headers, body: payload });
    const text = await answer.text();
    if (!answer.ok) throw new Error(`dynalite refused the read of the refused item: ${answer.status} ${text}`);
    return (JSON.parse(text) as { Item?: unknown }).Item;
  }

  const server = await startLoopbackServer(
    (request, response) =>
      handle(request, response).catch((error: unknown) => {
        if (error instanceof DynamoRefusal) return writeError(response, error);
        if (response.headersSent) throw error;
        writeError(response, new DynamoRefusal('com.amazonaws.dynamodb.v20120810#InternalServerError', `the sandbox's DynamoDB front failed: ${(error as Error).message}`, 500));
      }),
    (response, _request, reason) =>
      writeError(response, new DynamoRefusal('com.amazon.coral.service#AccessDeniedException', `The sandbox's DynamoDB front refused this request: ${reason}.`, 403, 'Message')),
  );
  return { endpoint: server.endpoint, close: () => server.close() };
}

/** The key of a table's item (our tables have a partition key only). */
function keyOf(item: Record<string, unknown> | undefined, id: TableId | undefined): Record<string, unknown> | undefined {
  if (!item || !id) return undefined;
  const name = tables[id].partitionKey.name;
  return item[name] === undefined ? undefined : { [name]: item[name] };
}

/** IAM's refusal of an action the route's role lacks. */
function accessDenied(routeId: RouteId, resource: NamedResource, region: string): DynamoRefusal {
  const arn = `arn:aws:dynamodb:${region}:${account}:table/${resource.table ?? '*'}${resource.index ? `/index/${resource.index}` : ''}`;
  return new DynamoRefusal(
    'com.amazon.coral.service#AccessDeniedException',
    `User: arn:aws:sts::${account}:assumed-role/${routeId}/sandbox is not authorized to perform: dynamodb:${resource.action} on resource: ${arn} because no identity-based policy allows the dynamodb:${resource.action} action`,
    400,
    'Message',
  );
}

function forward(target: string, request: IncomingMessage, body: Buffer): Promise<IncomingMessage> {
  const url = new URL(request.url ?? '/', target);
  return new Promise((resolve, reject) => {
    const upstream = httpRequest(url, { method: request.method, headers: { ...request.headers, host: url.host, 'content-length': String(body.length) } }, resolve);
    upstream.once('error', reject);
    upstream.end(body);
  });
}

function writeError(response: ServerResponse, refusal: DynamoRefusal): void {
  const body = Buffer.from(JSON.stringify({ __type: refusal.type, [refusal.messageField]: refusal.message }));
  response.writeHead(refusal.status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': String(body.length),
    'x-amzn-requestid': randomBytes(26).toString('hex').toUpperCase(),
    'x-amz-crc32': String(crc32(body)),
  });
  response.end(body);
}
