import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keysOf, newKey, parseKeyRing, toCurrentShape, weakKeyReason } from './key-ring.js';

const entry = (bytes: number, kid = 'k1') => ({
  kid,
  secret: randomBytes(bytes).toString('base64url'),
  createdAt: '2026-01-01T00:00:00.000Z',
});

describe('key rings', () => {
  it('refuses a key shorter than 32 bytes, naming it', () => {
    expect(() => parseKeyRing('jwt-secret', JSON.stringify({ current: entry(31) }))).toThrow(
      /jwt-secret\.current \(kid k1\) is 31 bytes; keys must be at least 32 bytes/,
    );
    expect(() =>
      parseKeyRing('jwt-secret', JSON.stringify({ current: entry(32), previous: entry(16, 'k0') })),
    ).toThrow(/previous.*16 bytes/);
  });

  it('accepts 32 bytes and more, and lists current first', () => {
    const ring = parseKeyRing(
      'refresh-pepper',
      JSON.stringify({ current: entry(32, 'b'), previous: entry(64, 'a'), next: entry(48, 'c') }),
    );
    expect(keysOf(ring).map((key) => [key.kid, key.bytes.length])).toEqual([
      ['b', 32],
      ['a', 64],
      ['c', 48],
    ]);
  });

  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['an array', '[]', /must be a JSON object/],
    ['unknown fields', JSON.stringify({ current: entry(32), extra: 1 }), /unknown fields: extra/],
    ['a duplicate kid', JSON.stringify({ current: entry(32), previous: entry(32) }), /one kid for two keys/],
    ['a bad kid', JSON.stringify({ current: { ...entry(32), kid: 'a b' } }), /kid must be/],
    ['a non-base64 secret', JSON.stringify({ current: { ...entry(32), secret: 'not base64!' } }), /base64url/],
    ['a bad date', JSON.stringify({ current: { ...entry(32), createdAt: 'yesterday' } }), /createdAt/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => parseKeyRing('jwt-secret', text)).toThrow(message);
  });

  it('makes 64-byte keys with time-ordered kids', () => {
    const a = newKey(new Date('2026-01-01T00:00:00Z'));
    const b = newKey(new Date('2026-01-02T00:00:00Z'));
    expect(Buffer.from(a.secret, 'base64url')).toHaveLength(64);
    expect(a.kid < b.kid).toBe(true);
    expect(() => parseKeyRing('jwt-secret', JSON.stringify({ current: a, previous: b }))).not.toThrow();
  });
});

describe('rings of any size', () => {
  const key = (kid: string, extra: object = {}) => ({ ...entry(32, kid), ...extra });

  it('reads a ring of one signing key and many verify-only keys, never a revoked one', () => {
    const ring = parseKeyRing(
      'jwt-secret',
      JSON.stringify({
        current: key('s'),
        verifyOnly: [key('a', { retiredAt: '2026-01-01T00:00:00Z', validUntil: '2026-01-01T00:15:00Z' }), key('b'), key('c'), key('x')],
        revoked: [{ kid: 'x', revokedAt: '2026-01-02T00:00:00Z' }],
      }),
    );
    expect(ring.current.kid).toBe('s');
    expect(keysOf(ring).map((k) => k.kid)).toEqual(['s', 'a', 'b', 'c']);
    expect(() => parseKeyRing('jwt-secret', JSON.stringify({ current: key('x'), revoked: [{ kid: 'x', revokedAt: '2026-01-02T00:00:00Z' }] }))).toThrow(
      /signing key x is listed as revoked/,
    );
  });

  it('migrates {current, previous, next} in place: next is published, previous valid for one more token lifetime', () => {
    const legacy = { current: key('c'), previous: key('p', { retiredAt: '2026-01-01T00:00:00.000Z' }), next: key('n') };
    const shaped = toCurrentShape(JSON.stringify(legacy), 'jwt-secret', 15 * 60_000, new Date('2026-01-01T00:10:00Z'));
    expect(shaped.current).toEqual(legacy.current);
    expect(shaped.verifyOnly).toEqual([legacy.next, { ...legacy.previous, validUntil: '2026-01-01T00:15:00.000Z' }]);
    expect(shaped.revoked).toEqual([]);
    // Readers see the same keys either way.
    const kids = (document: object) => keysOf(parseKeyRing('jwt-secret', JSON.stringify(document))).map((k) => k.kid).sort();
    expect(kids(shaped)).toEqual(kids(legacy));
    // Once the previous key's lifetime is over, the next write prunes it.
    expect(toCurrentShape(JSON.stringify(legacy), 'jwt-secret', 15 * 60_000, new Date('2026-01-01T00:16:00Z')).verifyOnly.map((k) => k.kid)).toEqual(['n']);
  });

  it('calls 32 zero bytes and repeated patterns weak, and random keys not', () => {
    expect(weakKeyReason(new Uint8Array(32))).toMatch(/only 1 distinct/);
    expect(weakKeyReason(Buffer.from('ab'.repeat(32)))).toMatch(/distinct/);
    // 64 distinct values, twice: enough distinct bytes, but a pattern.
    const half = Buffer.from([...Array(64).keys()].sort(() => Math.random() - 0.5));
    expect(weakKeyReason(Buffer.concat([half, half]))).toMatch(/64-byte pattern repeated/);
    for (let i = 0; i < 200; i++) expect(weakKeyReason(randomBytes(32))).toBeUndefined();
  });

  it('calls counting runs and text weak, whatever they start from', () => {
    expect(weakKeyReason(Uint8Array.from({ length: 32 }, (_, i) => i))).toMatch(/counting/);
    expect(weakKeyReason(Uint8Array.from({ length: 32 }, (_, i) => (250 + 3 * i) & 0xff))).toMatch(/counting/);
    expect(weakKeyReason(Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEF'))).toMatch(/counting/);
    expect(weakKeyReason(Buffer.from('correct horse battery staple 42!'))).toMatch(/printable text/);
    expect(weakKeyReason(Buffer.from('q8#Vz!r2Lp0@xM7&kW4^tN9*eB3(yH6)'))).toMatch(/printable text/);
    // 1 in 256 random keys has some run of equal steps; only a pattern across the whole key counts.
    for (let i = 0; i < 2000; i++) expect(weakKeyReason(randomBytes(32))).toBeUndefined();
  });
});
