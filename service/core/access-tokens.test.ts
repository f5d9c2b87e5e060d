import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemorySecretSource } from '../testing/fakes.js';
import { TestClock } from '../testing/harness.js';
import { AccessTokens } from './access-tokens.js';
import { KeyRingReader, newKey, type KeyEntry } from './key-ring.js';

const b64 = (value: object | string) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

describe('access tokens', () => {
  let clock: TestClock;
  let source: MemorySecretSource;
  let key: KeyEntry;
  let tokens: AccessTokens;

  beforeEach(() => {
    clock = new TestClock(Date.parse('2026-06-01T12:00:00Z'));
    source = new MemorySecretSource();
    key = newKey(new Date(clock.now()));
    source.set('jwt-secret', { current: key });
    tokens = new AccessTokens(new KeyRingReader(source, 'jwt-secret', clock, 10_000), clock, 'dev', 900);
  });

  const keyBytes = () => Buffer.from(key.secret, 'base64url');
  const claims = () => {
    const iat = Math.floor(clock.now() / 1000);
    return { iss: 'chatshyld/dev', aud: 'chatshyld-api', sub: 'user-1', iat, exp: iat + 900, jti: 'j1' };
  };
  /** Signs header.payload with HMAC by hand, so tests can forge any header. */
  const forge = (header: object, payload: object, hash = 'sha256', secret: Buffer = keyBytes()) => {
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
  };

  it('issues HS256 tokens with kid, typ and the pinned claims', async () => {
    const { token, expiresIn } = await tokens.issue('user-1');
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part!, 'base64url').toString()));
    expect(header).toEqual({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' });
    expect(payload).toMatchObject({ iss: 'chatshyld/dev', aud: 'chatshyld-api', sub: 'user-1' });
    expect(payload.exp - payload.iat).toBe(900);
    expect(typeof payload.jti).toBe('string');
    expect(expiresIn).toBe(900);
    await expect(tokens.verify(token)).resolves.toBe('user-1');
  });

  it('carries the revocation epoch it was issued with, whatever the clock; a token without it reads as epoch 0', async () => {
    const issued = await tokens.verifyClaims((await tokens.issue('user-1', { epoch: 3 })).token);
    expect(issued).toMatchObject({ userId: 'user-1', epoch: 3, issuedAt: Math.floor(clock.now() / 1000) });
    expect((await tokens.verifyClaims((await tokens.issue('user-1')).token)).epoch).toBe(0);
    const sign = (extra: Record<string, unknown>) => forge({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' }, { ...claims(), ...extra });
    expect((await tokens.verifyClaims(sign({}))).epoch).toBe(0);
    for (const rev of [-1, 1.5, '2', null]) {
      await expect(tokens.verifyClaims(sign({ rev }))).rejects.toMatchObject({ statusCode: 401 });
    }
  });

  it.each(['none', 'NONE', 'None', 'nOnE'])('refuses alg %s', async (alg) => {
    const token = `${b64({ alg, kid: key.kid, typ: 'at+jwt' })}.${b64(claims())}.`;
    await expect(tokens.verify(token)).rejects.toMatchObject({ statusCode: 401, code: 'unauthorized' });
  });

  it.each([
    ['HS512', 'sha512'],
    ['HS384', 'sha384'],
  ])('refuses another algorithm (%s), even signed with the right key', async (alg, hash) => {
    const token = forge({ alg, kid: key.kid, typ: 'at+jwt' }, claims(), hash);
    await expect(tokens.verify(token)).rejects.toMatchObject({ statusCode: 401 });
  });

  it('refuses RS256 headers', async () => {
    const token = forge({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' }, claims());
    await expect(tokens.verify(token)).rejects.toMatchObject({ statusCode: 401 });
  });

  it('refuses a token signed with a wrong key', async () => {
    const other = Buffer.from(newKey(new Date()).secret, 'base64url');
    const token = forge({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' }, claims(), 'sha256', other);
    await expect(tokens.verify(token)).rejects.toMatchObject({ statusCode: 401 });
  });

  it('refuses a tampered payload', async () => {
    const { token } = await tokens.issue('user-1');
    const [header, , signature] = token.split('.');
    const tampered = `${header}.${b64({ ...claims(), sub: 'user-2' })}.${signature}`;
    await expect(tokens.verify(tampered)).rejects.toMatchObject({ statusCode: 401 });
  });

  it('refuses an expired token', async () => {
    const { token } = await tokens.issue('user-1');
    clock.advance(901_000);
    await expect(tokens.verify(token)).rejects.toMatchObject({ statusCode: 401 });
  });

  it.each([
    ['issuer', { iss: 'chatshyld/prod' }],
    ['audience', { aud: 'someone-else' }],
    ['missing jti', { jti: undefined }],
  ])('refuses a wrong %s', async (_name, change) => {
    const token = forge({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' }, { ...claims(), ...change });
    await expect(tokens.verify(token)).rejects.toMatchObject({ statusCode: 401 });
  });

  it('refuses a token of another type (an ID token signed with our key)', async () => {
    const token = forge({ alg: 'HS256', kid: key.kid, typ: 'JWT' }, claims());
    await expect(tokens.verify(token)).rejects.toMatchObject({ statusCode: 401 });
  });

  it('refuses garbage', async () => {
    for (const token of ['', 'a.b.c', 'not-a-jwt', `${b64({ alg: 'HS256' })}..`]) {
      await expect(tokens.verify(token)).rejects.toMatchObject({ statusCode: 401 });
    }
  });

  it('verifies with the previous key after a rotation and signs with the new one', async () => {
    const { token: before } = await tokens.issue('user-1');
    const next = newKey(new Date(clock.now()));
    source.set('jwt-secret', { current: next, previous: key });
    // Another container, which read the rotated ring, signs; this one still has the old ring cached
    // and sees the new key at once because the unknown kid forces a re-read.
    const otherContainer = new MemorySecretSource();
    otherContainer.set('jwt-secret', { current: next, previous: key });
    const { token: after } = await new AccessTokens(
      new KeyRingReader(otherContainer, 'jwt-secret', clock, 10_000),
      clock,
      'dev',
      900,
    ).issue('user-1');
    await expect(tokens.verify(after)).resolves.toBe('user-1');
    await expect(tokens.verify(before)).resolves.toBe('user-1');
    expect(JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()).kid).toBe(next.kid);
  });

  it('re-reads the key ring at most once per cooldown for unknown kids', async () => {
    for (let i = 0; i < 20; i++) {
      const token = forge({ alg: 'HS256', kid: `forged-${i}`, typ: 'at+jwt' }, claims());
      await expect(tokens.verify(token)).rejects.toMatchObject({ statusCode: 401 });
    }
    expect(source.forcedReads).toBe(1);
    clock.advance(10_001);
    await expect(tokens.verify(forge({ alg: 'HS256', kid: 'again', typ: 'at+jwt' }, claims()))).rejects.toThrow();
    expect(source.forcedReads).toBe(2);
  });

  describe('caps the lifetime at the configured 15 min plus 30 s of clock skew', () => {
    const header = () => ({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' });
    const now = () => Math.floor(clock.now() / 1000);

    it.each([
      ['exp 10 years ahead', () => ({ ...claims(), exp: now() + 10 * 365 * 24 * 3600 })],
      ['exp one minute past the lifetime', () => ({ ...claims(), exp: now() + 900 + 60 })],
      ['iat in the future', () => ({ ...claims(), iat: now() + 3600, exp: now() + 3600 + 900 })],
      ['iat a minute ahead', () => ({ ...claims(), iat: now() + 60, exp: now() + 60 + 900 })],
      ['iat that is not a number', () => ({ ...claims(), iat: String(now()) })],
    ])('refuses %s, correctly signed', async (_name, payload) => {
      await expect(tokens.verify(forge(header(), payload()))).rejects.toMatchObject({ statusCode: 401 });
    });

    it('accepts the largest lifetime and future iat the skew allows', async () => {
      await expect(tokens.verify(forge(header(), { ...claims(), exp: now() + 900 + 30 }))).resolves.toBe('user-1');
      await expect(
        tokens.verify(forge(header(), { ...claims(), iat: now() + 30, exp: now() + 30 + 900 })),
      ).resolves.toBe('user-1');
    });
  });

  it('accepts a token that jose itself signed with the right parameters', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' })
      .setIssuer('chatshyld/dev')
      .setAudience('chatshyld-api')
      .setSubject('user-9')
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 60)
      .setJti('x')
      .sign(keyBytes());
    await expect(tokens.verify(token)).resolves.toBe('user-9');
  });
});
