/**
 * Wire-compatible stand-ins for DynamoDB (dynalite) and S3 (s3rver) on 127.0.0.1, each on a free
 * port, with SDK clients pointed at them. Used by the sandbox and by every adapter test.
 */
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { ensureTables, type TableNames } from '../adapters/dynamodb/tables.js';
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
 * "Corruption". LevelDB writes to what it opens (it rotates its LOG, recovers its log into a table),
 * so the check reads a copy and the saved folder is left exactly as it is. An empty or missing folder
 * is a first start. (A log cut short is what a crash leaves: LevelDB keeps the records before the cut.)
 */
async function refuseUnreadable(path: string): Promise<void> {
  const entries = await readdir(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw new LocalStateError(`the sandbox's saved DynamoDB data at ${path} cannot be read (${error.message})`, refuseHint(path));
  });
  if (entries.length === 0) return;
  // The LevelDB binding dynalite itself opens the folder with.
  const { Level } = createRequire(createRequire(import.meta.url).resolve('dynalite'))('level') as {
    Level: new (path: string, options: { valueEncoding: string }) => LevelDatabase;
  };
  const copy = await mkdtemp(join(tmpdir(), 'chatshyld-dynamodb-check-'));
  try {
    await cp(path, copy, { recursive: true, filter: (source) => basename(source) !== 'LOCK' });
    const database = new Level(copy, { valueEncoding: 'json' });
    try {
      await database.open({ createIfMissing: false });
      for await (const _entry of database.iterator());
    } finally {
      await database.close();
    }
  } catch (error) {
    if (error instanceof LocalStateError) throw error;
    const cause = (error as { cause?: { message?: string } }).cause;
    const reason = (cause?.message ?? (error as Error).message).replaceAll(copy, path);
    throw new LocalStateError(
      `the sandbox's saved DynamoDB data in ${path} cannot be read (${reason})`,
      refuseHint(path),
    );
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

const refuseHint = (path: string) =>
  `start afresh with \`chatshyld dev --persist --reset\` (deletes the saved users and sessions), or move ${path} away to keep it`;
