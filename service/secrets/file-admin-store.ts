import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SecretName } from '../manifest.js';
import {
  localActor,
  readSecretsDocument,
  writeSecretsDocument,
  type LocalSecretVersion,
  type SecretsDocument,
} from './secrets-file.js';
import {
  ConcurrentChangeError,
  SecretLockedError,
  defaultLockTiming,
  describeHolder,
  pause,
  replaceWith,
  type LockHolder,
  type LockTiming,
  type SecretAdminStore,
  type SecretChange,
  type SecretRecord,
} from './admin-store.js';

/**
 * The `local` stage's secrets: the sandbox's file, with its history standing in for SSM's. Writers
 * take `<file>.lock` (created with O_EXCL, holding a lease) and replace the file by rename.
 */
export class FileSecretAdminStore implements SecretAdminStore {
  onLockWait?: (message: string) => void;

  constructor(
    private readonly path: string,
    private readonly actor: string = localActor(),
    private readonly now: () => Date = () => new Date(),
    private readonly lockTiming: LockTiming = defaultLockTiming,
  ) {}

  get location(): string {
    return this.path;
  }

  async get(name: SecretName): Promise<SecretRecord | undefined> {
    return (await this.history(name)).at(-1);
  }

  async put(name: SecretName, value: string, options: { expectedVersion?: number } = {}): Promise<SecretRecord> {
    return (await this.update(name, replaceWith(name, value, options.expectedVersion)))!;
  }

  async update(name: SecretName, change: SecretChange, options: { signal?: AbortSignal } = {}): Promise<SecretRecord | undefined> {
    const { release, held } = await this.lock(options.signal);
    try {
      const document = await this.read();
      const versions = this.versionsOf(document, name);
      const latest = versions.at(-1);
      const value = await change(latest && toRecord(name, latest));
      if (value === undefined) return latest && toRecord(name, latest);
      const record: LocalSecretVersion = {
        version: (latest?.version ?? 0) + 1,
        value: JSON.parse(value) as unknown,
        modifiedAt: this.now().toISOString(),
        modifiedBy: this.actor,
      };
      // Still ours? Two writers that both found a lease run out could each remove the lock and the
      // second remove the first's fresh one: the first finds that here and writes nothing.
      if (!(await held())) {
        throw new ConcurrentChangeError(`another writer took the lock of ${this.path} while this change was made; nothing was written`);
      }
      // The version check right before writing: nothing may have changed the file under the lock.
      if (JSON.stringify(this.versionsOf(await this.read(), name).at(-1)) !== JSON.stringify(latest)) {
        throw new ConcurrentChangeError(`${name} changed in ${this.path} while locked (edited by hand?); nothing was written`);
      }
      await writeSecretsDocument(this.path, {
        secrets: { ...document.secrets, [name]: record.value },
        history: { ...document.history, [name]: [...versions, record] },
      });
      return toRecord(name, record);
    } finally {
      await release();
    }
  }

  async history(name: SecretName): Promise<SecretRecord[]> {
    return this.versionsOf(await this.read(), name).map((version) => toRecord(name, version));
  }

  /** Takes `<file>.lock`, waiting while another writer's lease runs; returns its release. */
  private async lock(signal?: AbortSignal): Promise<{ release: () => Promise<void>; held: () => Promise<boolean> }> {
    const lockPath = `${this.path}.lock`;
    const token = randomUUID();
    const deadline = Date.now() + this.lockTiming.waitMs;
    let told = false;
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    for (;;) {
      signal?.throwIfAborted();
      try {
        const handle = await open(lockPath, 'wx', 0o600);
        const holder: LockHolder = {
          owner: `${this.actor}, pid ${process.pid}`,
          token,
          leaseUntil: new Date(Date.now() + this.lockTiming.leaseMs).toISOString(),
        };
        await handle.writeFile(JSON.stringify(holder));
        await handle.close();
        const held = async () => (await readHolder(lockPath))?.token === token;
        return {
          held,
          // Only our own lock: after a lease ran out, another writer may hold a new one.
          release: async () => {
            if (await held()) await unlink(lockPath).catch(() => {});
          },
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = await readHolder(lockPath);
      // A lock whose lease ran out, or an empty one left by a writer that died before filling it in.
      const abandoned = holder ? Date.parse(holder.leaseUntil) < Date.now() : await olderThan(lockPath, this.lockTiming.leaseMs);
      if (abandoned) {
        // An abandoned lease: removed only if it is still the one judged abandoned, not a fresh lock
        // another writer took meanwhile (whatever slips through, `held()` catches before writing).
        if ((await readHolder(lockPath))?.token === holder?.token) await unlink(lockPath).catch(() => {});
        continue;
      }
      if (Date.now() >= deadline) {
        throw new SecretLockedError(
          `${this.path} is being changed by ${describeHolder(holder)}; waited ${Math.round(this.lockTiming.waitMs / 1000)} s`,
        );
      }
      if (!told) {
        told = true;
        this.onLockWait?.(`${this.path} is being changed by ${describeHolder(holder)}; waiting up to ${Math.round(this.lockTiming.waitMs / 1000)} s`);
      }
      await pause(25 + Math.random() * 75);
    }
  }

  /** The versions of a secret; a value written without history (an older file) counts as version 1. */
  private versionsOf(document: SecretsDocument, name: SecretName): readonly LocalSecretVersion[] {
    const versions = document.history?.[name] ?? [];
    const current = document.secrets[name];
    if (current === undefined) return versions;
    const latest = versions.at(-1);
    if (latest && JSON.stringify(latest.value) === JSON.stringify(current)) return versions;
    // The file was edited by hand (or by an older sandbox): that value is the newest version.
    return [
      ...versions,
      { version: (latest?.version ?? 0) + 1, value: current, modifiedAt: 'unknown', modifiedBy: 'edited in the file' },
    ];
  }

  private async read(): Promise<SecretsDocument> {
    try {
      return await readSecretsDocument(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { secrets: {}, history: {} };
      throw error;
    }
  }
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > ms;
  } catch {
    return false; // gone: the next attempt takes it
  }
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockHolder;
  } catch {
    return undefined; // gone, or being written this instant
  }
}

function toRecord(name: SecretName, version: LocalSecretVersion): SecretRecord {
  return {
    name,
    value: JSON.stringify(version.value),
    version: version.version,
    modifiedAt: version.modifiedAt,
    modifiedBy: version.modifiedBy,
  };
}
