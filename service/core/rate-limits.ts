import { TooManyRequestsError } from './errors.js';
import type { RateLimiter } from './ports.js';
import type { WindowLimit } from '../settings.js';

export type RateLimitPolicy =
  | 'send-otp-ip'
  | 'send-otp-phone-cooldown'
  | 'send-otp-phone-hourly'
  | 'send-otp-phone-ip'
  | 'verify-otp-ip'
  | 'refresh-ip'
  | 'logout-ip'
  | 'presign-user';

/** The logical name of one counter; the store decides how it is keyed. */
export function rateLimitKey(policy: RateLimitPolicy, subject: string): string {
  return `${policy}#${subject}`;
}

/** The counters that name a phone number (the per-source ones included), forgotten when its account is deleted. */
export function phoneRateLimitKeys(phone: string): string[] {
  return [
    rateLimitKey('send-otp-phone-cooldown', phone),
    rateLimitKey('send-otp-phone-hourly', phone),
    rateLimitKey('send-otp-phone-ip', phone),
  ];
}

/** The counters that name a user id, forgotten with the account. */
export function userRateLimitKeys(userId: string): string[] {
  return [rateLimitKey('presign-user', userId)];
}

/**
 * Counts one hit (for `member` of `subject`, if given); throws 429 `rate_limited` with Retry-After
 * once the window is full.
 */
export async function enforceLimit(
  limiter: RateLimiter,
  policy: RateLimitPolicy,
  subject: string,
  rule: WindowLimit,
  member?: string,
): Promise<void> {
  const key = rateLimitKey(policy, subject);
  const decision =
    member === undefined
      ? await limiter.hit(key, rule.limit, rule.windowSeconds)
      : await limiter.hitMember(key, member, rule.limit, rule.windowSeconds);
  if (!decision.allowed) {
    throw new TooManyRequestsError('rate_limited', 'Too many requests. Try again later.', decision.retryAfterSeconds);
  }
}
