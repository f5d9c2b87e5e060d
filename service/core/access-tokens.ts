import { randomUUID } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, jwtVerify } from 'jose';
import { UnauthorizedError } from './errors.js';
import type { KeyRingReader } from './key-ring.js';
import type { Clock } from './ports.js';

export const accessTokenAudience = 'chatshyld-api';
export const accessTokenType = 'at+jwt';
const algorithm = 'HS256';
/** Clock difference tolerated between the container that signs and the one that verifies. */
export const accessTokenSkewSeconds = 30;

export interface IssuedAccessToken {
  readonly token: string;
  /** Seconds. */
  readonly expiresIn: number;
}

/**
 * Short-lived access tokens: HS256 JWTs whose header names the signing key. Verification pins the
 * algorithm, issuer, audience, type and expiry, and caps the lifetime whatever `exp` says: `iat` no
 * later than now plus the skew, `exp - iat` no longer than the configured lifetime plus the skew (a
 * leaked signing key still cannot mint a token that outlives its rotation). Anything else is one 401
 * with no detail.
 */
export class AccessTokens {
  readonly issuer: string;

  constructor(
    private readonly keys: KeyRingReader,
    private readonly clock: Clock,
    stage: string,
    private readonly ttlSeconds: number,
  ) {
    this.issuer = `chatshyld/${stage}`;
  }

  /**
   * `notBefore` is the account's revocation marker as read before this issue (epoch ms): a token of
   * the marker's own second is dated to the next one, so that it passes (`acceptsToken`) while every
   * token issued before the marker is refused. The skew allowance bounds how far ahead that may be.
   */
  async issue(userId: string, options: { notBefore?: number } = {}): Promise<IssuedAccessToken> {
    const { current } = await this.keys.ring();
    const now = Math.floor(this.clock.now() / 1000);
    const afterMarker = options.notBefore === undefined ? now : Math.floor(options.notBefore / 1000) + 1;
    const issuedAt = afterMarker > now && afterMarker <= now + accessTokenSkewSeconds ? afterMarker : now;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: algorithm, kid: current.kid, typ: accessTokenType })
      .setIssuer(this.issuer)
      .setAudience(accessTokenAudience)
      .setSubject(userId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + this.ttlSeconds)
      .setJti(randomUUID())
      .sign(current.bytes);
    return { token, expiresIn: this.ttlSeconds };
  }

  /** Returns the token's subject; throws 401 `unauthorized` for any token that is not ours and current. */
  async verify(token: string): Promise<string> {
    return (await this.verifyClaims(token)).userId;
  }

  /** The token's subject and its `iat` (epoch seconds), which the revocation marker is compared with. */
  async verifyClaims(token: string): Promise<{ userId: string; issuedAt: number }> {
    let kid: unknown;
    let alg: unknown;
    try {
      ({ kid, alg } = decodeProtectedHeader(token));
    } catch {
      throw new UnauthorizedError();
    }
    // Checked before the key lookup so a forged header cannot force a secret re-read.
    if (alg !== algorithm || typeof kid !== 'string' || kid.length === 0 || kid.length > 64) {
      throw new UnauthorizedError();
    }
    const key = await this.keys.find(kid);
    if (!key) throw new UnauthorizedError();
    try {
      const { payload } = await jwtVerify(token, key.bytes, {
        algorithms: [algorithm],
        issuer: this.issuer,
        audience: accessTokenAudience,
        typ: accessTokenType,
        requiredClaims: ['sub', 'iat', 'exp', 'jti'],
        currentDate: new Date(this.clock.now()),
      });
      if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new UnauthorizedError();
      const { iat, exp } = payload;
      const now = Math.floor(this.clock.now() / 1000);
      if (typeof iat !== 'number' || typeof exp !== 'number') throw new UnauthorizedError();
      if (iat > now + accessTokenSkewSeconds || exp - iat > this.ttlSeconds + accessTokenSkewSeconds) {
        throw new UnauthorizedError();
      }
      return { userId: payload.sub, issuedAt: iat };
    } catch {
      throw new UnauthorizedError();
    }
  }
}
