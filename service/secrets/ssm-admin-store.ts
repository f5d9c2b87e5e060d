import { randomUUID } from 'node:crypto';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  ParameterAlreadyExists,
  ParameterMaxVersionLimitExceeded,
  ParameterNotFound,
  PutParameterCommand,
  type ParameterHistory,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { secretParameterName, secrets, type SecretName } from '../manifest.js';
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

/** SSM's limits: 4 KB for a standard parameter, 8 KB for an advanced one. */
const standardTierBytes = 4096;
const advancedTierBytes = 8192;

export class SecretTooLargeError extends Error {}
export class VersionLimitError extends Error {}

/**
 * A stage's secrets as SecureString parameters under `/chatshyld/<stage>/`.
 *
 * PutParameter has no compare-and-set, so a write (1) creates the lock parameter
 * `/chatshyld/<stage>/locks/<name>` with `Overwrite: false` (only one admin can), holding a lease time,
 * (2) reads the latest version and applies its change, (3) checks right before writing that the
 * version is still the one read, (4) writes, and checks that SSM numbered the write exactly one more
 * (anything else means a writer that ignored the lock raced it), then (5) deletes the lock if it is
 * still its own. A lock whose lease ran out (its owner died) is deleted by the next writer.
 */
export class SsmSecretAdminStore implements SecretAdminStore {
  onLockWait?: (message: string) => void;
  onLockLeft?: (message: string) => void;

  constructor(
    private readonly client: SSMClient,
    private readonly stage: string,
    private readonly kmsKeyId?: string,
    private readonly actor = 'you',
    private readonly lockTiming: LockTiming = defaultLockTiming,
  ) {}

  get location(): string {
    return `SSM ${secretParameterName(this.stage, 'jwt-secret').replace(/[^/]+$/, '')}`;
  }

  async get(name: SecretName): Promise<SecretRecord | undefined> {
    return (await this.history(name)).at(-1);
  }

  async put(name: SecretName, value: string, options: { expectedVersion?: number } = {}): Promise<SecretRecord> {
    return (await this.update(name, replaceWith(name, value, options.expectedVersion)))!;
  }

  async update(name: SecretName, change: SecretChange, options: { signal?: AbortSignal } = {}): Promise<SecretRecord | undefined> {
    const release = await this.lock(name, options.signal);
    try {
      const existing = await this.rawHistory(name);
      const latest = existing.at(-1);
      const value = await change(latest && toRecord(name, latest));
      if (value === undefined) return latest && toRecord(name, latest);
      return await this.write(name, value, latest);
    } finally {
      await release();
    }
  }

  private async write(name: SecretName, value: string, latest: ParameterHistory | undefined): Promise<SecretRecord> {
    const bytes = Buffer.byteLength(value);
    if (bytes > advancedTierBytes) {
      throw new SecretTooLargeError(`${name} is ${bytes} bytes; SSM parameters hold at most ${advancedTierBytes}`);
    }
    const Name = secretParameterName(this.stage, name);
    const readVersion = latest?.Version ?? 0;
    const now = await this.currentVersion(Name);
    if (now !== readVersion) {
      throw new ConcurrentChangeError(`${Name} changed since it was read (version ${now}, not ${readVersion}); nothing was written`);
    }
    // An advanced parameter cannot go back to standard, so once advanced it stays advanced.
    const advanced = bytes > standardTierBytes || latest?.Tier === 'Advanced';
    try {
      const { Version } = await this.client.send(
        new PutParameterCommand({
          Name,
          Value: value,
          Type: 'SecureString',
          Overwrite: true,
          Tier: advanced ? 'Advanced' : 'Standard',
          Description: `ChatShyld ${this.stage}: ${secrets[name].description}`,
          ...(this.kmsKeyId && { KeyId: this.kmsKeyId }),
        }),
      );
      const version = Version ?? readVersion + 1;
      if (version !== readVersion + 1) {
        throw new ConcurrentChangeError(
          `${Name}: another write landed between version ${readVersion} and this one (${version}); check \`chatshyld secrets history ${name} --stage ${this.stage}\``,
        );
      }
      return { name, value, version, modifiedAt: new Date().toISOString(), modifiedBy: this.actor };
    } catch (error) {
      if (error instanceof ParameterMaxVersionLimitExceeded) {
        throw new VersionLimitError(
          `${Name} holds 100 versions and its oldest carries a label, so SSM will not drop it`,
        );
      }
      throw error;
    }
  }

  private async currentVersion(Name: string): Promise<number> {
    try {
      return (await this.client.send(new GetParameterCommand({ Name }))).Parameter?.Version ?? 0;
    } catch (error) {
      if (error instanceof ParameterNotFound) return 0;
      throw error;
    }
  }

  /** The name of a secret's lock parameter. */
  lockName(name: SecretName): string {
    return `/chatshyld/${this.stage}/locks/${name}`;
  }

  private async lock(name: SecretName, signal?: AbortSignal): Promise<() => Promise<void>> {
    const Name = this.lockName(name);
    const token = randomUUID();
    const deadline = Date.now() + this.lockTiming.waitMs;
    let told = false;
    for (;;) {
      signal?.throwIfAborted();
      const holder: LockHolder = { owner: this.actor, token, leaseUntil: new Date(Date.now() + this.lockTiming.leaseMs).toISOString() };
      try {
        await this.client.send(
          new PutParameterCommand({ Name, Value: JSON.stringify(holder), Type: 'String', Overwrite: false, Description: `ChatShyld ${this.stage}: write lock of ${name}` }),
        );
        return async () => {
          // Only our own lock: after a lease ran out, another writer may hold a new one.
          if ((await this.lockHolder(Name))?.token !== token) return;
          try {
            await this.client.send(new DeleteParameterCommand({ Name }));
          } catch (error) {
            if (error instanceof ParameterNotFound) return;
            // The write is done; a lock left behind makes the next writer wait for its lease and
            // blame "another admin", so say here what happened and what the role lacks.
            this.onLockLeft?.(
              `the write lock ${Name} could not be removed (${(error as Error).name}: ${(error as Error).message}); every write of ${name} waits until its lease ends at ${holder.leaseUntil}. The role needs ssm:DeleteParameter on /chatshyld/${this.stage}/locks/*`,
            );
          }
        };
      } catch (error) {
        if (!(error instanceof ParameterAlreadyExists)) throw error;
      }
      const current = await this.lockHolder(Name);
      if (current && Date.parse(current.leaseUntil) < Date.now()) {
        await this.client.send(new DeleteParameterCommand({ Name })).catch(() => {}); // an abandoned lease
        continue;
      }
      if (Date.now() >= deadline) {
        throw new SecretLockedError(
          `${secretParameterName(this.stage, name)} is being changed by ${describeHolder(current)}; waited ${Math.round(this.lockTiming.waitMs / 1000)} s`,
        );
      }
      if (!told) {
        told = true;
        this.onLockWait?.(
          `${secretParameterName(this.stage, name)} is being changed by ${describeHolder(current)}; waiting up to ${Math.round(this.lockTiming.waitMs / 1000)} s`,
        );
      }
      await pause(200 + Math.random() * 300);
    }
  }

  private async lockHolder(Name: string): Promise<LockHolder | undefined> {
    try {
      const { Parameter } = await this.client.send(new GetParameterCommand({ Name }));
      return JSON.parse(Parameter?.Value ?? '') as LockHolder;
    } catch {
      return undefined;
    }
  }

  async history(name: SecretName): Promise<SecretRecord[]> {
    return (await this.rawHistory(name)).map((entry) => toRecord(name, entry));
  }

  private async rawHistory(name: SecretName): Promise<ParameterHistory[]> {
    const entries: ParameterHistory[] = [];
    let NextToken: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new GetParameterHistoryCommand({
            Name: secretParameterName(this.stage, name),
            WithDecryption: true,
            MaxResults: 50,
            NextToken,
          }),
        );
        entries.push(...(page.Parameters ?? []));
        NextToken = page.NextToken;
      } while (NextToken);
    } catch (error) {
      if (error instanceof ParameterNotFound) return [];
      throw error;
    }
    return entries.sort((a, b) => (a.Version ?? 0) - (b.Version ?? 0));
  }
}

function toRecord(name: SecretName, entry: ParameterHistory): SecretRecord {
  return {
    name,
    value: entry.Value ?? '',
    version: entry.Version ?? 0,
    modifiedAt: entry.LastModifiedDate?.toISOString() ?? 'unknown',
    modifiedBy: entry.LastModifiedUser ?? 'unknown',
  };
}
