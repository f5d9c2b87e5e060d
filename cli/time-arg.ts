import { usageError } from './errors.js';

const units = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;
/** The range of a JavaScript Date, in epoch ms either side of 1970. */
const maxTime = 8.64e15;
const isoTime = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2})$/;
const isoDate = /^(\d{4})-(\d{2})-(\d{2})$/;

/** What a time option takes, as a hint. */
export const timeHint =
  'give a duration with its unit (30s, 10m, 2h, 7d, 2w), an ISO 8601 time with its zone (2027-02-01T09:00Z, 2027-02-01T09:00+01:00) or a date (2027-02-01, UTC midnight)';

/**
 * A time option: a duration with its unit (`30s`, `10m`, `2h`, `7d`, `2w`) counted from `now` in
 * `direction` (-1: ago, as `--since`; +1: from now, as `--until`), a full ISO 8601 time with its zone
 * (`2027-02-01T09:00Z`, `…+01:00`), or a plain date (`2027-02-01`, taken as UTC midnight). Anything
 * else (a bare number, a time without zone, a day the calendar has not, a value past a date's range)
 * is a usage error: nothing is guessed. Epoch ms.
 */
export function parseTimeOption(option: string, value: string, now: number, direction: 1 | -1): number {
  const text = value.trim();
  const refuse = (why: string) => usageError(`${option} ${JSON.stringify(value)}: ${why}`, timeHint);
  const relative = /^(\d+)([smhdw])$/.exec(text);
  if (relative) {
    const at = now + direction * Number(relative[1]) * units[relative[2] as keyof typeof units];
    if (!Number.isSafeInteger(at) || Math.abs(at) > maxTime) throw refuse('too far away');
    return at;
  }
  const time = isoTime.exec(text) ?? isoDate.exec(text);
  if (!time) throw refuse('not a duration with a unit, an ISO 8601 time with its zone, or a date');
  const [year, month, day, hour = 0, minute = 0, second = 0] = time.slice(1, 7).map((part) => (part === undefined ? undefined : Number(part)));
  const millis = time[7] === undefined ? 0 : Number(time[7].padEnd(3, '0'));
  const zone = time[8] ?? 'Z';
  const daysInMonth = month! >= 1 && month! <= 12 ? new Date(Date.UTC(year!, month!, 0)).getUTCDate() : 0;
  if (day! < 1 || day! > daysInMonth) throw refuse('no such day');
  if (hour! > 23 || minute! > 59 || second! > 59) throw refuse('no such time of day');
  let offset = 0;
  if (zone !== 'Z') {
    const [zoneHours, zoneMinutes] = zone.slice(1).split(':').map(Number) as [number, number];
    if (zoneHours > 23 || zoneMinutes > 59) throw refuse('no such zone offset');
    offset = (zone.startsWith('-') ? -1 : 1) * (zoneHours * 60 + zoneMinutes) * 60_000;
  }
  const at = Date.UTC(year!, month! - 1, day!, hour, minute, second, millis) - offset;
  if (!Number.isFinite(at) || Math.abs(at) > maxTime) throw refuse('too far away');
  return at;
}
