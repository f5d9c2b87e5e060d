/**
 * The races of several admins on one secret (docs/secrets.md, "Several admins at once"), written once
 * and run against each store: the sandbox's file, SSM modelled at the call shape, and moto's SSM.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newKey, parseKeyRing, type KeyRingDocument } from '../../core/key-ring.js';
import type { SecretAdminStore } from '../admin-store.js';
import { RotationRefused, rotateKeyRing } from '../rotation.js';

export interface RaceBackend {
  /** A store acting as `who`, on the same secrets as every other admin of this test. */
  readonly admin: (who: string) => SecretAdminStore;
  /** Leaves jwt-secret's lock held by `owner` until `leaseUntil`, as a writer elsewhere would. */
  readonly holdLock: (owner: string, leaseUntil: Date) => Promise<void>;
}

export const raceLockTiming = { waitMs: 1500, leaseMs: 4000 };
const options = (overrides: object = {}) => ({ tokenLifetimeMs: 15 * 60_000, propagationMs: 200, ...overrides });

/** A store whose writer, once it holds the lock and has read the ring, waits for `release()`. */
function heldMidWrite(store: SecretAdminStore) {
  let release = () => {};
  let holding = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = new Promise<void>((resolve) => (holding = resolve));
  const wrapped: SecretAdminStore = {
    location: store.location,
    get: (name) => store.get(name),
    history: (name) => store.history(name),
    put: (name, value, putOptions) => store.put(name, value, putOptions),
    update: (name, change) =>
      store.update(name, async (latest) => {
        holding();
        await gate;
        return change(latest);
      }),
  };
  return { store: wrapped, held, release };
}

async function ringOf(store: SecretAdminStore) {
  const record = (await store.get('jwt-secret'))!;
  return { kids: parseKeyRing('jwt-secret', record.value).keys.map((key) => key.kid), document: JSON.parse(record.value) as KeyRingDocument };
}

export function describeAdminRaces(backend: string, setUp: () => Promise<RaceBackend>): void {
  describe(`concurrent admins on ${backend}`, () => {
    let admin: (who: string) => SecretAdminStore;
    let holdLock: (owner: string, leaseUntil: Date) => Promise<void>;
    let original: string;
    beforeAll(() => {
      process.env.AWS_EC2_METADATA_DISABLED = 'true';
    });
    beforeEach(async () => {
      ({ admin, holdLock } = await setUp());
      const key = newKey(new Date(Date.now() - 3600_000));
      original = key.kid;
      await admin('setup').put('jwt-secret', JSON.stringify({ current: key }));
    });

    it('a revocation while a rotation waits: the promotion stops with a clear message, and the revocation stands', async () => {
      let revokedKid = '';
      let revocation: Promise<unknown> | undefined;
      const rotation = rotateKeyRing(admin('alice'), 'jwt-secret', {
        ...options(),
        // During alice's wait, bob revokes.
        sleep: async (ms: number) => {
          revocation ??= rotateKeyRing(admin('bob'), 'jwt-secret', options({ revokePrevious: true })).then((result) => (revokedKid = result.newKid));
          await revocation;
          await new Promise((resolve) => setTimeout(resolve, ms));
        },
      });
      await expect(rotation).rejects.toBeInstanceOf(RotationRefused);
      await expect(rotation).rejects.toThrow(/is no longer in the ring: it was revoked at .*nothing was promoted/);
      const { kids, document } = await ringOf(admin('carol'));
      expect(kids).toEqual([revokedKid]);
      expect(document.revoked!.map((entry) => entry.kid)).toContain(original);
    });

    it('a revocation after the promotion, during the last wait: the rotation does not claim its key signs', async () => {
      let revocation: Promise<unknown> | undefined;
      let revokedKid = '';
      const rotation = rotateKeyRing(admin('alice'), 'jwt-secret', {
        ...options(),
        sleep: async (ms: number) => {
          const { document } = await ringOf(admin('watcher'));
          // Only once alice's key signs: bob's emergency revocation lands in her second wait.
          if (document.current.kid !== original) {
            revocation ??= rotateKeyRing(admin('bob'), 'jwt-secret', options({ revokePrevious: true })).then((result) => (revokedKid = result.newKid));
            await revocation;
          }
          await new Promise((resolve) => setTimeout(resolve, ms));
        },
      });
      await expect(rotation).rejects.toThrow(/a later change replaced it while this rotation waited; the ring now signs with/);
      const { kids } = await ringOf(admin('carol'));
      expect(kids).toEqual([revokedKid]);
    });

    it('a rotation while a revocation holds the lock: the rotation waits, then builds on the revoked ring', async () => {
      const bob = heldMidWrite(admin('bob'));
      const revocation = rotateKeyRing(bob.store, 'jwt-secret', options({ revokePrevious: true }));
      await bob.held;
      let rotated = false;
      const rotation = rotateKeyRing(admin('alice'), 'jwt-secret', options()).then((result) => {
        rotated = true;
        return result;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(rotated).toBe(false);
      expect((await admin('carol').history('jwt-secret')).length).toBe(1); // alice is waiting, not writing
      bob.release();
      const revoked = await revocation;
      const result = await rotation;
      const { kids, document } = await ringOf(admin('carol'));
      expect(kids).not.toContain(original);
      expect(kids.sort()).toEqual([revoked.newKid, result.newKid].sort());
      expect(document.current.kid).toBe(result.newKid);
      expect(document.revoked!.map((entry) => entry.kid)).toEqual([original]);
    });

    it('two rotations at once: the later waits, then carries on with the key the first published (or rotates after it), dropping nothing', async () => {
      const [a, b] = await Promise.all([
        rotateKeyRing(admin('alice'), 'jwt-secret', options()),
        rotateKeyRing(admin('bob'), 'jwt-secret', options()),
      ]);
      const { kids, document } = await ringOf(admin('carol'));
      expect(kids.sort()).toEqual([...new Set([original, a.newKid, b.newKid])].sort());
      expect([a.newKid, b.newKid]).toContain(document.current.kid);
      // publish + promote, once per distinct key
      expect((await admin('carol').history('jwt-secret')).length).toBe(1 + 2 * new Set([a.newKid, b.newKid]).size);
    });

    it('a lock held by another admin: waits, then fails naming the holder; an abandoned lease is taken over', async () => {
      await holdLock('dave (on another laptop)', new Date(Date.now() + 60_000));
      const alice = admin('alice');
      const told: string[] = [];
      alice.onLockWait = (message) => told.push(message);
      const blocked = rotateKeyRing(alice, 'jwt-secret', options());
      await expect(blocked).rejects.toThrow(/is being changed by dave \(on another laptop\) \(lease until .*\); waited 2 s/);
      // Said once, before the wait, not once per retry.
      expect(told).toEqual([expect.stringMatching(/is being changed by dave \(on another laptop\) \(lease until .*\); waiting up to 2 s$/)]);
      expect((await admin('carol').history('jwt-secret')).length).toBe(1);

      await holdLock('dave (on another laptop)', new Date(Date.now() - 1000));
      await expect(rotateKeyRing(admin('alice'), 'jwt-secret', options())).resolves.toMatchObject({ previousKid: original });
    });

    it('a rollback refuses to write over a version it did not see', async () => {
      const seen = (await admin('alice').get('jwt-secret'))!;
      await rotateKeyRing(admin('bob'), 'jwt-secret', options());
      await expect(admin('alice').put('jwt-secret', seen.value, { expectedVersion: seen.version })).rejects.toThrow(
        /changed since it was read: version 3 by .*, not 1; nothing was written/,
      );
    });
  });
}
