import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { ServiceSettings } from '../settings.js';
import type { Accounts } from './accounts.js';
import { accountBlocked, BadRequestError, invalidCode, TooManyRequestsError } from './errors.js';
import { maskPhone } from './phone.js';
import type { Clock, CountedHit, Log, Metrics, OtpChallengeStore, OtpSender, RateLimiter, User } from './ports.js';
import { enforceLimit, enforceLimits, limitRefusal, rateLimitKey, RecentRefusals } from './rate-limits.js';
import type { SessionTokens, Sessions } from './sessions.js';
import type { TestNumberDirectory } from './test-numbers.js';
import type { Users } from './users.js';

export interface LoginResult extends SessionTokens {
  readonly user: User;
  readonly created: boolean;
}

/**
 * Sending a one-time code, two round trips deep:
 * 1. together: the phone's block read; the per-IP limit; unless it is a test number, the phone's own
 *    limits, one conditional write: its cooldown, its hourly ceiling and this source's share of it,
 *    counted in all or in none, so a refused send (a resend inside the cooldown, a source over its
 *    share) spends nothing the owner needs (docs/api.md, "Who can keep you from signing in"). A send
 *    refused by the per-IP limit or a block, counted and read beside them, is taken back from the
 *    phone's limits (one more write, on that path only). An address the instance has seen over its
 *    per-IP limit is refused again without touching them, until its window ends: between the count and
 *    the take-back, its send holds the phone's cooldown, which a flood would otherwise keep held;
 * 2. the provider (a send it refuses outright sent nothing, and is taken back but for the
 *    cooldown), then a challenge: the single-use record that a code is pending for this phone, which
 *    also counts verify attempts. A new code starts that count afresh, except for test numbers, whose
 *    count holds for the whole attempt window (their code never changes).
 */
export class SendOtp {
  private readonly refusals: RecentRefusals;

  constructor(
    private readonly sender: OtpSender,
    private readonly testNumbers: TestNumberDirectory,
    private readonly challenges: OtpChallengeStore,
    private readonly limiter: RateLimiter,
    private readonly clock: Clock,
    private readonly settings: ServiceSettings,
    private readonly metrics: Metrics,
    private readonly log: Log,
    private readonly accounts: Accounts,
  ) {
    this.refusals = new RecentRefusals(clock);
  }

  async send(phone: string, sourceIp: string): Promise<void> {
    const { limits } = this.settings;
    // Usually a cache hit; knowing it first lets the two source limits below go together.
    const testNumber = await this.testNumbers.find(phone);
    const overIpLimit = this.refusals.refusal(rateLimitKey('send-otp-ip', sourceIp));
    const [block, perIp, phoneLimits] = await Promise.allSettled([
      // A blocked number gets no code (403 `account_blocked`); read beside the counters.
      this.accounts.refuseBlockedPhone(phone),
      overIpLimit
        ? Promise.reject(limitRefusal(overIpLimit))
        : enforceLimit(this.limiter, 'send-otp-ip', sourceIp, limits.sendOtpIp, this.refusals),
      testNumber || overIpLimit
        ? undefined
        : enforceLimits(this.limiter, 'send-otp-phone', phone, sourceIp, {
            windows: [limits.sendOtpPhoneCooldown, limits.sendOtpPhoneHourly],
            perMember: limits.sendOtpPhoneIp,
          }),
    ]);
    const counted = phoneLimits.status === 'fulfilled' ? phoneLimits.value : undefined;
    const refusal = [block, perIp, phoneLimits].find((outcome) => outcome.status === 'rejected');
    if (refusal) {
      // Refused by the block or the per-IP limit, read and counted beside the phone's limits: the send
      // is taken back from those, so no code that was never sent holds the cooldown or fills the
      // ceiling (an owner behind a busy address, or once unblocked, sends at once). A blocked number
      // hears it is blocked, whatever else refused it.
      await this.takeBack(counted, phone);
      throw block.status === 'rejected' ? block.reason : refusal.reason;
    }
    const challenge = {
      phone,
      id: randomUUID(),
      via: testNumber ? ('test-number' as const) : ('provider' as const),
      expiresAt: this.clock.now() + this.settings.otpTtlSeconds * 1000,
    };
    if (!testNumber) {
      try {
        await this.sender.send(phone);
      } catch (error) {
        // The provider refused it outright (its own cap of sends per verification, a number it will
        // not text): nothing was sent, so it spends neither the ceiling nor the source's share. It
        // keeps the cooldown, so the provider is asked about the number at most once per cooldown
        // (and refuses the owner too until its verification ends). A failure may have sent a code,
        // and stays counted.
        if (error instanceof TooManyRequestsError || error instanceof BadRequestError) {
          await this.takeBack(counted, phone, { keepFirstWindow: true });
        }
        throw error;
      }
    }
    // A new send keeps each source's share of the window's attempts, for every number: a send must not
    // hand one source more than its share (a resend after the cooldown gave one address 6 checks of
    // one Twilio verification, leaving the owner none). Test numbers keep the total too (issue 9, 3).
    const now = this.clock.now();
    await this.challenges.openKeepingAttempts(challenge, now + limits.verifyOtpFailures.windowSeconds * 1000, now, {
      resetTotal: !testNumber,
    });
    this.metrics.count('OtpSent');
    this.log.info('otp sent', { phone: maskPhone(phone), testNumber: Boolean(testNumber) });
  }

  /** Takes a refused send back from the phone's limits (if they counted it), saying so when it stays. */
  private async takeBack(hit: CountedHit | undefined, phone: string, options?: { keepFirstWindow?: boolean }): Promise<void> {
    if (!hit) return;
    try {
      if (await hit.undo?.(options)) return;
      this.log.warn('a refused send stays counted on the phone', { phone: maskPhone(phone) });
    } catch (error) {
      this.log.warn('taking back a refused send failed', { phone: maskPhone(phone), error: String(error) });
    }
  }
}

/** The values of settled outcomes; or, if any was refused, the refusal that comes first in the list. */
function firstRefusalInOrder<T extends readonly unknown[]>(outcomes: { [K in keyof T]: PromiseSettledResult<T[K]> }): T {
  const refusal = outcomes.find((outcome) => outcome.status === 'rejected');
  if (refusal) throw refusal.reason;
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** How many of a challenge's attempts one source may make: all but two, and at least one. */
export function attemptsPerSource(total: number): number {
  return Math.max(1, total - 2);
}

/**
 * Signing in with a code:
 * 1. the per-IP limit and, beside it, one attempt counted on the challenge in a single conditional
 *    write, before any code is
 *    checked, so whatever the concurrency at most `verifyOtpFailures.limit` codes are ever checked
 *    against one challenge (and reach the provider), and one source may make only
 *    `attemptsPerSource` of them, leaving the owner tries a stranger cannot take;
 * 2. the check; the right code consumes the challenge (once, even under concurrency) while the
 *    phone's owner is read, then starts a session, creating the user on first login
 *    (`Users.openSession`: four round trips deep in all).
 * A blocked number is refused with 403 `account_blocked`: read beside step 1, and again once the
 * session is written (a block placed while the login ran).
 * Wrong, expired and unknown all answer with one 401 body; a used-up challenge answers 429.
 */
export class VerifyOtp {
  constructor(
    private readonly sender: OtpSender,
    private readonly testNumbers: TestNumberDirectory,
    private readonly challenges: OtpChallengeStore,
    private readonly limiter: RateLimiter,
    private readonly users: Users,
    private readonly sessions: Sessions,
    private readonly clock: Clock,
    private readonly settings: ServiceSettings,
    private readonly metrics: Metrics,
    private readonly log: Log,
    private readonly accounts: Accounts,
  ) {}

  async verify(phone: string, code: string, sourceIp: string): Promise<LoginResult> {
    const { limits } = this.settings;
    const total = limits.verifyOtpFailures.limit;
    // Together: an attempt refused by the per-IP limit is still counted on the challenge, within
    // the source's share, which is all a source could use anyway. A blocked number signs in to
    // nothing, nor makes a new account.
    // A blocked number hears it is blocked, whichever answer comes first.
    const [, , attempt] = firstRefusalInOrder(
      await Promise.allSettled([
        this.accounts.refuseBlockedPhone(phone),
        enforceLimit(this.limiter, 'verify-otp-ip', sourceIp, limits.verifyOtpIp),
        this.challenges.attempt(phone, sourceIp, { total, perSource: attemptsPerSource(total) }, this.clock.now()),
      ]),
    );
    if (attempt.outcome === 'none') throw invalidCode();
    if (attempt.outcome === 'exhausted') {
      throw new TooManyRequestsError('too_many_attempts', 'Too many wrong codes. Request a new code.');
    }
    const { challenge } = attempt;

    const approved =
      challenge.via === 'test-number'
        ? await this.matchesTestNumber(phone, code)
        : (await this.sender.check(phone, code)) === 'approved';
    if (!approved) {
      this.log.info('otp rejected', { phone: maskPhone(phone), attempts: challenge.attempts });
      throw invalidCode();
    }
    // Two requests with the right code may both get here; only one consumes the challenge. Who
    // owns the phone is read at the same time.
    const [consumed, owner] = await Promise.all([this.challenges.consume(phone, challenge.id), this.users.ownerOf(phone)]);
    if (!consumed) throw invalidCode();

    const opened = await this.users.openSession(
      phone,
      owner,
      (userId) => this.sessions.begin(userId),
      // The phone's block is read again once the session is written: a block placed meanwhile is met.
      () => this.accounts.phoneBlocked(phone),
    );
    if (opened.state === 'blocked') throw accountBlocked();
    const { user, created, session } = opened;
    const tokens = await session.tokens(user.accessEpoch);
    this.metrics.count('OtpVerified');
    this.log.info('otp verified', { userId: user.id, created });
    return { ...tokens, user, created };
  }

  private async matchesTestNumber(phone: string, code: string): Promise<boolean> {
    const entry = await this.testNumbers.find(phone);
    if (!entry || entry.code.length !== code.length) return false;
    return timingSafeEqual(Buffer.from(entry.code), Buffer.from(code));
  }
}
