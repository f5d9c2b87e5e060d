/**
 * Key-ring rotation that logs no one out and fails no request.
 *
 * 1. Publish: the new key goes into the ring as `next`. Every function now verifies with it (JWT) or
 *    looks tokens up under it (pepper), while still signing and hashing with `current`.
 * 2. Wait until every function has read the ring again: the secrets cache max age (or restart them).
 * 3. Promote: `next` becomes `current`, and `current` becomes `previous` (with `retiredAt`), which
 *    keeps verifying until every token it made has expired.
 *
 * The key that was `previous` before is dropped in step 3, so a rotation is refused while that key
 * may still protect live tokens: for 15 minutes (access tokens) or 30 days (refresh tokens) after its
 * retirement. `revokePrevious` is the emergency path: the ring becomes just the new key, and every
 * token made with an older one stops working as functions re-read the ring.
 */
import { newKey, parseKeyRing, type KeyEntry, type KeyRingDocument } from '../core/key-ring.js';
import type { SecretAdminStore } from './admin-store.js';

export type RotatableSecret = 'jwt-secret' | 'refresh-pepper';

export interface RotationOptions {
  readonly revokePrevious?: boolean;
  readonly dryRun?: boolean;
  /** How long tokens made with a key may live: access-token TTL, or refresh-token lifetime. */
  readonly tokenLifetimeMs: number;
  /** How long every function may keep serving a cached ring. */
  readonly propagationMs: number;
  /** Makes every function read the ring afresh (restarting them); replaces the wait when given. */
  readonly restartFunctions?: () => Promise<void>;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onProgress?: (message: string) => void;
}

export interface RotationResult {
  readonly dryRun: boolean;
  readonly newKid: string;
  readonly previousKid: string | null;
  readonly droppedKids: readonly string[];
  readonly versions: readonly number[];
  /** When the new previous key may be dropped by the next rotation. */
  readonly previousKeptUntil: string | null;
}

export class RotationRefused extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function rotateKeyRing(
  store: SecretAdminStore,
  name: RotatableSecret,
  options: RotationOptions,
): Promise<RotationResult> {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? wait;
  const progress = options.onProgress ?? (() => {});
  const record = await store.get(name);
  if (!record) {
    throw new RotationRefused(`${name} does not exist yet in ${store.location}`, 'create it with `chatshyld secrets init`');
  }
  parseKeyRing(name, record.value); // refuses a malformed ring before anything is written
  const ring = JSON.parse(record.value) as KeyRingDocument;
  const versions: number[] = [];

  if (options.revokePrevious) {
    const fresh = newKey(now());
    const dropped = [ring.current, ring.previous, ring.next].filter((key): key is KeyEntry => Boolean(key)).map((key) => key.kid);
    if (!options.dryRun) {
      versions.push((await store.put(name, JSON.stringify({ current: fresh }))).version);
      progress(`${name}: ${fresh.kid} is now the only key; ${dropped.join(', ')} no longer verify once functions re-read the ring`);
    }
    return { dryRun: Boolean(options.dryRun), newKid: fresh.kid, previousKid: null, droppedKids: dropped, versions, previousKeptUntil: null };
  }

  // The key that the promotion will drop must no longer protect any live token.
  if (ring.previous) {
    const retired = Date.parse(ring.previous.retiredAt ?? ring.current.createdAt);
    const keptUntil = retired + options.tokenLifetimeMs;
    if (now().getTime() < keptUntil) {
      throw new RotationRefused(
        `${name}: the previous key ${ring.previous.kid} may still protect live tokens until ${new Date(keptUntil).toISOString()}; rotating now would drop it and sign those sessions out`,
        'rotate after that time, or pass --revoke-previous to end those sessions on purpose',
      );
    }
  }

  // A rotation cut short after publishing resumes with the key it published.
  const incoming = ring.next ?? newKey(now());
  const dropped = ring.previous ? [ring.previous.kid] : [];
  const result = (promotedAt: Date | undefined): RotationResult => ({
    dryRun: Boolean(options.dryRun),
    newKid: incoming.kid,
    previousKid: ring.current.kid,
    droppedKids: dropped,
    versions,
    previousKeptUntil: promotedAt ? new Date(promotedAt.getTime() + options.tokenLifetimeMs).toISOString() : null,
  });
  if (options.dryRun) return result(undefined);

  if (!ring.next) {
    const published: KeyRingDocument = { current: ring.current, ...(ring.previous && { previous: ring.previous }), next: incoming };
    versions.push((await store.put(name, JSON.stringify(published))).version);
    progress(`${name}: published ${incoming.kid} to every function (verify only)`);
  } else {
    progress(`${name}: resuming the rotation to ${incoming.kid}, published earlier`);
  }

  if (options.restartFunctions) {
    progress(`${name}: restarting the functions so they read it now`);
    await options.restartFunctions();
  } else {
    progress(`${name}: waiting ${Math.ceil(options.propagationMs / 1000)} s for every function's cache to expire`);
    await sleep(options.propagationMs);
  }

  const promotedAt = now();
  const { retiredAt: _unused, ...current } = ring.current;
  const promoted: KeyRingDocument = {
    current: { kid: incoming.kid, secret: incoming.secret, createdAt: incoming.createdAt },
    previous: { ...current, retiredAt: promotedAt.toISOString() },
  };
  versions.push((await store.put(name, JSON.stringify(promoted))).version);
  progress(`${name}: ${incoming.kid} now signs; ${ring.current.kid} still verifies${dropped.length ? `; dropped ${dropped.join(', ')}` : ''}`);
  return result(promotedAt);
}
