import { createHmac, randomBytes } from 'node:crypto';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { signHs256, verifyHs256 } from './jwt-hs256.js';

const key = randomBytes(32);
const now = 1_800_000_000;
const expected = { issuer: 'chatshyld/test', audience: 'chatshyld-api', typ: 'at+jwt', requiredClaims: ['sub', 'iat', 'exp', 'jti'], now };
const claims = { iss: 'chatshyld/test', aud: 'chatshyld-api', sub: 'user-1', iat: now - 10, exp: now + 890, jti: 'j' };
const header = { alg: 'HS256', kid: 'k1', typ: 'at+jwt' };

const part = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** A token from raw parts, correctly signed with `key`: only what the verifier checks differs. */
const craft = (h: unknown, c: unknown, signWith: Uint8Array = key) => {
  const input = `${part(h)}.${part(c)}`;
  return `${input}.${createHmac('sha256', signWith).update(input).digest('base64url')}`;
};

async function joseAccepts(token: string): Promise<boolean> {
  try {
    await jwtVerify(token, key, {
      algorithms: ['HS256'],
      issuer: expected.issuer,
      audience: expected.audience,
      typ: expected.typ,
      requiredClaims: [...expected.requiredClaims],
      currentDate: new Date(now * 1000),
    });
    return true;
  } catch {
    return false;
  }
}

function oursAccepts(token: string): boolean {
  try {
    verifyHs256(token, key, expected);
    return true;
  } catch {
    return false;
  }
}

describe('HS256 with node:crypto', () => {
  it('signs tokens that jose verifies, with the header and claims given', async () => {
    const token = signHs256({ kid: 'k1', typ: 'at+jwt' }, claims, key);
    const { payload, protectedHeader } = await jwtVerify(token, key, { algorithms: ['HS256'], currentDate: new Date(now * 1000) });
    expect(protectedHeader).toEqual(header);
    expect(payload).toEqual(claims);
  });

  const cases: Record<string, string> = {
    'a valid token': craft(header, claims),
    'typ in capitals': craft({ ...header, typ: 'AT+JWT' }, claims),
    'typ with application/': craft({ ...header, typ: 'application/at+jwt' }, claims),
    'another typ': craft({ ...header, typ: 'JWT' }, claims),
    'typ under another media type': craft({ ...header, typ: 'text/at+jwt' }, claims),
    'no typ': craft({ alg: 'HS256', kid: 'k1' }, claims),
    'typ not a string': craft({ ...header, typ: 1 }, claims),
    'alg none': craft({ ...header, alg: 'none' }, claims),
    'alg HS384': craft({ ...header, alg: 'HS384' }, claims),
    'alg in lower case': craft({ ...header, alg: 'hs256' }, claims),
    'a wrong key': craft(header, claims, randomBytes(32)),
    'expired': craft(header, { ...claims, exp: now }),
    'exp a second ahead': craft(header, { ...claims, exp: now + 1 }),
    'exp a string': craft(header, { ...claims, exp: String(now + 100) }),
    'no exp': craft(header, { ...claims, exp: undefined }),
    'no iat': craft(header, { ...claims, iat: undefined }),
    'iat a string': craft(header, { ...claims, iat: 'now' }),
    'no jti': craft(header, { ...claims, jti: undefined }),
    'jti a number': craft(header, { ...claims, jti: 7 }),
    'no sub': craft(header, { ...claims, sub: undefined }),
    'nbf in the future': craft(header, { ...claims, nbf: now + 1 }),
    'nbf now': craft(header, { ...claims, nbf: now }),
    'nbf a string': craft(header, { ...claims, nbf: 'x' }),
    'another issuer': craft(header, { ...claims, iss: 'chatshyld/prod' }),
    'no issuer': craft(header, { ...claims, iss: undefined }),
    'audience in an array': craft(header, { ...claims, aud: ['other', 'chatshyld-api'] }),
    'another audience in an array': craft(header, { ...claims, aud: ['other'] }),
    'audience a number': craft(header, { ...claims, aud: 1 }),
    'no audience': craft(header, { ...claims, aud: undefined }),
    'claims an array': craft(header, [claims]),
    'claims not JSON': craft(header, 'not json'),
    'header an array': craft([header], claims),
    'two parts': craft(header, claims).split('.').slice(0, 2).join('.'),
    'four parts': `${craft(header, claims)}.x`,
    'padding on the signature': `${craft(header, claims)}=`,
    'a character outside base64url in the signature': `${craft(header, claims).slice(0, -1)}+`,
    'a truncated signature': craft(header, claims).slice(0, -2),
    'an empty signature': craft(header, claims).replace(/[^.]+$/, ''),
  };

  it.each(Object.keys(cases))('accepts or refuses as jose does: %s', async (name) => {
    const token = cases[name]!;
    expect({ name, accepted: oursAccepts(token) }).toEqual({ name, accepted: await joseAccepts(token) });
  });

  it('refuses a crit header jose would accept, the one deliberate difference', async () => {
    const token = craft({ ...header, crit: ['b64'], b64: true }, claims);
    expect(await joseAccepts(token)).toBe(true);
    expect(oursAccepts(token)).toBe(false);
  });
});
