import { TooManyRequestsError } from './errors.js';
import type { Clock, CountedHit, HitAllRules, RateLimitDecision, RateLimiter } from './ports.js';
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

/**
 * Counts one hit; throws 429 `rate_limited` with Retry-After once the window is full. With
 * `refusals`, a refusal it remembers answers at once, and a new one is remembered.
 */
export async function enforceLimit(
  limiter: RateLimiter,
  policy: RateLimitPolicy,
  subject: string,
  rule: WindowLimit,
  refusals?: RecentRefusals,
): Promise<void> {
  const key = rateLimitKey(policy, subject);
  const decision = refusals?.refusal(key) ?? (await limiter.hit(key, rule.limit, rule.windowSeconds));
  refusals?.remember(key, decision);
  refuseUnless(decision);
}

/**
 * The refusals of a per-source limit one instance has given, each kept until its window ends: the
 * same source is refused again without a round trip, as the limiter would refuse it (a full fixed
 * window stays full until it ends). Only for limits nothing empties early, the per-IP ones. Holds at
 * most `capacity` keys, forgetting the oldest first.
 */
export class RecentRefusals {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly capacity = 10_000,
  ) {}

  /** The refusal still running for `key`, if this instance gave one. */
  refusal(key: string): RateLimitDecision | undefined {
    const until = this.until.get(key);
    if (until === undefined) return undefined;
    const left = until - this.clock.now();
    if (left > 0) return { allowed: false, retryAfterSeconds: left / 1000 };
    this.until.delete(key);
    return undefined;
  }

  remember(key: string, decision: RateLimitDecision): void {
    if (decision.allowed || this.until.has(key)) return;
    if (this.until.size >= this.capacity) this.until.delete(this.until.keys().next().value!);
    this.until.set(key, this.clock.now() + decision.retryAfterSeconds * 1000);
  }
}

/** The 429 a limit's refusal answers with. */
export function limitRefusal(decision: RateLimitDecision): TooManyRequestsError {
  return new TooManyRequestsError('rate_limited', 'Too many requests. Try again later.', decision.retryAfterSeconds);
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
  if (!decision.allowed) throw limitRefusal(decision);
}
