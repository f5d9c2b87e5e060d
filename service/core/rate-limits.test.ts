import { describe, expect, it } from 'vitest';
import { TestClock } from '../testing/harness.js';
import { enforceLimit, RecentRefusals } from './rate-limits.js';
import type { RateLimitDecision, RateLimiter } from './ports.js';

/** A limiter that answers from a script and counts the calls it gets. */
function scripted(...answers: RateLimitDecision[]): RateLimiter & { calls: number } {
  const limiter = {
    calls: 0,
    async hit() {
      limiter.calls++;
      return answers.shift() ?? { allowed: true, retryAfterSeconds: 0 };
    },
    async hitAll(): Promise<never> {
      throw new Error('not used');
    },
    async forget(): Promise<never> {
      throw new Error('not used');
    },
  };
  return limiter;
}

const rule = { limit: 30, windowSeconds: 300 };

describe('RecentRefusals', () => {
  it('refuses a refused source again without a round trip until the window ends, then asks again', async () => {
    const clock = new TestClock(1_000_000);
    const refusals = new RecentRefusals(clock);
    const limiter = scripted({ allowed: false, retryAfterSeconds: 12.5 });
    await expect(enforceLimit(limiter, 'send-otp-ip', '10.0.0.1', rule, refusals)).rejects.toMatchObject({ statusCode: 429 });
    clock.advance(12_000);
    const again = enforceLimit(limiter, 'send-otp-ip', '10.0.0.1', rule, refusals);
    await expect(again).rejects.toMatchObject({ statusCode: 429, retryAfterSeconds: 0.5 });
    expect(limiter.calls).toBe(1);
    // Another source is the limiter's to answer.
    await enforceLimit(limiter, 'send-otp-ip', '10.0.0.2', rule, refusals);
    expect(limiter.calls).toBe(2);
    clock.advance(500);
    await enforceLimit(limiter, 'send-otp-ip', '10.0.0.1', rule, refusals);
    expect(limiter.calls).toBe(3);
  });

  it('remembers nothing that was allowed, and keys each policy apart', async () => {
    const clock = new TestClock(0);
    const refusals = new RecentRefusals(clock);
    const limiter = scripted({ allowed: true, retryAfterSeconds: 0 }, { allowed: false, retryAfterSeconds: 60 });
    await enforceLimit(limiter, 'send-otp-ip', '10.0.0.1', rule, refusals);
    await expect(enforceLimit(limiter, 'refresh-ip', '10.0.0.1', rule, refusals)).rejects.toMatchObject({ statusCode: 429 });
    await enforceLimit(limiter, 'send-otp-ip', '10.0.0.1', rule, refusals);
    expect(limiter.calls).toBe(3);
    expect(refusals.refusal('refresh-ip#10.0.0.1')).toEqual({ allowed: false, retryAfterSeconds: 60 });
  });

  it('holds at most its capacity, forgetting the oldest first', () => {
    const clock = new TestClock(0);
    const refusals = new RecentRefusals(clock, 3);
    for (const source of ['a', 'b', 'c', 'd']) refusals.remember(source, { allowed: false, retryAfterSeconds: 60 });
    expect(['a', 'b', 'c', 'd'].map((source) => refusals.refusal(source) !== undefined)).toEqual([false, true, true, true]);
  });
});
