import { describe, expect, it } from 'vitest';
import { CliError, exitCodes } from './errors.js';
import { parseTimeOption } from './time-arg.js';

const now = Date.parse('2026-11-28T04:00:00Z');
const parse = (value: string, direction: 1 | -1 = 1) => parseTimeOption('--until', value, now, direction);
const refused = (value: string) => {
  try {
    parse(value);
  } catch (error) {
    return error instanceof CliError ? { exitCode: error.exitCode, message: error.message, hint: error.hint } : error;
  }
  return undefined;
};

describe('--until and --since', () => {
  it('takes durations with a unit, both ways', () => {
    expect(parse('30s')).toBe(now + 30_000);
    expect(parse('10m')).toBe(now + 600_000);
    expect(parse('2h', -1)).toBe(now - 7_200_000);
    expect(parse('7d')).toBe(now + 7 * 86_400_000);
    expect(parse('2w')).toBe(now + 14 * 86_400_000);
  });

  it('takes full ISO 8601 times with their zone, and a plain date as UTC midnight', () => {
    expect(parse('2027-02-01T09:00Z')).toBe(Date.parse('2027-02-01T09:00:00Z'));
    expect(parse('2027-02-01T09:00:30.250+01:00')).toBe(Date.parse('2027-02-01T08:00:30.250Z'));
    expect(parse('2027-02-01T09:00-05:30')).toBe(Date.parse('2027-02-01T14:30:00Z'));
    expect(parse('2027-02-01')).toBe(Date.parse('2027-02-01T00:00:00Z'));
    expect(parse('2028-02-29')).toBe(Date.parse('2028-02-29T00:00:00Z'));
  });

  it('refuses a bare number, an impossible date, a time without zone and out-of-range values, exit 2 with a hint', () => {
    for (const value of [
      '45',
      '2027-02-30',
      '2027-02-29',
      '2027-13-01',
      '2027-02-01T09:00',
      '2027-02-01 09:00Z',
      '2027-02-01T24:00Z',
      '2027-02-01T09:60Z',
      '2027-02-01T09:00+25:00',
      '999999999d',
      '99999999999999999999s',
      '10 m',
      'tomorrow',
      '',
    ]) {
      const refusal = refused(value);
      expect({ value, refusal }).toMatchObject({ value, refusal: { exitCode: exitCodes.usage } });
      expect((refusal as { hint?: string }).hint).toMatch(/30m.*2h.*7d.*Z|UTC/);
    }
  });
});
