import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { ServiceSettings } from '../settings.js';
import { invalidCode, TooManyRequestsError } from './errors.js';
import { maskPhone } from './phone.js';
import type { Clock, Log, Metrics, OtpChallengeStore, OtpSender, RateLimiter, User } from './ports.js';
import { enforceLimit } from './rate-limits.js';
import type { SessionTokens, Sessions } from './sessions.js';
import type { TestNumberDirectory } from './test-numbers.js';
import type { Users } from './users.js';

export interface LoginResult extends SessionTokens {
  readonly user: User;
  readonly created: boolean;
}

/**
 * Sending a one-time code: the per-IP limit, then (unless it is a test number) the per-phone
 * cooldown and hourly limit, then the provider, then a challenge: the single-use record that a code
 * is pending for this phone, which also counts wrong codes. A new code resets that count.
 */
export class SendOtp {
  constructor(
    private readonly sender: OtpSender,
    private readonly testNumbers: TestNumberDirectory,
    private readonly challenges: OtpChallengeStore,
    private readonly limiter: RateLimiter,
    private readonly clock: Clock,
    private readonly settings: ServiceSettings,
    private readonly metrics: Metrics,
    private readonly log: Log,
  ) {}

  async send(phone: string, sourceIp: string): Promise<void> {
    const { limits } = this.settings;
    await enforceLimit(this.limiter, 'send-otp-ip', sourceIp, limits.sendOtpIp);
    const testNumber = await this.testNumbers.find(phone);
    if (!testNumber) {
      await enforceLimit(this.limiter, 'send-otp-phone-cooldown', phone, limits.sendOtpPhoneCooldown);
      await enforceLimit(this.limiter, 'send-otp-phone-hourly', phone, limits.sendOtpPhoneHourly);
      await this.sender.send(phone);
    }
    await this.challenges.open({
      phone,
      id: randomUUID(),
      via: testNumber ? 'test-number' : 'provider',
      failures: 0,
      expiresAt: this.clock.now() + this.settings.otpTtlSeconds * 1000,
    });
    this.metrics.count('OtpSent');
    this.log.info('otp sent', { phone: maskPhone(phone), testNumber: Boolean(testNumber) });
  }
}

/**
 * Signing in with a code. Needs an open challenge with fewer than the allowed wrong codes; the right
 * code consumes it (once, even under concurrency) and starts a session, creating the user on first
 * login. Wrong, expired and unknown all answer with one 401 body.
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
  ) {}

  async verify(phone: string, code: string, sourceIp: string): Promise<LoginResult> {
    await enforceLimit(this.limiter, 'verify-otp-ip', sourceIp, this.settings.limits.verifyOtpIp);
    const challenge = await this.challenges.get(phone);
    if (!challenge || challenge.expiresAt <= this.clock.now()) throw invalidCode();
    const allowedFailures = this.settings.limits.verifyOtpFailures.limit;
    if (challenge.failures >= allowedFailures) {
      throw new TooManyRequestsError('too_many_attempts', 'Too many wrong codes. Request a new code.');
    }

    const approved =
      challenge.via === 'test-number'
        ? await this.matchesTestNumber(phone, code)
        : (await this.sender.check(phone, code)) === 'approved';
    if (!approved) {
      const failures = await this.challenges.recordFailure(phone, challenge.id);
      this.log.info('otp rejected', { phone: maskPhone(phone), failures });
      throw invalidCode();
    }
    // Two requests with the right code may both get here; only one consumes the challenge.
    if (!(await this.challenges.consume(phone, challenge.id))) throw invalidCode();

    const { user, created } = await this.users.findOrCreate(phone);
    const tokens = await this.sessions.start(user.id);
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
