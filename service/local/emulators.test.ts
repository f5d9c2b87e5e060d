import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulators } from './emulators.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

/** Whether something still listens on 127.0.0.1:port: binding the same port succeeds only once it is free. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

describe('emulators', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'chatshyld-emulators-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('serves GetItem and PutObject through the SDK, and close() releases both ports', async () => {
    const emulators = await startEmulators({ namePrefix: 'worker-test' });
    const ports = [emulators.dynamoEndpoint, emulators.s3Endpoint].map((endpoint) => Number(new URL(endpoint).port));
    try {
      expect(await portIsFree(ports[0]!)).toBe(false);
      expect(await portIsFree(ports[1]!)).toBe(false);
      await emulators.dynamo.send(
        new PutItemCommand({ TableName: emulators.tableNames.users, Item: { pk: { S: 'user#1' }, name: { S: 'Ada' } } }),
      );
      const got = await emulators.dynamo.send(new GetItemCommand({ TableName: emulators.tableNames.users, Key: { pk: { S: 'user#1' } } }));
      expect(got.Item?.name?.S).toBe('Ada');
      await emulators.s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key: 'a.txt', Body: 'hello' }));
      const object = await emulators.s3.send(new GetObjectCommand({ Bucket: emulators.bucket, Key: 'a.txt' }));
      expect(await object.Body?.transformToString()).toBe('hello');
    } finally {
      await emulators.close();
    }
    expect(await portIsFree(ports[0]!)).toBe(true);
    expect(await portIsFree(ports[1]!)).toBe(true);
  });

  it('keeps DynamoDB data across a restart with persistDir', async () => {
    const persistDir = join(scratch, 'state');
    const first = await startEmulators({ persistDir, namePrefix: 'persist' });
    await first.dynamo.send(new PutItemCommand({ TableName: first.tableNames.users, Item: { pk: { S: 'user#kept' } } }));
    await first.close();
    const second = await startEmulators({ persistDir, namePrefix: 'persist' });
    try {
      const got = await second.dynamo.send(new GetItemCommand({ TableName: second.tableNames.users, Key: { pk: { S: 'user#kept' } } }));
      expect(got.Item?.pk?.S).toBe('user#kept');
    } finally {
      await second.close();
    }
  });

  describe('refuses saved data it cannot read, and keeps it', () => {
    /** Every data file of a folder with a digest of its bytes (not LevelDB's diagnostic LOG, which each open rotates). */
    const snapshot = async (dir: string) =>
      Object.fromEntries(
        await Promise.all(
          (await readdir(dir))
            .filter((name) => !name.startsWith('LOG'))
            .sort()
            .map(async (name) => [name, createHash('sha256').update(await readFile(join(dir, name))).digest('hex')]),
        ),
      );

    /** A persist folder holding one item, written to a table file (a restart moves the log into one). */
    async function saved(name: string): Promise<string> {
      const persistDir = join(scratch, name);
      for (let run = 0; run < 2; run++) {
        const emulators = await startEmulators({ persistDir, namePrefix: 'damaged' });
        await emulators.dynamo.send(new PutItemCommand({ TableName: emulators.tableNames.users, Item: { pk: { S: `user#${run}` } } }));
        await emulators.close();
      }
      return persistDir;
    }

    const refusal = (dynamo: string) => ({
      name: 'LocalStateError',
      message: expect.stringContaining(dynamo),
      hint: expect.stringContaining('--reset'),
    });

    // Refused before LevelDB opens anything: every data file as it was (before, a missing CURRENT
    // made a new, empty database and the old files were deleted).
    it.each([
      ['CURRENT missing', (dynamo: string) => rm(join(dynamo, 'CURRENT'))],
      ['CURRENT garbage', (dynamo: string) => writeFile(join(dynamo, 'CURRENT'), 'MANIFEST-0')],
      [
        'the manifest missing',
        async (dynamo: string) => {
          for (const name of await readdir(dynamo)) if (name.startsWith('MANIFEST-')) await rm(join(dynamo, name));
        },
      ],
    ])('%s', async (name, damage) => {
      const persistDir = await saved(name.replace(/\W+/g, '-'));
      const dynamo = join(persistDir, 'dynamodb');
      await damage(dynamo);
      const before = await snapshot(dynamo);
      await expect(startEmulators({ persistDir, namePrefix: 'damaged' })).rejects.toMatchObject(refusal(dynamo));
      expect(await snapshot(dynamo)).toEqual(before);
    });

    it('starts on good data kept behind a symlink', async () => {
      const elsewhere = await saved('linked-target');
      const persistDir = join(scratch, 'linked');
      await mkdir(persistDir);
      await symlink(join(elsewhere, 'dynamodb'), join(persistDir, 'dynamodb'));
      const emulators = await startEmulators({ persistDir, namePrefix: 'damaged' });
      try {
        const got = await emulators.dynamo.send(new GetItemCommand({ TableName: emulators.tableNames.users, Key: { pk: { S: 'user#1' } } }));
        expect(got.Item?.pk?.S).toBe('user#1');
      } finally {
        await emulators.close();
      }
    });

    it('a link to a folder that is gone', async () => {
      const persistDir = join(scratch, 'dangling');
      await mkdir(persistDir);
      const gone = join(scratch, 'gone', 'dynamodb');
      await symlink(gone, join(persistDir, 'dynamodb'));
      await expect(startEmulators({ persistDir, namePrefix: 'damaged' })).rejects.toMatchObject({
        name: 'LocalStateError',
        message: expect.stringContaining(gone),
      });
      await expect(readdir(join(scratch, 'gone'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    // Found while reading, after LevelDB opened the folder (and folded its log into a table, as
    // dynalite's open would): the damaged table is kept as it is.
    it('a table file overwritten', async () => {
      const persistDir = await saved('table');
      const dynamo = join(persistDir, 'dynamodb');
      const table = (await readdir(dynamo)).find((name) => name.endsWith('.ldb'));
      expect(table).toBeDefined();
      const garbage = randomBytes(2048);
      await writeFile(join(dynamo, table!), garbage);
      await expect(startEmulators({ persistDir, namePrefix: 'damaged' })).rejects.toMatchObject(refusal(dynamo));
      expect(await readFile(join(dynamo, table!))).toEqual(garbage);
    });
  });
});
