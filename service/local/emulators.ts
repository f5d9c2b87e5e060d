/**
 * Wire-compatible stand-ins for DynamoDB (dynalite) and S3 (s3rver) on 127.0.0.1, each on a free
 * port, with SDK clients pointed at them. Used by the sandbox and by every adapter test.
 *
 * The two servers run in a worker thread of their own, so the handlers and their SDK clients (which
 * stay on the calling thread) do not share an event loop with the emulators' request parsing.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ensureTables, type TableNames } from '../adapters/dynamodb/tables.js';

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

  const ports = await startEmulatorWorker({ s3Directory, ...(dynamoPath && { dynamoPath }) }).catch(async (error) => {
    if (!options.persistDir) await rm(s3Directory, { recursive: true, force: true });
    throw error;
  });
  const dynamoEndpoint = `http://127.0.0.1:${ports.dynamo}`;
  const s3Endpoint = `http://127.0.0.1:${ports.s3}`;
  const common = { region: emulatorRegion, credentials: emulatorCredentials };
  const dynamo = new DynamoDBClient({ ...common, endpoint: dynamoEndpoint });
  const s3 = new S3Client({ ...common, endpoint: s3Endpoint, forcePathStyle: true });

  const close = async () => {
    dynamo.destroy();
    s3.destroy();
    await ports.stop();
    if (!options.persistDir) await rm(s3Directory, { recursive: true, force: true });
  };
  const setUp = async () => {
    await ensureTables(dynamo, tableNames);
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: Error) => {
      if (error.name !== 'BucketAlreadyOwnedByYou' && error.name !== 'BucketAlreadyExists') throw error;
    });
  };
  try {
    // A worker that dies while the tables are made (dynalite cannot open its LevelDB, say) gives its
    // own error, not the connection refusals that follow it.
    await Promise.race([setUp(), ports.crashed.then((error) => Promise.reject(error))]);
  } catch (error) {
    await close();
    throw error;
  }
  return { dynamo, s3, dynamoEndpoint, s3Endpoint, tableNames, bucket, close };
}

/**
 * The worker's body. Plain CommonJS given as source (`eval`), so the same code runs from dist/ and
 * from TypeScript under the test runner; the two packages are resolved here and passed in by path.
 */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const load = (path) => { const m = require(path); return m.__esModule ? m.default : m; };
const dynalite = load(workerData.dynalite);
const S3rver = load(workerData.s3rver);
(async () => {
  const dynamoServer = dynalite({
    createTableMs: 0, deleteTableMs: 0, updateTableMs: 0,
    ...(workerData.dynamoPath ? { path: workerData.dynamoPath } : {}),
  });
  await new Promise((resolve, reject) => {
    dynamoServer.once('error', reject);
    dynamoServer.listen(0, '127.0.0.1', resolve);
  });
  const s3Server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: workerData.s3Directory });
  let s3Address;
  try {
    s3Address = await s3Server.run();
  } catch (error) {
    await new Promise((resolve) => dynamoServer.close(resolve));
    throw error;
  }
  parentPort.once('message', async () => {
    await Promise.all([new Promise((resolve) => dynamoServer.close(resolve)), s3Server.close()]);
    parentPort.close();
  });
  parentPort.postMessage({ dynamo: dynamoServer.address().port, s3: s3Address.port });
})();
`;

const resolvePackage = createRequire(import.meta.url).resolve;

interface WorkerPorts {
  readonly dynamo: number;
  readonly s3: number;
  /** Settles with the worker's error if it dies after it was ready; never rejects. */
  readonly crashed: Promise<Error>;
  /** Closes both servers and waits for the thread to end. */
  stop(): Promise<void>;
}

/** Starts dynalite and s3rver in a worker thread; rejects with the worker's own error if it cannot. */
export function startEmulatorWorker(data: { s3Directory: string; dynamoPath?: string }): Promise<WorkerPorts> {
  const worker = new Worker(workerSource, {
    eval: true,
    workerData: { ...data, dynalite: resolvePackage('dynalite'), s3rver: resolvePackage('s3rver') },
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  let reportCrash: (error: Error) => void = () => {};
  const crashed = new Promise<Error>((resolve) => (reportCrash = resolve));
  return new Promise((resolve, reject) => {
    let ready = false;
    worker.on('error', (error) => {
      const wrapped = new Error(`local emulators (dynalite, s3rver) ${ready ? 'stopped' : 'failed to start'}: ${error.message}`, { cause: error });
      if (ready) {
        // Requests to the emulators now fail to connect; say why once, where the operator sees it.
        console.error(wrapped.message);
        reportCrash(wrapped);
      } else {
        reject(wrapped);
      }
    });
    void exited.then((code) => {
      if (!ready) reject(new Error(`local emulators (dynalite, s3rver) failed to start: worker exited with code ${code}`));
    });
    worker.once('message', (ports: { dynamo: number; s3: number }) => {
      ready = true;
      resolve({
        ...ports,
        crashed,
        stop: async () => {
          worker.postMessage('close');
          // A worker that does not finish closing in time is ended; its ports go with it.
          const timer = setTimeout(() => void worker.terminate(), 5000);
          await exited;
          clearTimeout(timer);
        },
      });
    });
  });
}
