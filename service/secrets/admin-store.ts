/**
 * Secrets as an operator sees them: versioned values with who changed them and when. SSM Parameter
 * Store for deployed stages, the sandbox's secrets file for `local`.
 *
 * Every write is conditional on the version it read: it runs under the secret's write lock (a lease,
 * so a crashed admin cannot block others for long), reads the latest version, and writes the next one.
 */
import { createHash } from 'node:crypto';
import type { SecretName } from '../manifest.js';

export interface SecretRecord {
  readonly name: SecretName;
  /** The JSON text, as functions read it. */
  readonly value: string;
  readonly version: number;
  /** ISO 8601. */
  readonly modifiedAt: string;
  readonly modifiedBy: string;
}

/** What a write makes of the latest version; undefined writes nothing. */
export type SecretChange = (latest: SecretRecord | undefined) => string | undefined | Promise<string | undefined>;

export interface SecretAdminStore {
  /** Where the secrets live, for messages: an SSM path or a file. */
  readonly location: string;
  get(name: SecretName): Promise<SecretRecord | undefined>;
  /** Writes a new version; with `expectedVersion`, only while that is still the latest. */
  put(name: SecretName, value: string, options?: { expectedVersion?: number }): Promise<SecretRecord>;
  /**
   * Holding the write lock: reads the latest version and writes what `change` makes of it. An abort
   * of `signal` while it waits for the lock ends the wait at once, with `signal.reason`, writing nothing.
   */
  update(name: SecretName, change: SecretChange, options?: { signal?: AbortSignal }): Promise<SecretRecord | undefined>;
  /** Every version kept, oldest first. */
  history(name: SecretName): Promise<SecretRecord[]>;
  /** Told once per write that finds another admin's lock, before it waits: a wait is never silent. */
  onLockWait?: (message: string) => void;
  /** Told when a write succeeded but its lock could not be removed (it then holds until its lease ends). */
  onLockLeft?: (message: string) => void;
}

/** How long a writer waits for another's lock, and how long a lock holds if its owner dies. */
export interface LockTiming {
  readonly waitMs: number;
  readonly leaseMs: number;
}

export const defaultLockTiming: LockTiming = { waitMs: 30_000, leaseMs: 60_000 };

/** Another admin holds the write lock, and kept it longer than this one would wait. */
export class SecretLockedError extends Error {
  override readonly name = 'SecretLockedError';
}

/** The secret changed since it was read: the write did not happen (or, on SSM, raced one that did). */
export class ConcurrentChangeError extends Error {
  override readonly name = 'ConcurrentChangeError';
}

/** The lock file or parameter's content. */
export interface LockHolder {
  readonly owner: string;
  readonly token: string;
  readonly leaseUntil: string;
}

export function describeHolder(holder: LockHolder | undefined): string {
  return holder ? `${holder.owner} (lease until ${holder.leaseUntil})` : 'another admin';
}

/** The change a plain `put` makes: the value, refused if someone wrote since `expectedVersion`. */
export function replaceWith(name: SecretName, value: string, expectedVersion: number | undefined): SecretChange {
  return (latest) => {
    const version = latest?.version ?? 0;
    if (expectedVersion !== undefined && version !== expectedVersion) {
      throw new ConcurrentChangeError(
        `${name} changed since it was read: version ${version}${latest ? ` by ${latest.modifiedBy} at ${latest.modifiedAt}` : ''}, not ${expectedVersion}; nothing was written`,
      );
    }
    return value;
  };
}

export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Identifies a value without revealing it. */
export function fingerprint(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 16)}`;
}
