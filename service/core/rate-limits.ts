import { TooManyRequestsError } from './errors.js';
import type { RateLimiter } from './ports.js';
import type { WindowLimit } from '../settings.js';

export type RateLimitPolicy =
  | 'send-otp-ip'
  | 'send-otp-phone-cooldown'
  | 'send-otp-phone-hourly'
  | 'send-otp-phone-ip'
  | 'verify-otp-ip'
  | 'refresh-ip';

/** The logical name of one counter; the store decides how it is keyed. */
export function rateLimitKey(policy: RateLimitPolicy, subject: string): string {
  return `${policy}#${subject}`;
}

/** The subject of a per-phone-per-source counter. */
export function phoneFromSource(phone: string, sourceIp: string): string {
  return `${phone}@${sourceIp}`;
}

/**
 * The per-phone counters, forgotten when its account is deleted. The per-phone-per-source ones are
 * keyed by address and cannot be listed; they expire within the hour on their own.
 */
export function phoneRateLimitKeys(phone: string): string[] {
  return [rateLimitKey('send-otp-phone-cooldown', phone), rateLimitKey('send-otp-phone-hourly', phone)];
}

/** Counts one hit; throws 429 `rate_limited` with Retry-After once the window is full. */
export async function enforceLimit(
  limiter: RateLimiter,
  policy: RateLimitPolicy,
  subject: string,
  rule: WindowLimit,
): Promise<void> {
  const decision = await limiter.hit(rateLimitKey(policy, subject), rule.limit, rule.windowSeconds);
  if (!decision.allowed) {
    throw new TooManyRequestsError('rate_limited', 'Too many requests. Try again later.', decision.retryAfterSeconds);
  }
}
