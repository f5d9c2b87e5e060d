import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListFunctionsCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import {
  GetParameterHistoryCommand,
  ParameterMaxVersionLimitExceeded,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newKey, parseKeyRing, type KeyRingDocument } from '../core/key-ring.js';
import { fingerprint, type SecretAdminStore } from './admin-store.js';
import { validateSecret } from './checks.js';
import { FileSecretAdminStore } from './file-admin-store.js';
import { restartStageFunctions } from './restart.js';
import { rotateKeyRing } from './rotation.js';
import { fakeSsm } from './testing/fake-ssm.js';
import { SecretTooLargeError, SsmSecretAdminStore, VersionLimitError } from './ssm-admin-store.js';

const minute = 60_000;
const day = 24 * 60 * minute;

describe('the file secret store', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'chatshyld-admin-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('keeps versions with who and when, in a 0600 file', async () => {
    const path = join(directory, 'a.json');
    const store = new FileSecretAdminStore(path, 'alice');
    expect(await store.get('twilio')).toBeUndefined();
    await store.put('test-numbers', '[]');
    const second = await store.put('test-numbers', '[{"phone":"+14155550123","code":"1234","expiresAt":"2026-12-01T00:00:00Z"}]');
    expect(second).toMatchObject({ name: 'test-numbers', version: 2, modifiedBy: 'alice' });
    expect((await store.history('test-numbers')).map((record) => record.version)).toEqual([1, 2]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // The sandbox reads the same file: the value is there as a JSON document.
    expect(JSON.parse(await readFile(path, 'utf8')).secrets['test-numbers'][0].code).toBe('1234');
  });

  it('counts a hand edit of the file as the newest version', async () => {
    const path = join(directory, 'b.json');
    const store = new FileSecretAdminStore(path, 'alice');
    await store.put('test-numbers', '[]');
    const document = JSON.parse(await readFile(path, 'utf8'));
    document.secrets['test-numbers'] = [{ phone: '+14155550123', code: '9999', expiresAt: '2026-12-01T00:00:00Z' }];
    await writeFile(path, JSON.stringify(document));
    expect(await store.get('test-numbers')).toMatchObject({ version: 2, modifiedBy: 'edited in the file' });
    expect((await store.put('test-numbers', '[]')).version).toBe(3);
  });
});

describe('key-ring rotation', () => {
  let directory: string;
  let now: number;
  const sleeps: number[] = [];
  const options = (overrides: object = {}) => ({
    tokenLifetimeMs: 15 * minute,
    propagationMs: 66_000,
    now: () => new Date(now),
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    ...overrides,
  });
  const ring = async (store: FileSecretAdminStore) => JSON.parse((await store.get('jwt-secret'))!.value) as KeyRingDocument;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'chatshyld-rotation-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });
  beforeEach(() => {
    now = Date.parse('2026-06-01T00:00:00Z');
    sleeps.length = 0;
  });

  const freshStore = async (name: string) => {
    const store = new FileSecretAdminStore(join(directory, `${name}.json`), 'oncall', () => new Date(now));
    await store.put('jwt-secret', JSON.stringify({ current: newKey(new Date(now - day)) }));
    return store;
  };

  it('publishes the new key, waits out the cache, then promotes it and keeps the old one verifying', async () => {
    const store = await freshStore('two-phase');
    const before = await ring(store);
    const published: KeyRingDocument[] = [];
    const watching: SecretAdminStore = {
      location: store.location,
      get: (name) => store.get(name),
      history: (name) => store.history(name),
      put: (name, value, options) => store.put(name, value, options),
      update: (name, change) =>
        store.update(name, async (latest) => {
          const value = await change(latest);
          if (value !== undefined) published.push(JSON.parse(value));
          return value;
        }),
    };
    const started = now;
    const result = await rotateKeyRing(watching, 'jwt-secret', options());

    expect(published).toHaveLength(2);
    expect(published[0]).toEqual({ current: before.current, verifyOnly: [expect.objectContaining({ kid: result.newKid })], revoked: [] });
    // One wait for every reader to verify with the new key, one for every reader to sign with it.
    expect(sleeps.reduce((sum, ms) => sum + ms, 0)).toBe(2 * 66_000);
    const after = await ring(store);
    expect(after.current.kid).toBe(result.newKid);
    expect(after.current.signingSince).toBe(new Date(started + 66_000).toISOString());
    expect(after.verifyOnly).toEqual([
      expect.objectContaining({
        kid: before.current.kid,
        retiredAt: new Date(started + 66_000).toISOString(),
        // Readers that have not seen the promotion may sign with it for 66 s more.
        validUntil: new Date(started + 66_000 + 66_000 + 15 * minute).toISOString(),
      }),
    ]);
    expect(after.next).toBeUndefined();
    expect(() => parseKeyRing('jwt-secret', JSON.stringify(after))).not.toThrow();
    expect(result.previousKeptUntil).toBe(new Date(started + 66_000 + 66_000 + 15 * minute).toISOString());
    expect((await store.history('jwt-secret')).map((record) => record.version)).toEqual([1, 2, 3]);
  });

  it('rotates again at once without dropping a key that may protect live tokens, and prunes keys past their lifetime', async () => {
    const store = await freshStore('again');
    const first = (await ring(store)).current.kid;
    const a = await rotateKeyRing(store, 'jwt-secret', options());
    const b = await rotateKeyRing(store, 'jwt-secret', options());
    const c = await rotateKeyRing(store, 'jwt-secret', options());
    const kids = (document: KeyRingDocument) => [document.current.kid, ...(document.verifyOnly ?? []).map((key) => key.kid)].sort();
    expect(kids(await ring(store))).toEqual([first, a.newKid, b.newKid, c.newKid].sort());
    expect(a.droppedKids).toEqual([]);
    expect(c.droppedKids).toEqual([]);
    // 15 minutes after the first retirement, the next write prunes that key, and only that one.
    now = Date.parse(a.previousKeptUntil!) + 1;
    const d = await rotateKeyRing(store, 'jwt-secret', options());
    expect(d.droppedKids).toEqual([first]);
    expect(kids(await ring(store))).not.toContain(first);
  });

  it('keeps a retired pepper for the whole refresh-token lifetime however often it rotates', async () => {
    const store = new FileSecretAdminStore(join(directory, 'pepper.json'), 'oncall', () => new Date(now));
    const original = newKey(new Date(now));
    await store.put('refresh-pepper', JSON.stringify({ current: original }));
    const pepperOptions = options({ tokenLifetimeMs: 30 * day });
    await rotateKeyRing(store, 'refresh-pepper', pepperOptions);
    for (let i = 0; i < 5; i++) {
      now += 5 * day;
      await rotateKeyRing(store, 'refresh-pepper', pepperOptions);
    }
    const kids = () => store.get('refresh-pepper').then((record) => parseKeyRing('refresh-pepper', record!.value).keys.map((key) => key.kid));
    expect(await kids()).toContain(original.kid);
    expect(await kids()).toHaveLength(7);
    now += 6 * day;
    await rotateKeyRing(store, 'refresh-pepper', pepperOptions);
    expect(await kids()).not.toContain(original.kid);
  });

  it('resumes a rotation cut short after publishing, with the key it published', async () => {
    const store = await freshStore('resume');
    const current = (await ring(store)).current;
    const published = newKey(new Date(now));
    await store.put('jwt-secret', JSON.stringify({ current, next: published }));
    const result = await rotateKeyRing(store, 'jwt-secret', options());
    expect(result.newKid).toBe(published.kid);
    expect((await ring(store)).current.kid).toBe(published.kid);
  });

  it('restarts functions instead of waiting when asked to', async () => {
    const store = await freshStore('restart');
    let restarted = 0;
    await rotateKeyRing(store, 'jwt-secret', options({ restartFunctions: async () => void (restarted += 1) }));
    // Once so every reader verifies with the new key, once so every reader signs with it.
    expect(restarted).toBe(2);
    expect(sleeps).toEqual([]);
  });

  it('on --revoke-previous leaves only the new key, at once', async () => {
    const store = await freshStore('revoke');
    await rotateKeyRing(store, 'jwt-secret', options());
    const result = await rotateKeyRing(store, 'jwt-secret', options({ revokePrevious: true }));
    const after = await ring(store);
    expect(after.verifyOnly).toEqual([]);
    expect(after.current.kid).toBe(result.newKid);
    expect(result.droppedKids).toHaveLength(2);
    expect(after.revoked!.map((entry) => entry.kid).sort()).toEqual([...result.droppedKids].sort());
  });

  it('changes nothing on a dry run', async () => {
    const store = await freshStore('dry');
    const before = await store.get('jwt-secret');
    const result = await rotateKeyRing(store, 'jwt-secret', options({ dryRun: true }));
    expect(result.dryRun).toBe(true);
    expect(await store.get('jwt-secret')).toEqual(before);
    expect(sleeps).toEqual([]);
  });

  it('refuses to rotate a missing or malformed ring', async () => {
    const store = new FileSecretAdminStore(join(directory, 'missing.json'));
    await expect(rotateKeyRing(store, 'jwt-secret', options())).rejects.toThrow(/does not exist yet/);
    await store.put('jwt-secret', JSON.stringify({ current: { kid: 'k', secret: 'c2hvcnQ', createdAt: '2026-01-01T00:00:00Z' } }));
    await expect(rotateKeyRing(store, 'jwt-secret', options())).rejects.toThrow(/at least 32 bytes/);
  });
});

describe('SSM secret store (call shapes)', () => {
  const ssm = mockClient(SSMClient);
  const store = (kms?: string) => new SsmSecretAdminStore(new SSMClient({ region: 'eu-west-1' }), 'dev', kms);
  beforeEach(() => ssm.reset());

  const secretWrites = () => ssm.commandCalls(PutParameterCommand).map((call) => call.args[0].input).filter((input) => input.Type === 'SecureString');

  it('writes SecureStrings with Overwrite, a tier by size, and the stage KMS key', async () => {
    fakeSsm(ssm);
    await store('alias/chatshyld').put('test-numbers', '[]');
    await store().put('test-numbers', JSON.stringify('x'.repeat(5000)));
    const [small, large] = secretWrites();
    expect(small).toMatchObject({
      Name: '/chatshyld/dev/test-numbers',
      Value: '[]',
      Type: 'SecureString',
      Overwrite: true,
      Tier: 'Standard',
      KeyId: 'alias/chatshyld',
    });
    expect(large).toMatchObject({ Tier: 'Advanced' });
    expect(large).not.toHaveProperty('KeyId');
  });

  it('keeps an advanced parameter advanced', async () => {
    fakeSsm(ssm).parameters.set('/chatshyld/dev/test-numbers', [{ Version: 1, Tier: 'Advanced', Value: '[]', Type: 'SecureString' }]);
    await store().put('test-numbers', '[]');
    expect(secretWrites()[0]!.Tier).toBe('Advanced');
  });

  it('pages through the history, decrypted, oldest first', async () => {
    ssm
      .on(GetParameterHistoryCommand, { Name: '/chatshyld/dev/jwt-secret', WithDecryption: true, NextToken: undefined })
      .resolves({
        Parameters: [
          { Version: 2, Value: 'two', LastModifiedUser: 'arn:aws:iam::1:user/bob', LastModifiedDate: new Date('2026-02-01') },
          { Version: 1, Value: 'one', LastModifiedUser: 'arn:aws:iam::1:user/ann', LastModifiedDate: new Date('2026-01-01') },
        ],
        NextToken: 'page-2',
      })
      .on(GetParameterHistoryCommand, { NextToken: 'page-2' })
      .resolves({ Parameters: [{ Version: 3, Value: 'three', LastModifiedUser: 'arn:aws:iam::1:role/ci' }] });
    const history = await store().history('jwt-secret');
    expect(history.map((record) => [record.version, record.value, record.modifiedBy])).toEqual([
      [1, 'one', 'arn:aws:iam::1:user/ann'],
      [2, 'two', 'arn:aws:iam::1:user/bob'],
      [3, 'three', 'arn:aws:iam::1:role/ci'],
    ]);
    expect((await store().get('jwt-secret'))?.value).toBe('three');
    expect(ssm.commandCalls(GetParameterHistoryCommand).every((call) => call.args[0].input.MaxResults === 50)).toBe(true);
  });

  it('says what to do when SSM keeps 100 versions and will not drop the oldest', async () => {
    fakeSsm(ssm);
    ssm.on(PutParameterCommand, { Name: '/chatshyld/dev/twilio' }).rejects(new ParameterMaxVersionLimitExceeded({ message: 'limit', $metadata: {} }));
    await expect(store().put('twilio', '{}')).rejects.toBeInstanceOf(VersionLimitError);
    await expect(store().put('twilio', '{}')).rejects.toThrow(/100 versions and its oldest carries a label/);
  });

  it('refuses values SSM cannot hold, before calling it', async () => {
    fakeSsm(ssm);
    await expect(store().put('test-numbers', 'x'.repeat(9000))).rejects.toBeInstanceOf(SecretTooLargeError);
    expect(secretWrites()).toHaveLength(0);
  });
});

describe('secret validation', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  it.each([
    ['jwt-secret', JSON.stringify({ current: newKey(now) }), true],
    ['jwt-secret', '{"current":{}}', false],
    ['twilio', JSON.stringify({ accountSid: `AC${'a'.repeat(32)}`, authToken: 'b'.repeat(32), verifyServiceSid: `VA${'c'.repeat(32)}` }), true],
    ['twilio', '{"accountSid":"AC1"}', false],
    ['test-numbers', '[{"phone":"+14155550123","code":"123456","expiresAt":"2026-07-01T00:00:00Z"}]', true],
    ['test-numbers', '[{"phone":"+14155550123","code":"123456","expiresAt":"2026-12-01T00:00:00Z"}]', false],
    ['test-numbers', '[{"phone":"4155550123","code":"123456","expiresAt":"2026-07-01T00:00:00Z"}]', false],
    ['test-numbers', '[{"phone":"+14155550123","code":"12","expiresAt":"2026-07-01T00:00:00Z"}]', false],
    ['test-numbers', '[{"phone":"+14155550123","code":"12345","expiresAt":"2026-07-01T00:00:00Z"}]', false],
    ['test-numbers', '[{"phone":"+114155550123","code":"123456","expiresAt":"2026-07-01T00:00:00Z"}]', true],
  ] as const)('%s: %s → %s', (name, value, ok) => {
    expect(validateSecret(name, value, now).ok).toBe(ok);
  });

  it('summarizes without revealing', () => {
    const key = newKey(now);
    const result = validateSecret('jwt-secret', JSON.stringify({ current: key }), now);
    expect(JSON.stringify(result)).not.toContain(key.secret);
    expect(fingerprint('x')).toMatch(/^sha256:[0-9a-f]{16}$/);
  });
});

describe('restarting a stage\'s functions', () => {
  const lambda = mockClient(LambdaClient);
  beforeEach(() => lambda.reset());

  it('touches every function of the stage, keeping its environment, and waits for the update', async () => {
    lambda
      .on(ListFunctionsCommand, { Marker: undefined })
      .resolves({ Functions: [{ FunctionName: 'ChatShyld-dev-getMe' }, { FunctionName: 'ChatShyld-prod-getMe' }], NextMarker: 'm2' })
      .on(ListFunctionsCommand, { Marker: 'm2' })
      .resolves({ Functions: [{ FunctionName: 'ChatShyld-dev-refresh' }, { FunctionName: 'Other' }] });
    lambda.on(GetFunctionConfigurationCommand).resolves({ Environment: { Variables: { CHATSHYLD_STAGE: 'dev' } } });
    // What the update waiter polls.
    lambda.on(GetFunctionCommand).resolves({ Configuration: { LastUpdateStatus: 'Successful', State: 'Active' } });
    lambda.on(UpdateFunctionConfigurationCommand).resolves({});
    const names = await restartStageFunctions(new LambdaClient({ region: 'eu-west-1' }), 'dev');
    expect(names.sort()).toEqual(['ChatShyld-dev-getMe', 'ChatShyld-dev-refresh']);
    const updates = lambda.commandCalls(UpdateFunctionConfigurationCommand).map((call) => call.args[0].input);
    expect(updates).toHaveLength(2);
    expect(lambda.commandCalls(GetFunctionCommand).length).toBeGreaterThanOrEqual(2);
    for (const update of updates) {
      expect(update.Environment?.Variables).toMatchObject({ CHATSHYLD_STAGE: 'dev', CHATSHYLD_SECRETS_RELOADED_AT: expect.any(String) });
    }
  });

  it('says when the stage has no functions', async () => {
    lambda.on(ListFunctionsCommand).resolves({ Functions: [] });
    await expect(restartStageFunctions(new LambdaClient({ region: 'eu-west-1' }), 'dev')).rejects.toThrow(/no functions named ChatShyld-dev-/);
  });
});
