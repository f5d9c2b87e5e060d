/** The OTP use cases' builders, apart from the rest: they bring libphonenumber with them. */
import type { Builder } from './composition.js';
import { SendOtp, VerifyOtp } from './core/otp-login.js';
import { TestNumberDirectory } from './core/test-numbers.js';
import { Users } from './core/users.js';

const testNumbers = (w: Parameters<Builder<'sendCode'>>[0]) =>
  new TestNumberDirectory(w.secrets, w.clock, w.settings.allowTestNumbers, w.log);

export const buildSendCode: Builder<'sendCode'> = (w) =>
  new SendOtp(w.otpSender, testNumbers(w), w.otpChallenges, w.rateLimiter, w.clock, w.settings, w.metrics, w.log, w.accounts());

export const buildVerifyCode: Builder<'verifyCode'> = (w) =>
  new VerifyOtp(
    w.otpSender,
    testNumbers(w),
    w.otpChallenges,
    w.rateLimiter,
    new Users(w.userStore, w.clock),
    w.sessions(),
    w.clock,
    w.settings,
    w.metrics,
    w.log,
    w.accounts(),
  );
