/**
 * Compact HS256 JWTs with node:crypto: what AccessTokens signs and verifies, without a JOSE library
 * on the request path (synchronous HMAC instead of a WebCrypto job per request, and a smaller bundle).
 *
 * `verifyHs256` follows jose's `jwtVerify` for the options AccessTokens used with it (algorithms
 * [HS256], issuer, audience, typ, required claims, current date, no clock tolerance), check for
 * check: three base64url parts; header and claims JSON objects; `alg` exactly HS256; `typ` compared
 * case-insensitively without an `application/` prefix; a constant-time signature check; `iss` equal;
 * `aud` equal or, as an array, containing the audience; required claims present; `iat`, `nbf` and
 * `exp` numbers when present; `nbf` not in the future; `exp` in the future. One deliberate
 * difference: a header with `crit` or `b64` is refused (jose accepts `crit: ["b64"]` with `b64: true`,
 * which no issuer of ours writes). `service/core/jwt-hs256.test.ts` holds the two side by side.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Hs256Claims {
  readonly iss: string;
  readonly aud: string;
  readonly sub: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
  /** Private: the account's revocation epoch when the token was issued. */
  readonly rev?: number;
}

export interface Hs256Expectations {
  readonly issuer: string;
  readonly audience: string;
  readonly typ: string;
  readonly requiredClaims: readonly string[];
  /** Epoch seconds. */
  readonly now: number;
}

export class JwtRefused extends Error {}

const base64url = /^[A-Za-z0-9_-]*$/;

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** What jose's decoder takes too: base64url, padding allowed, no impossible length. */
function isBase64url(part: string): boolean {
  const bare = part.replace(/={1,2}$/, '');
  return base64url.test(bare) && bare.length % 4 !== 1;
}

function decodeObject(part: string): Record<string, unknown> {
  if (!isBase64url(part)) throw new JwtRefused('not base64url');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwtRefused('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JwtRefused('not an object');
  return value as Record<string, unknown>;
}

const normalizeTyp = (typ: string) => typ.toLowerCase().replace(/^application\//, '');

export function signHs256(header: { kid: string; typ: string }, claims: Hs256Claims, key: Uint8Array): string {
  const input = `${encodeJson({ alg: 'HS256', kid: header.kid, typ: header.typ })}.${encodeJson(claims)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

/** The protected header, unverified: enough to pick the key. Throws JwtRefused for a malformed token. */
export function readHeader(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtRefused('not a compact JWS');
  return decodeObject(parts[0]!);
}

/** The verified claims; throws JwtRefused for anything else. */
export function verifyHs256(token: string, key: Uint8Array, expected: Hs256Expectations): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtRefused('not a compact JWS');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeObject(headerPart);
  if (header.alg !== 'HS256') throw new JwtRefused('alg');
  if ('crit' in header || 'b64' in header) throw new JwtRefused('crit');
  if (!isBase64url(signaturePart)) throw new JwtRefused('signature encoding');
  const signature = Buffer.from(signaturePart, 'base64url');
  const computed = createHmac('sha256', key).update(`${headerPart}.${payloadPart}`).digest();
  if (signature.length !== computed.length || !timingSafeEqual(signature, computed)) throw new JwtRefused('signature');

  const claims = decodeObject(payloadPart);
  if (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(expected.typ)) throw new JwtRefused('typ');
  for (const name of expected.requiredClaims) if (!(name in claims)) throw new JwtRefused(`missing ${name}`);
  if (claims.iss !== expected.issuer) throw new JwtRefused('iss');
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(expected.audience)) throw new JwtRefused('aud');
  if (claims.iat !== undefined && typeof claims.iat !== 'number') throw new JwtRefused('iat');
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > expected.now)) throw new JwtRefused('nbf');
  if (claims.exp !== undefined && (typeof claims.exp !== 'number' || claims.exp <= expected.now)) throw new JwtRefused('exp');
  return claims;
}
