/**
 * The small interfaces the domain core depends on. Adapters (DynamoDB, S3, SSM, Twilio, the sandbox)
 * implement them and are injected at the edge; the core imports no AWS SDK and reads no environment.
 */
import type { AvatarState, SecretName } from '../manifest.js';
import type { WindowLimit } from '../settings.js';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * `deleted`: a deletion has begun (a tombstone until the item goes); `blocked`: kept, but refused.
 * An item without a status is active.
 */
export type AccountStatus = 'active' | 'deleted' | 'blocked';

export interface User {
  readonly id: string;
  readonly phone: string;
  readonly name: string | null;
  readonly photoKey: string | null;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Absent on an active account. */
  readonly status?: Exclude<AccountStatus, 'active'>;
  /** Epoch ms when a `blocked` status ends by itself; absent: until an operator lifts it. */
  readonly blockedUntil?: number;
  /**
   * The revocation epoch: a counter that revoke, expire-access and block add one to (atomically);
   * access tokens carrying a lower epoch are refused. Read with the user item that every
   * authenticated route, refresh and login reads anyway, so it costs no round trip.
   */
  readonly accessEpoch?: number;
}

/**
 * A block on a phone number, whether or not an account holds it: the number can neither get a code
 * nor sign in. Kept apart from the user item so a number no account holds (one being abused) can be
 * blocked, and so a new account for the number meets the block too.
 */
export interface PhoneBlock {
  readonly phone: string;
  /** Epoch ms. */
  readonly blockedAt: number;
  /** Epoch ms when the block ends by itself; absent: until an operator lifts it. */
  readonly until?: number;
  readonly reason?: string;
}

export interface SetStatusOptions {
  /** Mark a blocked account too (an operator's deletion); otherwise a block is kept. */
  readonly overBlock?: boolean;
  /** Epoch ms: a block whose `blockedUntil` has passed by then no longer counts as one. */
  readonly now?: number;
  /** The revocation epoch of the access token asking: refused if below the account's. */
  readonly tokenEpoch?: number;
}

export interface UserStore {
  get(id: string): Promise<User | undefined>;
  /** The id the phone is claimed for, if any. */
  phoneOwner(phone: string): Promise<string | undefined>;
  /** The block on this phone, if one was set (ended or not: the caller compares with its clock). */
  phoneBlock(phone: string): Promise<PhoneBlock | undefined>;
  /** Claims `phone` for `userId` unless it is claimed already; returns the owner's id either way. */
  claimPhone(phone: string, userId: string): Promise<string>;
  /** Writes a new user item; returns false when one with this id exists already. */
  createUser(user: User): Promise<boolean>;
  /**
   * Writes `next` if the stored item still has `expectedUpdatedAt` (optimistic concurrency);
   * returns false when someone else changed it first or it is gone.
   */
  replaceUser(next: User, expectedUpdatedAt: string): Promise<boolean>;
  /**
   * Marks the account in one conditional write (so no later replaceUser can undo it); the user as
   * marked, or undefined when there is no such user, or (unless `overBlock`) it is blocked: a block
   * is lifted by an operator, never by the user's own deletion; or the asking token is revoked.
   */
  setStatus(id: string, status: Exclude<AccountStatus, 'active'>, options?: SetStatusOptions): Promise<User | undefined>;
  /** Deletes the phone claim if it still belongs to `userId`. */
  releasePhone(phone: string, userId: string): Promise<void>;
  deleteUser(id: string): Promise<void>;
}

export interface RefreshTokenRecord {
  /** HMAC-SHA256(pepper, token), hex. The token itself is never stored. */
  readonly hash: string;
  readonly pepperKid: string;
  readonly userId: string;
  readonly familyId: string;
  /** Epoch ms. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /**
   * When its family ends (epoch ms): lets a refresh store the child beside the family read. Absent
   * on tokens stored before it was kept.
   */
  readonly familyExpiresAt?: number;
}

/**
 * A refresh-token family: every token descended from one login. `head` is the one token of the
 * family that may be used; `previous` is its immediate parent, replayable within the grace window.
 */
export interface TokenFamily {
  readonly id: string;
  readonly userId: string;
  readonly status: 'active' | 'revoked';
  readonly head: string;
  readonly previous: string | null;
  /** When `previous` was first rotated (epoch ms); the grace window runs from here. */
  readonly previousRotatedAt: number | null;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly revokedReason?: string;
}

export interface RefreshTokenStore {
  /** Stores a token record; it must not exist yet. */
  putToken(record: RefreshTokenRecord): Promise<void>;
  /**
   * Stores a child token derived from its parent unless its hash is stored already (a concurrent
   * refresh of the same parent derived the same child); returns whether this call stored it.
   */
  putDerivedToken(record: RefreshTokenRecord): Promise<boolean>;
  getToken(hash: string): Promise<RefreshTokenRecord | undefined>;
  deleteToken(hash: string): Promise<void>;
  createFamily(family: TokenFamily): Promise<void>;
  getFamily(id: string): Promise<TokenFamily | undefined>;
  /**
   * Moves the family's head from `expectedHead` to `next.head` in one conditional write; returns
   * false, changing nothing, when the family is no longer active or its head moved first.
   */
  advanceHead(
    familyId: string,
    expectedHead: string,
    next: { head: string; previous: string; previousRotatedAt: number },
  ): Promise<boolean>;
  revokeFamily(familyId: string, reason: string): Promise<void>;
  deleteFamily(familyId: string): Promise<void>;
  /** Deletes every token and family of the user. */
  deleteAllForUser(userId: string): Promise<void>;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Seconds until the window resets (meaningful when not allowed). */
  readonly retryAfterSeconds: number;
}

export interface CountedHit extends RateLimitDecision {
  /**
   * Allowed: takes the hit back, restoring the counts as they were, unless another hit counted since
   * (then the hit stays counted). With `keepFirstWindow`, the key's first window (a cooldown) keeps
   * it. Returns whether it was taken back.
   */
  undo?(options?: { keepFirstWindow?: boolean }): Promise<boolean>;
}

export interface HitAllRules {
  /** The key's own windows: at least one. */
  readonly windows: readonly WindowLimit[];
  readonly perMember: WindowLimit;
}

export interface RateLimiter {
  /** Counts one hit against `key` in a window that starts at its first hit. */
  hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision>;
  /**
   * Counts one hit for `member` (a source address) under `key` (a phone) in every one of the key's
   * `windows` and in the member's own count (`perMember`, one window for all members of the key), as
   * one atomic step, and only if each has room: a refused hit is counted nowhere. Each window opens at
   * its first hit. A key's members are forgotten with it, and a window holds no more members than the
   * hits the key's windows let through.
   */
  hitAll(key: string, member: string, rules: HitAllRules): Promise<CountedHit>;
  /** Forgets the counters of these keys (account deletion). */
  forget(keys: readonly string[]): Promise<void>;
}

/** A pending OTP for one phone: single use, with its count of verify attempts. */
export interface OtpChallenge {
  readonly phone: string;
  readonly id: string;
  readonly via: 'provider' | 'test-number';
  /** Verify attempts made against it, each counted before its code was checked. */
  readonly attempts: number;
  /** Epoch ms. */
  readonly expiresAt: number;
}

export interface AttemptLimit {
  readonly total: number;
  readonly perSource: number;
}

/** What counting one attempt found: an open challenge (now counting it), none, or one used up. */
export type ChallengeAttempt =
  | { readonly outcome: 'counted'; readonly challenge: OtpChallenge }
  | { readonly outcome: 'none' }
  | { readonly outcome: 'exhausted' };

export interface OtpChallengeStore {
  /** Opens a challenge, replacing any pending one (and so starting its attempts from zero). */
  open(challenge: Omit<OtpChallenge, 'attempts'>): Promise<void>;
  /**
   * Opens a challenge that keeps, while the attempt window ending at `windowEndsAt` is open, what
   * earlier sends counted: every source's share always, and the total too unless `resetTotal` (a
   * new code of the provider gets 5 attempts again, but no source gets more than its share of the
   * window). A pending challenge also keeps its id (a resend is the provider's same verification), so
   * a right code checked while a send lands still consumes it.
   */
  openKeepingAttempts(
    challenge: Omit<OtpChallenge, 'attempts'>,
    windowEndsAt: number,
    now: number,
    options?: { resetTotal?: boolean },
  ): Promise<void>;
  get(phone: string): Promise<OtpChallenge | undefined>;
  /**
   * Counts one attempt in a single conditional write, unless the challenge is missing, expired,
   * already has `limit.total` attempts, or `source` has made `limit.perSource` of them: the count is
   * taken before any code is checked, so concurrent callers can never check more than `limit.total`
   * codes against one challenge, nor one source use up all of them.
   */
  attempt(phone: string, source: string, limit: AttemptLimit, now: number): Promise<ChallengeAttempt>;
  /** Deletes the challenge if it is still `challengeId`; returns whether this call consumed it. */
  consume(phone: string, challengeId: string): Promise<boolean>;
  forget(phone: string): Promise<void>;
}

export type OtpCheckResult = 'approved' | 'rejected';

/** Sends and checks one-time codes (Twilio Verify in AWS, the outbox in the sandbox). */
export interface OtpSender {
  send(phone: string): Promise<void>;
  check(phone: string, code: string): Promise<OtpCheckResult>;
}

export interface AvatarObject {
  readonly contentType: string | undefined;
  readonly size: number;
}

export interface PresignedUpload {
  readonly url: string;
  readonly fields: Record<string, string>;
}

/** Signs uploads of avatar objects (kept apart from the store: only the presign route needs it). */
export interface AvatarUploadSigner {
  presignUpload(
    key: string,
    contentType: string,
    maxBytes: number,
    expiresInSeconds: number,
  ): Promise<PresignedUpload>;
}

/** Signs short-lived download URLs of avatar objects (`photoUrl`); no S3 call is made. */
export interface AvatarUrlSigner {
  downloadUrl(key: string, expiresInSeconds: number): Promise<string>;
}

export interface AvatarStore {
  describe(key: string): Promise<AvatarObject | undefined>;
  /** Replaces the object's tags with its state: a lifecycle rule expires `pending` objects. */
  setState(key: string, state: AvatarState): Promise<void>;
  delete(key: string): Promise<void>;
  deleteAllUnder(prefix: string): Promise<void>;
}

/** Reads raw secret values (JSON text) by name; implementations cache up to their max age. */
export interface SecretSource {
  get(name: SecretName, options?: { forceFetch?: boolean }): Promise<string | undefined>;
}

export type MetricName = 'OtpSent' | 'OtpVerified' | 'Refreshes' | 'ReuseDetected' | 'Errors';

export interface Metrics {
  count(name: MetricName, value?: number): void;
}

/** Structured logging; callers pass no tokens, codes or secret values. */
export interface Log {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
export const noMetrics: Metrics = { count() {} };
