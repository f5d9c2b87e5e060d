/**
 * Builds the use cases from adapters, lazily: a service is made the first time a route asks for it,
 * and only the adapters it needs are made with it. So a Lambda whose route reads no table never
 * looks for a table name, and the sandbox and tests compose the very same graph from local adapters.
 */
import { AccessTokens } from './core/access-tokens.js';
import { KeyRingReader } from './core/key-ring.js';
import { SendOtp, VerifyOtp } from './core/otp-login.js';
import type {
  AvatarStore,
  AvatarUploadSigner,
  Clock,
  Log,
  Metrics,
  OtpChallengeStore,
  OtpSender,
  RateLimiter,
  RefreshTokenStore,
  SecretSource,
  UserStore,
} from './core/ports.js';
import { AccountDeletion, AvatarUploads, Profiles } from './core/profiles.js';
import { Sessions } from './core/sessions.js';
import { TestNumberDirectory } from './core/test-numbers.js';
import { Users } from './core/users.js';
import type { Services } from './http/routes.js';
import type { ServiceSettings } from './settings.js';

/**
 * Each function is called at most once, and only when a service needs what it makes. A Lambda entry
 * supplies only the factories its route uses, so its bundle holds no other SDK client.
 */
export interface Adapters {
  readonly stage: string;
  readonly version: string;
  readonly settings: ServiceSettings;
  readonly clock: Clock;
  readonly log: Log;
  readonly metrics: Metrics;
  secrets(): SecretSource;
  userStore(): UserStore;
  refreshTokenStore(): RefreshTokenStore;
  rateLimiter(): RateLimiter;
  otpChallenges(): OtpChallengeStore;
  otpSender(): OtpSender;
  avatarStore(): AvatarStore;
  avatarUploadSigner(): AvatarUploadSigner;
}

export function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

export function composeServices(adapters: Adapters): Services {
  const { stage, version, settings, clock, log, metrics } = adapters;
  const secrets = once(adapters.secrets);
  const userStore = once(adapters.userStore);
  const refreshTokenStore = once(adapters.refreshTokenStore);
  const rateLimiter = once(adapters.rateLimiter);
  const otpChallenges = once(adapters.otpChallenges);
  const otpSender = once(adapters.otpSender);
  const avatarStore = once(adapters.avatarStore);
  const avatarUploadSigner = once(adapters.avatarUploadSigner);

  const cooldownMs = settings.unknownKidCooldownSeconds * 1000;
  const jwtKeys = once(() => new KeyRingReader(secrets(), 'jwt-secret', clock, cooldownMs));
  const peppers = once(() => new KeyRingReader(secrets(), 'refresh-pepper', clock, cooldownMs));
  const testNumbers = once(() => new TestNumberDirectory(secrets(), clock, settings.allowTestNumbers, log));
  const accessTokens = once(() => new AccessTokens(jwtKeys(), clock, stage, settings.accessTokenTtlSeconds));
  // Logout needs sessions but no rate limiter (and is granted no RateLimits table): resolve it on use.
  const lazyLimiter: RateLimiter = {
    hit: (key, limit, windowSeconds) => rateLimiter().hit(key, limit, windowSeconds),
    forget: (keys) => rateLimiter().forget(keys),
  };
  const sessions = once(
    () => new Sessions(refreshTokenStore(), lazyLimiter, peppers(), accessTokens(), clock, settings, metrics, log),
  );
  const profiles = once(() => new Profiles(userStore(), avatarStore(), clock, settings, log));
  const sendCode = once(
    () => new SendOtp(otpSender(), testNumbers(), otpChallenges(), rateLimiter(), clock, settings, metrics, log),
  );
  const verifyCode = once(
    () =>
      new VerifyOtp(
        otpSender(),
        testNumbers(),
        otpChallenges(),
        rateLimiter(),
        new Users(userStore(), clock),
        sessions(),
        clock,
        settings,
        metrics,
        log,
      ),
  );
  const avatarUploads = once(() => new AvatarUploads(avatarUploadSigner(), settings));
  const accountDeletion = once(
    () => new AccountDeletion(userStore(), sessions(), avatarStore(), rateLimiter(), otpChallenges(), log),
  );

  return {
    stage,
    version,
    log,
    metrics,
    get accessTokens() {
      return accessTokens();
    },
    get sendCode() {
      return sendCode();
    },
    get verifyCode() {
      return verifyCode();
    },
    get sessions() {
      return sessions();
    },
    get profiles() {
      return profiles();
    },
    get avatarUploads() {
      return avatarUploads();
    },
    get accountDeletion() {
      return accountDeletion();
    },
  };
}
