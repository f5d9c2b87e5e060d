import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
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

/** A GET with a Host header of our choosing (fetch sends its own). */
function rawGet(endpoint: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(endpoint, { method: 'GET', headers: { host } }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
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

  it('answer no web page and no other host name on their own ports, and still serve the SDK', async () => {
    const emulators = await startEmulators({ namePrefix: 'web-page-test' });
    try {
      await emulators.dynamo.send(new PutItemCommand({ TableName: emulators.tableNames.users, Item: { pk: { S: 'user#1' }, phone: { S: '+14155550100' } } }));
      const scan = (headers: Record<string, string>) =>
        fetch(emulators.dynamoEndpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.Scan', authorization: 'AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0', ...headers },
          body: JSON.stringify({ TableName: emulators.tableNames.users }),
        });
      // What a page on any site can send to 127.0.0.1, or through a name it points there (fetch keeps
      // its own Host, so that one goes out through node:http).
      const fromPage = await scan({ origin: 'http://evil.example' });
      expect(fromPage.status).toBe(403);
      expect(fromPage.headers.get('access-control-allow-origin')).toBeNull();
      expect(await fromPage.text()).not.toContain('+14155550100');
      const rebound = await rawGet(emulators.dynamoEndpoint, `rebound.example:${new URL(emulators.dynamoEndpoint).port}`);
      expect(rebound.status).toBe(403);
      expect(rebound.body).not.toContain('+14155550100');
      const preflight = await fetch(emulators.dynamoEndpoint, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
      expect(preflight.status).toBe(403);
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();

      const form = new FormData();
      form.set('key', 'avatar/victim/evil.png');
      form.set('file', new Blob(['x']), 'evil.png');
      const post = await fetch(`${emulators.s3Endpoint}/${emulators.bucket}`, { method: 'POST', body: form, headers: { origin: 'http://evil.example' } });
      expect(post.status).toBe(403);
      const listing = await rawGet(emulators.s3Endpoint, `rebound.example:${new URL(emulators.s3Endpoint).port}`);
      expect(listing.status).toBe(403);
      await expect(emulators.s3.send(new GetObjectCommand({ Bucket: emulators.bucket, Key: 'avatar/victim/evil.png' }))).rejects.toThrow();

      // The sandbox's own clients still reach them.
      const own = await emulators.dynamo.send(new ScanCommand({ TableName: emulators.tableNames.users }));
      expect(own.Items?.[0]?.phone?.S).toBe('+14155550100');
      await emulators.s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key: 'ok.txt', Body: 'ok' }));
    } finally {
      await emulators.close();
    }
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
