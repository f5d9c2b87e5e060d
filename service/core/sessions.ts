import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { AccessTokens } from './access-tokens.js';
import { invalidRefreshToken } from './errors.js';
import { keysOf, type Key, type KeyRingReader } from './key-ring.js';
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
  readonly limits: { readonly refreshIp: WindowLimit };
}

export function hashRefreshToken(pepper: Key, token: string): string {
  return createHmac('sha256', pepper.bytes).update(token).digest('hex');
}

/**
 * Sessions: opaque refresh tokens that rotate on every use (RFC 9700 §4.14.2).
 *
 * Each login starts a family. The family item names its one usable token (`head`), so "at most one
 * live successor" is a single conditional write, however many refreshes race. A refresh:
 *  1. finds the token by its HMAC under the pepper its tag names (one read);
 *  2. if it is the head: issues a child and moves the head to it;
 *  3. if it is the head's immediate parent and the grace window since its rotation is still open:
 *     a client retry; issues a fresh child, which replaces (and so revokes) the previous child;
 *  4. otherwise the token was replayed: revokes the whole family.
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
  ) {}

  /** Starts a new family for a fresh login. */
  async start(userId: string): Promise<SessionTokens> {
    const now = this.clock.now();
    const familyExpiresAt = now + this.settings.refreshFamilyTtlDays * day;
    const { token, record } = await this.mint(userId, randomUUID(), familyExpiresAt);
    await this.store.putToken(record);
    await this.store.createFamily({
      id: record.familyId,
      userId,
      status: 'active',
      head: record.hash,
      previous: null,
      previousRotatedAt: null,
      createdAt: now,
      expiresAt: familyExpiresAt,
    });
    return this.withAccessToken(userId, token);
  }

  async refresh(presented: string, sourceIp: string): Promise<SessionTokens> {
    await enforceLimit(this.limiter, 'refresh-ip', sourceIp, this.settings.limits.refreshIp);
    const record = await this.find(presented);
    if (!record || record.expiresAt <= this.clock.now()) throw invalidRefreshToken();

    for (let attempt = 0; attempt < maxHeadAttempts; attempt++) {
      const family = await this.store.getFamily(record.familyId);
      const now = this.clock.now();
      if (!family || family.status !== 'active' || family.expiresAt <= now) throw invalidRefreshToken();

      const next = this.nextHead(family, record.hash, now);
      if (!next) {
        await this.store.revokeFamily(family.id, 'reuse');
        this.metrics.count('ReuseDetected');
        this.log.warn('refresh token reuse detected; family revoked', {
          familyId: family.id,
          userId: family.userId,
        });
        throw invalidRefreshToken();
      }

      const child = await this.mint(record.userId, family.id, family.expiresAt);
      await this.store.putToken(child.record);
      const moved = await this.store.advanceHead(family.id, family.head, {
        head: child.record.hash,
        ...next,
      });
      if (moved) {
        this.metrics.count('Refreshes');
        return this.withAccessToken(record.userId, child.token);
      }
      // Another refresh moved the head first; this child was never handed out.
      await this.store.deleteToken(child.record.hash);
    }
    this.log.warn('refresh gave up after repeated head contention', { familyId: record.familyId });
    throw invalidRefreshToken();
  }

  /** Revokes the token's family. Unknown or expired tokens are fine: logout is idempotent. */
  async logout(presented: string): Promise<void> {
    const record = await this.find(presented);
    if (record) await this.store.revokeFamily(record.familyId, 'logout');
  }

  async endAll(userId: string): Promise<void> {
    await this.store.deleteAllForUser(userId);
  }

  private nextHead(
    family: TokenFamily,
    hash: string,
    now: number,
  ): { previous: string; previousRotatedAt: number } | undefined {
    if (family.head === hash) return { previous: hash, previousRotatedAt: now };
    const graceOpen =
      family.previous === hash &&
      family.previousRotatedAt !== null &&
      now - family.previousRotatedAt <= this.settings.refreshGraceSeconds * 1000;
    // A retry keeps the original rotation time, so retries cannot stretch the window.
    if (graceOpen) return { previous: hash, previousRotatedAt: family.previousRotatedAt! };
    return undefined;
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

  private async withAccessToken(userId: string, refreshToken: string): Promise<SessionTokens> {
    const access = await this.accessTokens.issue(userId);
    return { token: access.token, refreshToken, expiresIn: access.expiresIn };
  }
}
