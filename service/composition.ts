/**
 * Builds the use cases from adapters. Two rules keep a Lambda's bundle to what its route uses:
 *  - adapters are lazy: a use case may hold one it never calls, and no factory runs until a method
 *    is called, so a function is never asked for a table or bucket its manifest does not grant;
 *  - use cases come from named builders. A Lambda entry names the ones its route needs; the OTP
 *    builders live in `composition-otp.ts`, so libphonenumber stays out of routes without a phone.
 * The sandbox and the tests use `composeServices`, which takes every builder.
 */
import { AccessTokens } from './core/access-tokens.js';
import { Accounts } from './core/accounts.js';
import { MisconfigurationError } from './core/errors.js';
import { KeyRingReader } from './core/key-ring.js';
import type {
  AvatarStore,
  AvatarUploadSigner,
  AvatarUrlSigner,
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
import type { Services } from './http/routes.js';
import type { ServiceSettings } from './settings.js';

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
  avatarUrlSigner(): AvatarUrlSigner;
  avatarUploadSigner(): AvatarUploadSigner;
}

export function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

/** An object that makes the real one on first use of any of its members. */
export function lazy<T extends object>(make: () => T): T {
  const target = once(make);
  return new Proxy({} as T, {
    get(_, property) {
      const value = Reflect.get(target(), property);
      return typeof value === 'function' ? value.bind(target()) : value;
    },
  });
}

/** The adapters (each made on first use) and the pieces every use case shares. */
export class Wiring {
  readonly stage: string;
  readonly settings: ServiceSettings;
  readonly clock: Clock;
  readonly log: Log;
  readonly metrics: Metrics;
  readonly secrets: SecretSource;
  readonly userStore: UserStore;
  readonly refreshTokenStore: RefreshTokenStore;
  readonly rateLimiter: RateLimiter;
  readonly otpChallenges: OtpChallengeStore;
  readonly otpSender: OtpSender;
  readonly avatarStore: AvatarStore;
  readonly avatarUrlSigner: AvatarUrlSigner;
  readonly avatarUploadSigner: AvatarUploadSigner;
  readonly jwtKeys: () => KeyRingReader;
  readonly peppers: () => KeyRingReader;
  readonly accessTokens: () => AccessTokens;
  readonly accounts: () => Accounts;
  readonly sessions: () => Sessions;

  constructor(readonly adapters: Adapters) {
    ({ stage: this.stage, settings: this.settings, clock: this.clock, log: this.log, metrics: this.metrics } = adapters);
    this.secrets = lazy(() => adapters.secrets());
    this.userStore = lazy(() => adapters.userStore());
    this.refreshTokenStore = lazy(() => adapters.refreshTokenStore());
    this.rateLimiter = lazy(() => adapters.rateLimiter());
    this.otpChallenges = lazy(() => adapters.otpChallenges());
    this.otpSender = lazy(() => adapters.otpSender());
    this.avatarStore = lazy(() => adapters.avatarStore());
    this.avatarUrlSigner = lazy(() => adapters.avatarUrlSigner());
    this.avatarUploadSigner = lazy(() => adapters.avatarUploadSigner());
    const cooldownMs = this.settings.unknownKidCooldownSeconds * 1000;
    this.jwtKeys = once(() => new KeyRingReader(this.secrets, 'jwt-secret', this.clock, cooldownMs));
    this.peppers = once(() => new KeyRingReader(this.secrets, 'refresh-pepper', this.clock, cooldownMs));
    this.accessTokens = once(() => new AccessTokens(this.jwtKeys(), this.clock, this.stage, this.settings.accessTokenTtlSeconds));
    this.accounts = once(() => new Accounts(this.userStore, this.clock));
    this.sessions = once(
      () =>
        new Sessions(
          this.refreshTokenStore,
          this.rateLimiter,
          this.peppers(),
          this.accessTokens(),
          this.clock,
          this.settings,
          this.metrics,
          this.log,
          this.accounts(),
        ),
    );
  }
}

export type Builder<K extends keyof Services> = (wiring: Wiring) => Services[K];
export type Builders = { readonly [K in 'sendCode' | 'verifyCode' | 'profiles' | 'avatarUploads' | 'accountDeletion']?: Builder<K> };

export const buildProfiles: Builder<'profiles'> = (w) =>
  new Profiles(w.userStore, w.avatarStore, w.avatarUrlSigner, w.clock, w.settings, w.log);
export const buildAvatarUploads: Builder<'avatarUploads'> = (w) =>
  new AvatarUploads(w.avatarUploadSigner, w.accounts(), w.rateLimiter, w.settings);
export const buildAccountDeletion: Builder<'accountDeletion'> = (w) =>
  new AccountDeletion(w.userStore, w.sessions(), w.avatarStore, w.rateLimiter, w.otpChallenges, w.clock, w.log);

/** The services a route handler sees; a use case whose builder was not given fails when asked for. */
export function servicesOf(adapters: Adapters, builders: Builders): Services {
  const wiring = new Wiring(adapters);
  const use = <K extends keyof Builders>(name: K) =>
    once(() => {
      const build = builders[name] as Builder<K> | undefined;
      if (!build) throw new MisconfigurationError(`this function was built without the ${name} use case`);
      return build(wiring);
    });
  const sendCode = use('sendCode');
  const verifyCode = use('verifyCode');
  const profiles = use('profiles');
  const avatarUploads = use('avatarUploads');
  const accountDeletion = use('accountDeletion');
  return {
    stage: adapters.stage,
    version: adapters.version,
    log: adapters.log,
    metrics: adapters.metrics,
    get accessTokens() {
      return wiring.accessTokens();
    },
    get sessions() {
      return wiring.sessions();
    },
    get sendCode() {
      return sendCode();
    },
    get verifyCode() {
      return verifyCode();
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
