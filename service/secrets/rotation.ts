/**
 * Key-ring rotation that logs no one out, fails no request, and can be interrupted or raced.
 *
 * 1. Publish: a new key joins the ring as verify-only. Every function verifies with it (JWT) or looks
 *    tokens up under it (pepper), while still signing and hashing with `current`.
 * 2. Wait until every function has read the ring again: the secrets cache max age from the moment of
 *    publishing (or restart them).
 * 3. Promote: the new key becomes `current`; the old one stays verify-only with `retiredAt` and
 *    `validUntil` (retirement + token lifetime), and is pruned by the first write after that.
 * 4. Wait again, so that every function signs with the new key before the rotation says it does.
 *
 * No key is ever dropped while it may protect a live token, so a rotation can follow another at once.
 * Each write is an `update` of the store: under its write lock, applied to the ring as it is *then*,
 * so a concurrent revocation is never undone: a promotion whose key was revoked meanwhile stops.
 * Interrupted in step 2, the ring keeps the published key verify-only; run again, the rotation
 * resumes with it (waiting only what is left). Interrupted in step 4, run again, it finishes the wait.
 * `revokePrevious` is the emergency path: the ring becomes just a new key, and the kids it held are
 * recorded as revoked.
 */
import {
  newKey,
  parseKeyRing,
  toCurrentShape,
  type CurrentKeyRingDocument,
  type KeyEntry,
  type RevokedKey,
} from '../core/key-ring.js';
import type { SecretAdminStore, SecretChange, SecretRecord } from './admin-store.js';

export type RotatableSecret = 'jwt-secret' | 'refresh-pepper';

/** How many revocations a ring remembers. */
const revocationsKept = 50;

export interface RotationOptions {
  readonly revokePrevious?: boolean;
  readonly dryRun?: boolean;
  /** How long tokens made with a key may live: access-token TTL, or refresh-token lifetime. */
  readonly tokenLifetimeMs: number;
  /** How long every function may keep serving a cached ring. */
  readonly propagationMs: number;
  /** Makes every function read the ring afresh (restarting them); replaces the waits when given. */
  readonly restartFunctions?: () => Promise<void>;
  readonly now?: () => Date;
  /** Waits `ms`; must reject promptly when `signal` aborts. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborting it (Ctrl-C) stops the rotation at once, between writes. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (message: string) => void;
  /** Called as a wait starts and about every second of it, with the seconds left. */
  readonly onWaiting?: (secondsLeft: number, what: string) => void;
}

/**
 * The windows a rotation of `secret` waits on: how long its tokens live, and how long every reader
 * may keep serving a cached ring (the cache max age and a margin). The CLI and the sandbox console
 * both rotate with these.
 */
export function rotationWindows(
  secret: RotatableSecret,
  settings: { readonly accessTokenTtlSeconds: number; readonly refreshTokenTtlDays: number; readonly secretsCacheSeconds: number },
): { tokenLifetimeMs: number; propagationMs: number } {
  const cacheSeconds = settings.secretsCacheSeconds;
  return {
    tokenLifetimeMs:
      secret === 'jwt-secret' ? settings.accessTokenTtlSeconds * 1000 : settings.refreshTokenTtlDays * 24 * 3600 * 1000,
    propagationMs: (cacheSeconds + Math.max(2, Math.ceil(cacheSeconds / 10))) * 1000,
  };
}

export interface RotationResult {
  readonly dryRun: boolean;
  readonly newKid: string;
  readonly previousKid: string | null;
  readonly droppedKids: readonly string[];
  readonly versions: readonly number[];
  /** Until when the key that signed before keeps verifying. */
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

/** The rotation stopped on a signal; `stage` says what the ring holds. */
export class RotationInterrupted extends Error {
  constructor(
    readonly stage: 'nothing-written' | 'published' | 'promoted',
    readonly kid: string | undefined,
  ) {
    super(`rotation interrupted (${stage})`);
  }
}

function abortableWait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The ring as a write stores it, pruned; undefined when the secret does not exist. */
function shapeOf(name: RotatableSecret, record: SecretRecord | undefined, options: RotationOptions, now: Date) {
  return record && toCurrentShape(record.value, name, keptAfterRetirement(options), now);
}

/** How long a retired key must keep verifying: stale readers may sign with it, then its tokens live. */
function keptAfterRetirement(options: RotationOptions): number {
  return options.propagationMs + options.tokenLifetimeMs;
}

/** The newest published key that never signed, if any. */
function pendingKey(ring: CurrentKeyRingDocument): KeyEntry | undefined {
  return ring.verifyOnly.filter((key) => key.retiredAt === undefined).sort((a, b) => a.createdAt.localeCompare(b.createdAt)).at(-1);
}

function withoutRotationFields({ kid, secret, createdAt }: KeyEntry): KeyEntry {
  return { kid, secret, createdAt };
}

export async function rotateKeyRing(
  store: SecretAdminStore,
  name: RotatableSecret,
  options: RotationOptions,
): Promise<RotationResult> {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? abortableWait;
  const progress = options.onProgress ?? (() => {});
  const signal = options.signal;
  const record = await store.get(name);
  if (!record) {
    throw new RotationRefused(`${name} does not exist yet in ${store.location}`, 'create it with `chatshyld secrets init`');
  }
  parseKeyRing(name, record.value); // refuses a malformed ring before anything is written
  const seen = shapeOf(name, record, options, now())!;
  const versions: number[] = [];
  const dryRun = Boolean(options.dryRun);

  if (options.revokePrevious) {
    const fresh = newKey(now());
    let dropped: string[] = [seen.current.kid, ...seen.verifyOnly.map((key) => key.kid)];
    if (!dryRun) {
      const written = await store.update(name, (latest) => {
        const ring = shapeOf(name, latest, options, now())!;
        const revokedAt = now().toISOString();
        dropped = [ring.current.kid, ...ring.verifyOnly.map((key) => key.kid)];
        const revoked: RevokedKey[] = [...ring.revoked, ...dropped.map((kid) => ({ kid, revokedAt }))];
        return JSON.stringify({ current: fresh, verifyOnly: [], revoked: revoked.slice(-revocationsKept) });
      });
      versions.push(written!.version);
      progress(`${name}: ${fresh.kid} is now the only key; ${dropped.join(', ')} are revoked and stop verifying as functions re-read the ring`);
    }
    return { dryRun, newKid: fresh.kid, previousKid: null, droppedKids: dropped, versions, previousKeptUntil: null };
  }

  // "signing with" only if it still is: a revocation or rollback during the last wait replaced it.
  const stillSigning = async (kid: string) => {
    const ring = shapeOf(name, await store.get(name), options, now());
    if (ring && ring.current.kid !== kid) {
      throw new RotationRefused(
        `${name}: ${kid} was promoted, but a later change replaced it while this rotation waited; the ring now signs with ${ring.current.kid}`,
        'check `chatshyld secrets history` to see what changed',
      );
    }
  };

  // A write under the lock; Ctrl-C while it waits for the lock ends the wait and writes nothing.
  const lockedUpdate = async (interrupted: RotationInterrupted, change: SecretChange) => {
    try {
      return await store.update(name, change, { ...(signal && { signal }) });
    } catch (error) {
      if (signal?.aborted) throw interrupted;
      throw error;
    }
  };

  const waitForReaders = async (from: string, what: string, interrupted: RotationInterrupted) => {
    try {
      if (options.restartFunctions) {
        progress(`${name}: restarting the functions so every reader ${what}`);
        await Promise.race([
          options.restartFunctions(),
          new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true })),
        ]);
        return;
      }
      const until = Date.parse(from) + options.propagationMs;
      for (let left = until - now().getTime(); left > 0; left = until - now().getTime()) {
        options.onWaiting?.(Math.ceil(left / 1000), what);
        await sleep(Math.min(left, 1000), signal);
      }
    } catch (error) {
      if (signal?.aborted) throw interrupted;
      throw error;
    }
    if (signal?.aborted) throw interrupted;
  };

  const previousKid = seen.current.kid;
  const settling = seen.current.signingSince !== undefined && Date.parse(seen.current.signingSince) + options.propagationMs > now().getTime();
  if (settling && !pendingKey(seen)) {
    // Interrupted after promoting: only the last wait is left.
    if (dryRun) return { dryRun, newKid: seen.current.kid, previousKid: null, droppedKids: [], versions, previousKeptUntil: null };
    progress(`${name}: resuming: ${seen.current.kid} was promoted at ${seen.current.signingSince}`);
    await waitForReaders(seen.current.signingSince!, `signs with ${seen.current.kid}`, new RotationInterrupted('promoted', seen.current.kid));
    await stillSigning(seen.current.kid);
    progress(`${name}: signing with ${seen.current.kid}`);
    return { dryRun, newKid: seen.current.kid, previousKid: null, droppedKids: [], versions, previousKeptUntil: null };
  }

  // Keys past their validUntil, which the next write prunes.
  const expiredIn = (latest: SecretRecord, at: Date) =>
    toCurrentShape(latest.value, name, keptAfterRetirement(options), new Date(0))
      .verifyOnly.filter((key) => key.validUntil !== undefined && Date.parse(key.validUntil) <= at.getTime())
      .map((key) => key.kid);
  let incoming = pendingKey(seen) ?? newKey(now());
  const dropped = new Set<string>(expiredIn(record, now()));
  if (dryRun) {
    return { dryRun, newKid: incoming.kid, previousKid, droppedKids: [...dropped], versions, previousKeptUntil: null };
  }
  if (signal?.aborted) throw new RotationInterrupted('nothing-written', undefined);

  if (pendingKey(seen)) {
    progress(`${name}: resuming the rotation to ${incoming.kid}, published at ${incoming.createdAt}`);
  } else {
    let candidate = incoming;
    const written = await lockedUpdate(new RotationInterrupted('nothing-written', undefined), (latest) => {
      const ring = shapeOf(name, latest, options, now())!;
      const already = pendingKey(ring);
      if (already) {
        incoming = already; // another admin published one meanwhile: carry on with theirs
        return undefined;
      }
      // Dated when written (the lock may have kept it waiting): the wait counts from here.
      candidate = { ...candidate, createdAt: now().toISOString() };
      incoming = candidate;
      for (const kid of expiredIn(latest!, now())) dropped.add(kid);
      return JSON.stringify({ ...ring, verifyOnly: [...ring.verifyOnly, candidate] });
    });
    if (incoming === candidate) {
      versions.push(written!.version);
      progress(`${name}: published ${incoming.kid} (verify only; ${previousKid} still signs)`);
    } else {
      progress(`${name}: another rotation published ${incoming.kid}; carrying on with it`);
    }
  }

  await waitForReaders(incoming.createdAt, `verifies with ${incoming.kid}`, new RotationInterrupted('published', incoming.kid));

  let retiredKid = previousKid;
  let promoted = false;
  const written = await lockedUpdate(new RotationInterrupted('published', incoming.kid), (latest) => {
    const at = now();
    const ring = shapeOf(name, latest, options, at)!;
    if (ring.current.kid === incoming.kid) return undefined; // another admin promoted it already
    const key = ring.verifyOnly.find((entry) => entry.kid === incoming.kid);
    if (!key) {
      const revocation = ring.revoked.find((entry) => entry.kid === incoming.kid);
      throw new RotationRefused(
        `${name}: ${incoming.kid} is no longer in the ring${revocation ? `: it was revoked at ${revocation.revokedAt}` : ''} while this rotation waited; nothing was promoted, and the ring stays as it is now (signing with ${ring.current.kid})`,
        'check `chatshyld secrets history`; rotate again if a new key is still wanted',
      );
    }
    for (const kid of expiredIn(latest!, at)) dropped.add(kid);
    retiredKid = ring.current.kid;
    promoted = true;
    const retired: KeyEntry = {
      ...withoutRotationFields(ring.current),
      retiredAt: at.toISOString(),
      // A reader that has not seen the promotion yet may sign with it for up to the propagation time.
      validUntil: new Date(at.getTime() + keptAfterRetirement(options)).toISOString(),
    };
    const next: CurrentKeyRingDocument = {
      current: { ...withoutRotationFields(key), signingSince: at.toISOString() },
      verifyOnly: [...ring.verifyOnly.filter((entry) => entry.kid !== key.kid), retired],
      revoked: ring.revoked,
    };
    return JSON.stringify(next);
  });
  if (promoted) versions.push(written!.version);
  const signingSince = (JSON.parse(written!.value) as CurrentKeyRingDocument).current.signingSince ?? now().toISOString();
  progress(`${name}: promoted ${incoming.kid}; ${retiredKid} keeps verifying${dropped.size ? `; pruned ${[...dropped].join(', ')}` : ''}`);

  await waitForReaders(signingSince, `signs with ${incoming.kid}`, new RotationInterrupted('promoted', incoming.kid));
  await stillSigning(incoming.kid);
  progress(`${name}: signing with ${incoming.kid}`);
  return {
    dryRun,
    newKid: incoming.kid,
    previousKid: retiredKid,
    droppedKids: [...dropped],
    versions,
    previousKeptUntil: new Date(Date.parse(signingSince) + keptAfterRetirement(options)).toISOString(),
  };
}
