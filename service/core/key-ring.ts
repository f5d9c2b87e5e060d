/**
 * Key rings: the values of the `jwt-secret` and `refresh-pepper` secrets.
 *
 * Document shape (JSON):
 *   `{ current: Key, verifyOnly?: Key[], revoked?: [{kid, revokedAt}] }`
 * each key `{ kid, secret, createdAt, signingSince?, retiredAt?, validUntil? }` with `secret` the
 * base64url (or base64) of at least 32 random bytes. Only `current` signs or hashes; every key of the
 * ring verifies or is looked up. A verify-only key is either published ahead of a rotation (no
 * `retiredAt`) or a key that signed before (`retiredAt`, and `validUntil`: after it, nothing the key
 * made can still be valid, and the next write prunes it). `revoked` remembers the kids an emergency
 * revocation removed; a ring never verifies with a revoked kid.
 *
 * Older documents, `{ current, previous?, next? }`, are still read: `next` is a published key and
 * `previous` a retired one. Every write stores the shape above (see `toCurrentShape`).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SecretName } from '../manifest.js';
import { MisconfigurationError } from './errors.js';
import type { Clock, SecretSource } from './ports.js';

export const minimumKeyBytes = 32;

export interface KeyEntry {
  readonly kid: string;
  readonly secret: string;
  readonly createdAt: string;
  /** On the signing key: when it started signing. */
  readonly signingSince?: string;
  /** On a verify-only key that signed before: when it stopped signing. */
  readonly retiredAt?: string;
  /** On a retired key: after this nothing it made can still be valid. */
  readonly validUntil?: string;
}

export interface RevokedKey {
  readonly kid: string;
  readonly revokedAt: string;
}

export interface KeyRingDocument {
  readonly current: KeyEntry;
  readonly verifyOnly?: readonly KeyEntry[];
  readonly revoked?: readonly RevokedKey[];
  /** Older documents only. */
  readonly previous?: KeyEntry | null;
  /** Older documents only. */
  readonly next?: KeyEntry | null;
}

/** A ring in the shape every write stores. */
export interface CurrentKeyRingDocument {
  readonly current: KeyEntry;
  readonly verifyOnly: readonly KeyEntry[];
  readonly revoked: readonly RevokedKey[];
}

export interface Key {
  readonly kid: string;
  readonly bytes: Uint8Array;
  readonly createdAt: string;
  /** The short name a refresh token carries for the pepper that hashed it. */
  readonly tag: string;
}

export interface KeyRing {
  /** The key that signs (or hashes). */
  readonly current: Key;
  /** Every key that verifies (or is looked up), current first. */
  readonly keys: readonly Key[];
}

const base64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const kidPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** Eight base64url characters naming a kid: what a refresh token carries in front of its secret part. */
export function keyTag(kid: string): string {
  return createHash('sha256').update(kid).digest('base64url').slice(0, 8);
}

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
  for (const field of ['createdAt', 'signingSince', 'retiredAt', 'validUntil'] as const) {
    const date = (value as Record<string, unknown>)[field];
    if ((field === 'createdAt' || date !== undefined) && (typeof date !== 'string' || Number.isNaN(Date.parse(date)))) {
      throw new MisconfigurationError(`${where}.${field} must be an ISO 8601 date`);
    }
  }
  return { kid, bytes, createdAt: createdAt as string, tag: keyTag(kid) };
}

function parseDocument(secretName: string, text: string): KeyRingDocument {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new MisconfigurationError(`${secretName} is not valid JSON`, { cause });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new MisconfigurationError(`${secretName} must be a JSON object {current, verifyOnly?, revoked?}`);
  }
  const { current: _c, previous: _p, next: _n, verifyOnly, revoked, ...rest } = document as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new MisconfigurationError(`${secretName} has unknown fields: ${unknown.join(', ')}`);
  }
  if (verifyOnly !== undefined && !Array.isArray(verifyOnly)) {
    throw new MisconfigurationError(`${secretName}.verifyOnly must be a list of keys`);
  }
  const revokedOk = (entry: unknown) =>
    typeof entry === 'object' && entry !== null && typeof (entry as RevokedKey).kid === 'string' && !Number.isNaN(Date.parse(String((entry as RevokedKey).revokedAt)));
  if (revoked !== undefined && !(Array.isArray(revoked) && revoked.every(revokedOk))) {
    throw new MisconfigurationError(`${secretName}.revoked must be a list of {kid, revokedAt}`);
  }
  return document as KeyRingDocument;
}

/** Parses and checks a key-ring document (either shape); refuses short keys, duplicate kids and a revoked signing key. */
export function parseKeyRing(secretName: string, text: string): KeyRing {
  const document = parseDocument(secretName, text);
  const current = parseKey(secretName, 'current', document.current);
  const others: Key[] = [];
  if (document.previous != null) others.push(parseKey(secretName, 'previous', document.previous));
  if (document.next != null) others.push(parseKey(secretName, 'next', document.next));
  (document.verifyOnly ?? []).forEach((entry, index) => others.push(parseKey(secretName, `verifyOnly[${index}]`, entry)));
  const kids = [current, ...others].map((key) => key.kid);
  if (new Set(kids).size !== kids.length) {
    throw new MisconfigurationError(`${secretName} uses one kid for two keys`);
  }
  const revoked = new Set((document.revoked ?? []).map((entry) => entry.kid));
  if (revoked.has(current.kid)) {
    throw new MisconfigurationError(`${secretName}: the signing key ${current.kid} is listed as revoked`);
  }
  // A revoked kid never verifies, whatever else the document says.
  return { current, keys: [current, ...others.filter((key) => !revoked.has(key.kid))] };
}

/** Every key of the ring, current first. */
export function keysOf(ring: KeyRing): readonly Key[] {
  return ring.keys;
}

/**
 * The ring in the shape every write stores: an older `{current, previous?, next?}` document becomes
 * `verifyOnly: [next, previous]`, the previous key valid until `retiredAt + tokenLifetimeMs`.
 * Retired keys past their `validUntil` are pruned.
 */
export function toCurrentShape(text: string, secretName: string, tokenLifetimeMs: number, now: Date): CurrentKeyRingDocument {
  parseKeyRing(secretName, text);
  const document = parseDocument(secretName, text);
  const verifyOnly: KeyEntry[] = [...(document.verifyOnly ?? [])];
  if (document.next) verifyOnly.push(document.next);
  if (document.previous) {
    const retiredAt = document.previous.retiredAt ?? document.current.createdAt;
    verifyOnly.push({
      ...document.previous,
      retiredAt,
      validUntil: document.previous.validUntil ?? new Date(Date.parse(retiredAt) + tokenLifetimeMs).toISOString(),
    });
  }
  const revoked = new Set((document.revoked ?? []).map((entry) => entry.kid));
  return {
    current: document.current,
    verifyOnly: verifyOnly.filter(
      (key) => !revoked.has(key.kid) && (key.validUntil === undefined || Date.parse(key.validUntil) > now.getTime()),
    ),
    revoked: [...(document.revoked ?? [])],
  };
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

  /** The key with this kid. */
  async find(kid: string): Promise<Key | undefined> {
    return this.findWhere((key) => key.kid === kid);
  }

  /** The key with this tag (see `keyTag`). */
  async findTagged(tag: string): Promise<Key | undefined> {
    return this.findWhere((key) => key.tag === tag);
  }

  /** A freshly read ring, or undefined while the cooldown since the last forced read runs. */
  async refreshed(): Promise<KeyRing | undefined> {
    const now = this.clock.now();
    if (now - this.lastForcedAt < this.forceCooldownMs) return undefined;
    this.lastForcedAt = now;
    return this.ring({ forceFetch: true });
  }

  private async findWhere(match: (key: Key) => boolean): Promise<Key | undefined> {
    const known = keysOf(await this.ring()).find(match);
    if (known) return known;
    const refreshed = await this.refreshed();
    return refreshed && keysOf(refreshed).find(match);
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

/**
 * Why a key's bytes are too predictable to use, or undefined: few distinct bytes (32 zero bytes,
 * "abab…"), a short pattern repeated, a counting run (00 01 02 …, "abcdef…"), or text (a passphrase:
 * 32 random bytes are all printable ASCII about once in 10^13). 32 random bytes have about 30
 * distinct values.
 */
export function weakKeyReason(bytes: Uint8Array): string | undefined {
  const distinct = new Set(bytes).size;
  if (distinct < Math.min(bytes.length, 256) / 2) return `only ${distinct} distinct byte values in ${bytes.length}`;
  const repeated = shortestPeriod(bytes);
  if (repeated !== undefined) return `a ${repeated}-byte pattern repeated`;
  // The steps between bytes: a counting run is a step pattern repeated, whatever it starts from.
  const steps = bytes.slice(1).map((byte, index) => (byte - bytes[index]!) & 0xff);
  if (steps.length >= 8 && (new Set(steps).size < 4 || shortestPeriod(steps, steps.length / 4) !== undefined)) return 'a counting sequence';
  if (bytes.length >= 16 && bytes.every((byte) => byte >= 0x20 && byte <= 0x7e)) return 'printable text, not random bytes';
  return undefined;
}

/** The shortest period (up to `longest`) with which the bytes repeat, if any. */
function shortestPeriod(bytes: Uint8Array, longest = bytes.length / 2): number | undefined {
  for (let period = 1; period <= longest; period++) {
    if (bytes.every((byte, index) => index < period || byte === bytes[index - period])) return period;
  }
  return undefined;
}
