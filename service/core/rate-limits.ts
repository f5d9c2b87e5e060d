import { TooManyRequestsError } from './errors.js';
import type { CountedHit, HitAllRules, RateLimitDecision, RateLimiter } from './ports.js';
import type { WindowLimit } from '../settings.js';

export type RateLimitPolicy =
  | 'send-otp-ip'
  | 'send-otp-phone'
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
  return [rateLimitKey('send-otp-phone', phone)];
}

/** The counters that name a user id, forgotten with the account. */
export function userRateLimitKeys(userId: string): string[] {
  return [rateLimitKey('presign-user', userId)];
}

/** Counts one hit; throws 429 `rate_limited` with Retry-After once the window is full. */
export async function enforceLimit(limiter: RateLimiter, policy: RateLimitPolicy, subject: string, rule: WindowLimit): Promise<void> {
  refuseUnless(await limiter.hit(rateLimitKey(policy, subject), rule.limit, rule.windowSeconds));
}

/**
 * Counts one hit for `member` in each of `subject`'s windows and in the member's own share, all or
 * none; throws 429 `rate_limited` with the longest Retry-After among the limits that refuse it.
 * Returns the counted hit, which can be taken back.
 */
export async function enforceLimits(
  limiter: RateLimiter,
  policy: RateLimitPolicy,
  subject: string,
  member: string,
  rules: HitAllRules,
): Promise<CountedHit> {
  const hit = await limiter.hitAll(rateLimitKey(policy, subject), member, rules);
  refuseUnless(hit);
  return hit;
}

function refuseUnless(decision: RateLimitDecision): void {
  if (!decision.allowed) {
    throw new TooManyRequestsError('rate_limited', 'Too many requests. Try again later.', decision.retryAfterSeconds);
  }
}
