import { randomUUID } from 'node:crypto';
import { UnauthorizedError } from './errors.js';
import { readHeader, signHs256, verifyHs256 } from './jwt-hs256.js';
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
   * `epoch` is the account's revocation epoch as read with this issue (0 if it has none): carried in
   * the private claim `rev`, compared with the account's on every request (`acceptsToken`).
   */
  async issue(userId: string, options: { epoch?: number } = {}): Promise<IssuedAccessToken> {
    const { current } = await this.keys.ring();
    const issuedAt = Math.floor(this.clock.now() / 1000);
    const token = signHs256(
      { kid: current.kid, typ: accessTokenType },
      {
        iss: this.issuer,
        aud: accessTokenAudience,
        sub: userId,
        iat: issuedAt,
        exp: issuedAt + this.ttlSeconds,
        jti: randomUUID(),
        rev: options.epoch ?? 0,
      },
      current.bytes,
    );
    return { token, expiresIn: this.ttlSeconds };
  }

  /** Returns the token's subject; throws 401 `unauthorized` for any token that is not ours and current. */
  async verify(token: string): Promise<string> {
    return (await this.verifyClaims(token)).userId;
  }

  /**
   * The token's subject, `iat` (epoch seconds) and revocation epoch (0 for a token without the
   * claim: it passes only while the account's epoch is 0).
   */
  async verifyClaims(token: string): Promise<{ userId: string; issuedAt: number; epoch: number }> {
    let kid: unknown;
    let alg: unknown;
    try {
      ({ kid, alg } = readHeader(token));
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
      const now = Math.floor(this.clock.now() / 1000);
      const payload = verifyHs256(token, key.bytes, {
        issuer: this.issuer,
        audience: accessTokenAudience,
        typ: accessTokenType,
        requiredClaims: ['sub', 'iat', 'exp', 'jti'],
        now,
      });
      if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new UnauthorizedError();
      const { iat, exp } = payload;
      if (typeof iat !== 'number' || typeof exp !== 'number') throw new UnauthorizedError();
      if (iat > now + accessTokenSkewSeconds || exp - iat > this.ttlSeconds + accessTokenSkewSeconds) {
        throw new UnauthorizedError();
      }
      const epoch = payload.rev === undefined ? 0 : payload.rev;
      if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) throw new UnauthorizedError();
      return { userId: payload.sub as string, issuedAt: iat, epoch };
    } catch {
      throw new UnauthorizedError();
    }
  }
}
