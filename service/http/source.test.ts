import { describe, expect, it } from 'vitest';
import { sourceOf } from './source.js';

describe('the source a request counts against', () => {
  it('is an IPv4 address as given, mapped or not', () => {
    expect(sourceOf('203.0.113.7')).toBe('203.0.113.7');
    expect(sourceOf('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(sourceOf('::FFFF:127.0.0.1')).toBe('127.0.0.1');
    // Other spellings of one mapped address: hexadecimal, written out in full, with a zone.
    for (const spelling of ['::ffff:cb00:7107', '0:0:0:0:0:ffff:203.0.113.7', '0000:0000:0000:0000:0000:FFFF:CB00:7107', '::ffff:203.0.113.7%eth0']) {
      expect(sourceOf(spelling)).toBe('203.0.113.7');
    }
    // Only the mapped prefix is IPv4: these are IPv6 /64s.
    expect(sourceOf('::fffe:cb00:7107')).toBe('0:0:0:0::/64');
    expect(sourceOf('1::ffff:cb00:7107')).toBe('1:0:0:0::/64');
  });

  it('is the /64 of an IPv6 address, however it is spelled', () => {
    const spellings = ['2001:db8:1:2::1', '2001:0db8:0001:0002:0000:0000:0000:00ff', '2001:DB8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::1.2.3.4', '2001:db8:1:2::1%eth0'];
    expect(new Set(spellings.map(sourceOf))).toEqual(new Set(['2001:db8:1:2::/64']));
    expect(sourceOf('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(sourceOf('::1')).toBe('0:0:0:0::/64');
    expect(sourceOf('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(sourceOf('fe80:0:0:0:1::')).toBe('fe80:0:0:0::/64');
  });

  it('cuts anything else to 64 characters', () => {
    expect(sourceOf('x'.repeat(5000))).toHaveLength(64);
    expect(sourceOf('not-an-address')).toBe('not-an-address');
  });
});
