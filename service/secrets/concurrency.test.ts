import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSecretAdminStore } from './file-admin-store.js';
import { SsmSecretAdminStore } from './ssm-admin-store.js';
import { describeAdminRaces, raceLockTiming, type RaceBackend } from './testing/admin-races.js';
import { fakeSsm, type FakeSsm } from './testing/fake-ssm.js';

const lockTiming = raceLockTiming;

const backends: { name: string; setUp: () => Promise<RaceBackend> }[] = [
  {
    name: 'the file store',
    setUp: async () => {
      const directory = await mkdtemp(join(tmpdir(), 'chatshyld-race-'));
      cleanups.push(() => rm(directory, { recursive: true, force: true }));
      const path = join(directory, 'secrets.json');
      return {
        admin: (who) => new FileSecretAdminStore(path, who, () => new Date(), lockTiming),
        holdLock: (owner, leaseUntil) =>
          writeFile(`${path}.lock`, JSON.stringify({ owner, token: 'someone-else', leaseUntil: leaseUntil.toISOString() })),
      };
    },
  },
  {
    name: 'the SSM store (mocked at the call shape)',
    setUp: async () => {
      ssm.reset();
      fake = fakeSsm(ssm);
      return {
        admin: (who) => new SsmSecretAdminStore(new SSMClient({ region: 'eu-west-1' }), 'dev', undefined, who, lockTiming),
        holdLock: async (owner, leaseUntil) => {
          fake.parameters.set('/chatshyld/dev/locks/jwt-secret', [
            { Version: 1, Type: 'String', Value: JSON.stringify({ owner, token: 'someone-else', leaseUntil: leaseUntil.toISOString() }) },
          ]);
        },
      };
    },
  },
];
const ssm = mockClient(SSMClient);
let fake: FakeSsm;
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  ssm.restore();
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

describe('the file store lock', () => {
  it('takes over an empty lock file left by a writer that died before filling it in, once its lease is over', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'chatshyld-lock-'));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
    const path = join(directory, 'secrets.json');
    await writeFile(`${path}.lock`, '');
    const store = new FileSecretAdminStore(path, 'alice', () => new Date(), { waitMs: 3000, leaseMs: 300 });
    await expect(store.put('test-numbers', '[]')).resolves.toMatchObject({ version: 1 });
  });
});

for (const { name, setUp } of backends) describeAdminRaces(name, setUp);
