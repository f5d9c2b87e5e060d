import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keysOf, newKey, parseKeyRing } from './key-ring.js';

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
