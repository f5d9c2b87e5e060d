/**
 * Wire-compatible stand-ins for DynamoDB (dynalite) and S3 (s3rver) on 127.0.0.1, each on a free
 * port, with SDK clients pointed at them. Used by the sandbox and by every adapter test.
 */
import { mkdir, mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { ensureTables, type TableNames } from '../adapters/dynamodb/tables.js';
import { foreignRequest } from './fronts/loopback.js';
import { LocalStateError } from './secrets-file.js';

/** s3rver's fixed credentials; dynalite accepts any. */
export const emulatorCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
export const emulatorRegion = 'us-east-1';

export interface Emulators {
  readonly dynamo: DynamoDBClient;
  readonly s3: S3Client;
  readonly dynamoEndpoint: string;
  readonly s3Endpoint: string;
  readonly tableNames: TableNames;
  readonly bucket: string;
  close(): Promise<void>;
}

export interface EmulatorOptions {
  /** Keep data in this folder across runs (dynalite's LevelDB and s3rver's files); in memory/temp otherwise. */
  readonly persistDir?: string;
  readonly namePrefix?: string;
}

export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const prefix = options.namePrefix ?? 'chatshyld-local';
  const tableNames: TableNames = {
    users: `${prefix}-users`,
    refreshTokens: `${prefix}-refresh-tokens`,
    rateLimits: `${prefix}-rate-limits`,
  };
  const bucket = `${prefix}-avatars`;

  let s3Directory: string;
  let dynamoPath: string | undefined;
  if (options.persistDir) {
    dynamoPath = join(options.persistDir, 'dynamodb');
    s3Directory = join(options.persistDir, 's3');
    await mkdir(s3Directory, { recursive: true });
  } else {
    s3Directory = await mkdtemp(join(tmpdir(), 'chatshyld-s3-'));
  }

  if (dynamoPath) await refuseUnreadable(dynamoPath);
  const dynamoServer = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(dynamoPath && { path: dynamoPath }),
  });
  await new Promise<void>((resolve, reject) => {
    dynamoServer.once('error', reject);
    dynamoServer.listen(0, '127.0.0.1', () => resolve());
  });
  const s3Server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3Directory });
  let s3Address: AddressInfo;
  try {
    s3Address = await s3Server.run();
  } catch (error) {
    await new Promise((resolve) => dynamoServer.close(resolve));
    throw error;
  }

  // dynalite answers any origin's preflight with `*` and s3rver takes unsigned form posts: only the
  // sandbox's own clients (the fronts, the console, `users --stage local`) may reach them.
  answerOnlyThisMachine(dynamoServer);
  answerOnlyThisMachine((s3Server as unknown as { httpServer: Server }).httpServer);

  const dynamoEndpoint = `http://127.0.0.1:${(dynamoServer.address() as AddressInfo).port}`;
  const s3Endpoint = `http://127.0.0.1:${s3Address.port}`;
  const common = { region: emulatorRegion, credentials: emulatorCredentials };
  const dynamo = new DynamoDBClient({ ...common, endpoint: dynamoEndpoint });
  const s3 = new S3Client({ ...common, endpoint: s3Endpoint, forcePathStyle: true });

  const close = async () => {
    dynamo.destroy();
    s3.destroy();
    await Promise.all([new Promise((resolve) => dynamoServer.close(resolve)), s3Server.close()]);
    if (!options.persistDir) await rm(s3Directory, { recursive: true, force: true });
  };
  try {
    await ensureTables(dynamo, tableNames);
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: Error) => {
      if (error.name !== 'BucketAlreadyOwnedByYou' && error.name !== 'BucketAlreadyExists') throw error;
    });
  } catch (error) {
    await close();
    throw error;
  }
  return { dynamo, s3, dynamoEndpoint, s3Endpoint, tableNames, bucket, close };
}

interface LevelDatabase {
  open(options?: { createIfMissing?: boolean }): Promise<void>;
  iterator(): AsyncIterable<unknown>;
  close(): Promise<void>;
}

/**
 * Reads the whole persisted LevelDB folder before dynalite opens it, so that data it cannot read
 * (damaged by a full disk, a half copy, another program) is refused at start, with the way out,
 * instead of escaping from dynalite's first request as an uncaught "Database is closed" or
 * "Corruption". It is opened where it is, never created: a folder without its CURRENT file is
 * refused, not replaced by an empty database. An empty or missing folder is a first start.
 * What LevelDB itself takes for a crash's leftovers it repairs silently, as it would for dynalite:
 * a log cut short or with a damaged block loses those records, and without paranoid checks (which
 * the binding does not offer) a damaged block inside a table may be read as it is.
 */
async function refuseUnreadable(path: string): Promise<void> {
  const entries = await readdir(path).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      // No folder is a first start; a link to a folder that is gone is not (dynalite could not make its database there).
      const link = await readlink(path).catch(() => undefined);
      if (link === undefined) return [];
      throw new LocalStateError(`the sandbox's saved DynamoDB data at ${path} is a link to ${link}, which does not exist`, `restore ${link}, or remove the link to start afresh`);
    }
    throw new LocalStateError(
      `the sandbox's saved DynamoDB data at ${path} cannot be read (${error.message})`,
      error.code === 'ENOTDIR' ? damagedHint(path) : accessHint(path),
    );
  });
  if (entries.length === 0) return;
  // The LevelDB binding dynalite itself opens the folder with.
  const { Level } = createRequire(createRequire(import.meta.url).resolve('dynalite'))('level') as {
    Level: new (path: string, options: { valueEncoding: string }) => LevelDatabase;
  };
  const database = new Level(path, { valueEncoding: 'json' });
  try {
    await database.open({ createIfMissing: false });
    for await (const _entry of database.iterator());
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.message ?? (error as Error).message;
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new LocalStateError(`the sandbox data in ${path} is open in another process`, 'stop the other sandbox first, or run this one without --persist');
    }
    // Permissions or a full disk are no reason to delete it; anything else is damage (LevelDB reports
    // a missing manifest or a cut table file as an I/O error too).
    const damaged = !/permission denied|no space left|read-only file system|too many open files/i.test(reason);
    throw new LocalStateError(
      `the sandbox's saved DynamoDB data in ${path} cannot be ${damaged ? 'read' : 'opened'} (${reason})`,
      damaged ? damagedHint(path) : accessHint(path),
    );
  } finally {
    await database.close().catch(() => undefined);
  }
}

const accessHint = (path: string) => `check that you can read and write ${path} and that the disk has room, then start again`;

const damagedHint = (path: string) =>
  `start afresh with \`chatshyld dev --persist --reset\` (deletes the saved users and sessions), or move ${path} away to keep it`;

/**
 * Refuses, before the emulator reads it, a request a web page sent (it carries an `Origin` header,
 * which no SDK sends) or one addressed to another host name (a DNS name pointed at 127.0.0.1): any
 * site open in the developer's browser can otherwise read and write the sandbox's tables and bucket.
 */
function answerOnlyThisMachine(server: Server): void {
  const port = (server.address() as AddressInfo).port;
  const listeners = server.listeners('request') as ((request: IncomingMessage, response: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const foreign = foreignRequest(request, port);
    if (foreign) {
      request.resume();
      response.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(`The sandbox's emulator refused this request: ${foreign}.\n`);
      return;
    }
    for (const listener of listeners) listener.call(server, request, response);
  });
}
