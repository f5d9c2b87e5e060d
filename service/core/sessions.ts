import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { AccessTokens } from './access-tokens.js';
import type { Accounts } from './accounts.js';
import { accountBlocked, invalidCode, invalidRefreshToken } from './errors.js';
import { keysOf, type Key, type KeyRing, type KeyRingReader } from './key-ring.js';
import type { Clock, Log, Metrics, RateLimiter, RefreshTokenRecord, RefreshTokenStore, TokenFamily } from './ports.js';
import { enforceLimit } from './rate-limits.js';
import type { WindowLimit } from '../settings.js';

const day = 24 * 60 * 60 * 1000;
/** Bounded retries when concurrent refreshes of one family race for its head. */
const maxHeadAttempts = 8;

export interface SessionTokens {
  readonly token: string;
  readonly refreshToken: string;
  /** Seconds until the access token expires. */
  readonly expiresIn: number;
}

export interface SessionSettings {
  readonly refreshTokenTtlDays: number;
  readonly refreshFamilyTtlDays: number;
  readonly refreshGraceSeconds: number;
  readonly limits: { readonly refreshIp: WindowLimit; readonly logoutIp: WindowLimit };
}

/** A login's family and first token, written but not yet handed out. */
export interface PendingSession {
  readonly userId: string;
  /** Removes the family and the token again (the account turned out closed). */
  abandon(): Promise<void>;
  /** The tokens to answer with; `epoch`: the account's revocation epoch, as read after the writes. */
  tokens(epoch: number | undefined): Promise<SessionTokens>;
}

export function hashRefreshToken(pepper: Key, token: string): string {
  return createHmac('sha256', pepper.bytes).update(token).digest('hex');
}

/**
 * The token a refresh of `parent` issues: a function of the parent under the pepper, so every
 * concurrent or retried refresh of one parent hands out the same child. The prefix keeps it apart
 * from the token hashes made with the same key (a token never contains a NUL). Like a minted token
 * it carries the pepper's tag, so its own refresh is one read too.
 */
export function deriveChildToken(pepper: Key, parent: string): string {
  return `${pepper.tag}.${createHmac('sha256', pepper.bytes).update(`child\0${parent}`).digest('base64url')}`;
}

/**
 * Sessions: opaque refresh tokens that rotate on every use (RFC 9700 §4.14.2).
 *
 * Each login starts a family. The family item names its one usable token (`head`), so "at most one
 * live successor" is a single conditional write, however many refreshes race. A refresh:
 *  1. finds the token by its HMAC under the pepper its tag names (one read, beside the per-IP count);
 *  2. reads its family and, at the same time, whether the account is still open, and stores the
 *     child derived from it (three calls, one round trip);
 *  3. if it is the head: moves the head to the child;
 *  4. if it is the head's immediate parent and the grace window since its rotation is still open:
 *     a client retry (two tabs, a retrying phone): answers the same child again, writing nothing;
 *  5. otherwise the token was replayed: revokes the whole family.
 * Since the child is a function of the parent, every refresh of one parent in the window leaves its
 * caller holding the one live successor.
 */
export class Sessions {
  constructor(
    private readonly store: RefreshTokenStore,
    private readonly limiter: RateLimiter,
    private readonly peppers: KeyRingReader,
    private readonly accessTokens: AccessTokens,
    private readonly clock: Clock,
    private readonly settings: SessionSettings,
    private readonly metrics: Metrics,
    private readonly log: Log,
    private readonly accounts: Accounts,
  ) {}

  /**
   * Starts a new family for a fresh login. With `phone`, a block on that number found after the
   * family is written ends the session too (a block racing the login of a number no account held).
   */
  async start(userId: string, phone?: string): Promise<SessionTokens> {
    const session = await this.begin(userId);
    // Read after the family is written: a deletion (or block) that began before this read is seen
    // here, and one that begins after it finds the family when it sweeps. Either way no family
    // outlives it.
    const standing = await this.accounts.standingWithPhone(userId, phone);
    if (standing.state !== 'open') {
      await session.abandon();
      throw standing.state === 'blocked' ? accountBlocked() : invalidCode();
    }
    return session.tokens(standing.user.accessEpoch);
  }

  /**
   * Writes a new family and its first token, together (one round trip), and hands them over
   * unconfirmed: the caller checks the account after this returns (see `start`) and either answers
   * with the tokens or abandons them. If one of the two writes fails, the other is undone.
   */
  async begin(userId: string): Promise<PendingSession> {
    const now = this.clock.now();
    const familyExpiresAt = now + this.settings.refreshFamilyTtlDays * day;
    const { token, record } = await this.mint(userId, randomUUID(), familyExpiresAt);
    const abandon = async () => {
      await Promise.all([this.store.deleteFamily(record.familyId), this.store.deleteToken(record.hash)]);
    };
    const written = await Promise.allSettled([
      this.store.putToken(record),
      this.store.createFamily({
        id: record.familyId,
        userId,
        status: 'active',
        head: record.hash,
        previous: null,
        previousRotatedAt: null,
        createdAt: now,
        expiresAt: familyExpiresAt,
      }),
    ]);
    const failed = written.find((result) => result.status === 'rejected');
    if (failed) {
      await abandon().catch(() => undefined);
      throw failed.reason;
    }
    return { userId, abandon, tokens: (epoch) => this.withAccessToken(userId, token, epoch) };
  }

  async refresh(presented: string, sourceIp: string): Promise<SessionTokens> {
    // The per-IP count and the token lookup go together: a refused request has read, not written.
    const [, record] = await Promise.all([
      enforceLimit(this.limiter, 'refresh-ip', sourceIp, this.settings.limits.refreshIp),
      this.find(presented),
    ]);
    if (!record || record.expiresAt <= this.clock.now()) throw invalidRefreshToken();

    // The child is a function of the parent, so it is stored beside the family read and the
    // account check: one round trip for the three. A stored token alone grants nothing (a refresh
    // needs the family's head to name it), and storing it before any answer that hands it out (a
    // retry in the grace window too) means whoever receives it finds it stored.
    const early =
      record.familyExpiresAt === undefined ? undefined : await this.deriveChild(presented, record, record.familyExpiresAt);
    const [standing, first] = await Promise.all([
      this.accounts.standing(record.userId),
      this.store.getFamily(record.familyId),
      early && this.store.putDerivedToken(early.record),
    ]);
    // A real token of a blocked account learns why (the block revoked its family already).
    if (standing.state === 'blocked') throw accountBlocked();
    const epoch = standing.state === 'open' ? standing.user.accessEpoch : undefined;
    let family = first;
    for (let attempt = 0; attempt < maxHeadAttempts; attempt++) {
      const now = this.clock.now();
      if (!family || family.status !== 'active' || family.expiresAt <= now) throw invalidRefreshToken();
      if (standing.state !== 'open') {
        await this.store.revokeFamily(family.id, 'account-closed');
        throw invalidRefreshToken();
      }

      if (family.head === record.hash) {
        // A token stored before tokens named their family's end: its child is stored now.
        const child = early ?? (await this.deriveChild(presented, record, family.expiresAt));
        if (!early) await this.store.putDerivedToken(child.record);
        const moved = await this.store.advanceHead(family.id, family.head, {
          head: child.record.hash,
          previous: record.hash,
          previousRotatedAt: now,
        });
        if (moved) {
          this.metrics.count('Refreshes');
          return this.withAccessToken(record.userId, child.token, epoch);
        }
        // Another refresh moved the head first (most often to this same child): read it again.
        family = await this.store.getFamily(record.familyId);
        continue;
      }

      if (this.inGrace(family, record.hash, now)) {
        const child = await this.childAtHead(presented, family.head);
        if (child) {
          this.metrics.count('Refreshes');
          return this.withAccessToken(record.userId, child, epoch);
        }
        this.log.warn('refresh retry found no pepper that derives the head', { familyId: family.id });
        throw invalidRefreshToken();
      }

      await this.store.revokeFamily(family.id, 'reuse');
      this.metrics.count('ReuseDetected');
      this.log.warn('refresh token reuse detected; family revoked', {
        familyId: family.id,
        userId: family.userId,
      });
      throw invalidRefreshToken();
    }
    this.log.warn('refresh gave up after repeated head contention', { familyId: record.familyId });
    throw invalidRefreshToken();
  }

  /** Revokes the token's family. Unknown or expired tokens are fine: logout is idempotent. */
  async logout(presented: string, sourceIp: string): Promise<void> {
    // Together: a refused request has read, and revokes nothing.
    const [, record] = await Promise.all([
      enforceLimit(this.limiter, 'logout-ip', sourceIp, this.settings.limits.logoutIp),
      this.find(presented),
    ]);
    if (record) await this.store.revokeFamily(record.familyId, 'logout');
  }

  async endAll(userId: string): Promise<void> {
    await this.store.deleteAllForUser(userId);
  }

  /** The immediate parent of the head, replayed while the window since its rotation is open. */
  private inGrace(family: TokenFamily, hash: string, now: number): boolean {
    // The window runs from the first rotation; retries write nothing, so they cannot stretch it.
    return (
      family.previous === hash &&
      family.previousRotatedAt !== null &&
      now - family.previousRotatedAt <= this.settings.refreshGraceSeconds * 1000
    );
  }

  /** The child of `parent`, derived under the current pepper. */
  private async deriveChild(parent: string, record: RefreshTokenRecord, familyExpiresAt: number) {
    const { current } = await this.peppers.ring();
    const token = deriveChildToken(current, parent);
    const issuedAt = this.clock.now();
    const child: RefreshTokenRecord = {
      hash: hashRefreshToken(current, token),
      pepperKid: current.kid,
      userId: record.userId,
      familyId: record.familyId,
      issuedAt,
      expiresAt: Math.min(issuedAt + this.settings.refreshTokenTtlDays * day, familyExpiresAt),
      familyExpiresAt,
    };
    return { token, record: child };
  }

  /**
   * The head's token, re-derived from its parent. The refresh that stored it may have used another
   * pepper of the ring (a rotation in between), so each is tried; no store call is made.
   */
  private async childAtHead(parent: string, head: string): Promise<string | undefined> {
    const matching = (ring: KeyRing) =>
      keysOf(ring)
        .map((pepper) => ({ pepper, token: deriveChildToken(pepper, parent) }))
        .find(({ pepper, token }) => hashRefreshToken(pepper, token) === head)?.token;
    const found = matching(await this.peppers.ring());
    if (found) return found;
    const refreshed = await this.peppers.refreshed();
    return refreshed && matching(refreshed);
  }

  private async mint(userId: string, familyId: string, familyExpiresAt: number) {
    const { current } = await this.peppers.ring();
    // The tag names the pepper, so a refresh hashes once and reads once whatever the ring holds.
    const token = `${current.tag}.${randomBytes(32).toString('base64url')}`;
    const issuedAt = this.clock.now();
    const record: RefreshTokenRecord = {
      hash: hashRefreshToken(current, token),
      pepperKid: current.kid,
      userId,
      familyId,
      issuedAt,
      expiresAt: Math.min(issuedAt + this.settings.refreshTokenTtlDays * day, familyExpiresAt),
      familyExpiresAt,
    };
    return { token, record };
  }

  /**
   * A token names its pepper (`<tag>.<secret>`): one hash, one read. An unknown tag re-reads the
   * ring once (cooldown permitting), since a function that already saw a new pepper may have
   * issued it. Tokens from before tags (no `.`) are looked up under every pepper until they expire.
   */
  private async find(presented: string): Promise<RefreshTokenRecord | undefined> {
    const tagged = /^([A-Za-z0-9_-]{8})\.[A-Za-z0-9_-]{43}$/.exec(presented);
    if (tagged) {
      const pepper = await this.peppers.findTagged(tagged[1]!);
      return pepper && this.store.getToken(hashRefreshToken(pepper, presented));
    }
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(presented)) return undefined;
    const tried = new Set<string>();
    const lookUp = async (peppers: readonly Key[]) => {
      for (const pepper of peppers) {
        if (tried.has(pepper.kid)) continue;
        tried.add(pepper.kid);
        const record = await this.store.getToken(hashRefreshToken(pepper, presented));
        if (record) return record;
      }
      return undefined;
    };
    const found = await lookUp(keysOf(await this.peppers.ring()));
    if (found) return found;
    const refreshed = await this.peppers.refreshed();
    return refreshed && lookUp(keysOf(refreshed));
  }

  private async withAccessToken(userId: string, refreshToken: string, epoch: number | undefined): Promise<SessionTokens> {
    const access = await this.accessTokens.issue(userId, { epoch: epoch ?? 0 });
    return { token: access.token, refreshToken, expiresIn: access.expiresIn };
  }
}
