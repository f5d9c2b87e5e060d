import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSecretAdminStore } from './file-admin-store.js';

describe('the secrets file lock, taken over from a writer that died', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'chatshyld-lock-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('lets concurrent writers past an expired lease one at a time: every reported write is in the history', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const path = join(directory, `secrets-${trial}.json`);
      const timing = { waitMs: 5_000, leaseMs: 4_000 };
      await new FileSecretAdminStore(path, 'setup', () => new Date(), timing).put('test-numbers', '[]');
      // A lock whose lease has just run out: every writer below finds it abandoned at once.
      const expired = { owner: 'gone, pid 1', token: 'dead', leaseUntil: new Date(Date.now() - 1).toISOString() };
      await writeFile(`${path}.lock`, JSON.stringify(expired));
      const writers = Array.from({ length: 6 }, (_, i) =>
        new FileSecretAdminStore(path, `writer-${i}`, () => new Date(), timing)
          .put('test-numbers', JSON.stringify([]).replace('[]', `[${' '.repeat(i)}]`))
          .then((record) => record.version, (error: Error) => error.name),
      );
      const outcomes = await Promise.all(writers);
      const versions = outcomes.filter((outcome): outcome is number => typeof outcome === 'number');
      const refused = outcomes.filter((outcome) => typeof outcome !== 'number');
      expect(refused.every((name) => name === 'ConcurrentChangeError' || name === 'SecretLockedError'), String(refused)).toBe(true);
      // No two writers may report the same version: that is a lost write.
      expect(new Set(versions).size, `trial ${trial}: ${outcomes.join(', ')}`).toBe(versions.length);
      const history = await new FileSecretAdminStore(path, 'reader', () => new Date(), timing).history('test-numbers');
      expect(history).toHaveLength(1 + versions.length);
    }
  });
});
