/**
 * Key rings: the values of the `jwt-secret` and `refresh-pepper` secrets.
 *
 * Document shape (JSON): `{ current: Key, previous?: Key, next?: Key }`, each key
 * `{ kid, secret, createdAt }` with `secret` the base64url (or base64) of at least 32 random bytes.
 * Only `current` signs or hashes; every key present verifies or is looked up. `previous` keeps tokens
 * made before a rotation valid; `next` lets a rotation publish a key everywhere before any token uses it.
 */
import { randomBytes } from 'node:crypto';
import type { SecretName } from '../manifest.js';
import { MisconfigurationError } from './errors.js';
import type { Clock, SecretSource } from './ports.js';

export const minimumKeyBytes = 32;

export interface KeyEntry {
  readonly kid: string;
  readonly secret: string;
  readonly createdAt: string;
  /** On a previous key: when it stopped signing (tokens it made may live on for their lifetime). */
  readonly retiredAt?: string;
}

export interface KeyRingDocument {
  readonly current: KeyEntry;
  readonly previous?: KeyEntry | null;
  readonly next?: KeyEntry | null;
}

export interface Key {
  readonly kid: string;
  readonly bytes: Uint8Array;
  readonly createdAt: string;
}

export interface KeyRing {
  readonly current: Key;
  readonly previous?: Key;
  readonly next?: Key;
}

const base64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const kidPattern = /^[A-Za-z0-9._-]{1,64}$/;

function parseKey(secretName: string, slot: string, value: unknown): Key {
  const where = `${secretName}.${slot}`;
  if (typeof value !== 'object' || value === null) {
    throw new MisconfigurationError(`${where} must be an object {kid, secret, createdAt}`);
  }
  const { kid, secret, createdAt } = value as Record<string, unknown>;
  if (typeof kid !== 'string' || !kidPattern.test(kid)) {
    throw new MisconfigurationError(`${where}.kid must be 1-64 characters of A-Z a-z 0-9 . _ -`);
  }
  if (typeof secret !== 'string' || !base64.test(secret)) {
    throw new MisconfigurationError(`${where}.secret must be base64url text`);
  }
  const bytes = new Uint8Array(Buffer.from(secret, 'base64'));
  if (bytes.length < minimumKeyBytes) {
    throw new MisconfigurationError(
      `${where} (kid ${kid}) is ${bytes.length} bytes; keys must be at least ${minimumKeyBytes} bytes`,
    );
  }
  if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt))) {
    throw new MisconfigurationError(`${where}.createdAt must be an ISO 8601 date`);
  }
  return { kid, bytes, createdAt };
}

/** Parses and checks a key-ring document; refuses short keys and duplicate kids. */
export function parseKeyRing(secretName: string, text: string): KeyRing {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new MisconfigurationError(`${secretName} is not valid JSON`, { cause });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new MisconfigurationError(`${secretName} must be a JSON object {current, previous?, next?}`);
  }
  const { current, previous, next, ...rest } = document as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new MisconfigurationError(`${secretName} has unknown fields: ${unknown.join(', ')}`);
  }
  const ring: KeyRing = {
    current: parseKey(secretName, 'current', current),
    ...(previous == null ? {} : { previous: parseKey(secretName, 'previous', previous) }),
    ...(next == null ? {} : { next: parseKey(secretName, 'next', next) }),
  };
  const kids = keysOf(ring).map((key) => key.kid);
  if (new Set(kids).size !== kids.length) {
    throw new MisconfigurationError(`${secretName} uses one kid for two keys`);
  }
  return ring;
}

/** Every key of the ring, current first. */
export function keysOf(ring: KeyRing): Key[] {
  return [ring.current, ring.previous, ring.next].filter((key): key is Key => key !== undefined);
}

/**
 * Reads one key ring through a caching `SecretSource`. A kid the cached ring does not know forces
 * one fresh read, at most once per cooldown, so a rotation made elsewhere is seen at once while a
 * stream of forged kids cannot turn into a stream of SSM calls.
 */
export class KeyRingReader {
  private parsed: { text: string; ring: KeyRing } | undefined;
  private lastForcedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly source: SecretSource,
    private readonly name: SecretName,
    private readonly clock: Clock,
    private readonly forceCooldownMs: number,
  ) {}

  async ring(options: { forceFetch?: boolean } = {}): Promise<KeyRing> {
    const text = await this.source.get(this.name, options);
    if (text === undefined) {
      throw new MisconfigurationError(`secret ${this.name} is missing`);
    }
    if (this.parsed?.text !== text) {
      this.parsed = { text, ring: parseKeyRing(this.name, text) };
    }
    return this.parsed.ring;
  }

  async find(kid: string): Promise<Key | undefined> {
    const known = keysOf(await this.ring()).find((key) => key.kid === kid);
    if (known) return known;
    const refreshed = await this.refreshed();
    return refreshed && keysOf(refreshed).find((key) => key.kid === kid);
  }

  /** A freshly read ring, or undefined while the cooldown since the last forced read runs. */
  async refreshed(): Promise<KeyRing | undefined> {
    const now = this.clock.now();
    if (now - this.lastForcedAt < this.forceCooldownMs) return undefined;
    this.lastForcedAt = now;
    return this.ring({ forceFetch: true });
  }
}

/** A fresh key: 64 random bytes, with a kid that sorts by creation time. */
export function newKey(now: Date): KeyEntry {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return {
    kid: `${stamp}-${randomBytes(4).toString('hex')}`,
    secret: randomBytes(64).toString('base64url'),
    createdAt: now.toISOString(),
  };
}
