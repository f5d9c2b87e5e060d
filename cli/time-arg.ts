import { usageError } from './errors.js';

const units = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A time option: a duration (`30s`, `10m`, `2h`, `7d`) counted from `now` in `direction` (-1: ago,
 * as `--since`; +1: from now, as `--until`), or an ISO 8601 date. Epoch ms.
 */
export function parseTimeOption(option: string, value: string, now: number, direction: 1 | -1): number {
  const relative = /^(\d+)([smhd])$/.exec(value.trim());
  if (relative) return now + direction * Number(relative[1]) * units[relative[2] as keyof typeof units];
  const date = Date.parse(value);
  if (Number.isNaN(date)) throw usageError(`${option} must look like 10m, 2h, 1d or an ISO date, got "${value}"`);
  return date;
}
