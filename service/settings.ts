/**
 * Per-stage service settings: limits, lifetimes, cache ages. The CLI derives them from
 * `chatshyld.config.json`; a Lambda receives them as JSON in `CHATSHYLD_SETTINGS`; anything left out
 * takes the default below.
 */

export interface WindowLimit {
  /** How many hits a window allows. */
  readonly limit: number;
  readonly windowSeconds: number;
}

export interface ServiceSettings {
  readonly accessTokenTtlSeconds: number;
  readonly refreshTokenTtlDays: number;
  readonly refreshFamilyTtlDays: number;
  /** How long after a rotation the immediate parent may be replayed as a client retry. */
  readonly refreshGraceSeconds: number;
  readonly otpTtlSeconds: number;
  readonly allowTestNumbers: boolean;
  /** Max age of a cached secret value before it is read again. */
  readonly secretsCacheSeconds: number;
  /** Least time between two forced re-reads caused by an unknown `kid`. */
  readonly unknownKidCooldownSeconds: number;
  readonly limits: {
    /** Sends per phone, from anywhere: a window no send can extend, so at most this long a wait. */
    readonly sendOtpPhoneCooldown: WindowLimit;
    /** Sends per phone from all sources together: the ceiling that bounds SMS cost per number. */
    readonly sendOtpPhoneHourly: WindowLimit;
    /** Sends per phone from one source: one source alone cannot reach the per-phone ceiling. */
    readonly sendOtpPhoneIp: WindowLimit;
    readonly sendOtpIp: WindowLimit;
    /**
     * Verify attempts per challenge, counted before the code is checked; past it, 429 until a new
     * code is sent. One source may make all but two of them. For test numbers the count outlives a
     * send: it holds per number for the window.
     */
    readonly verifyOtpFailures: WindowLimit;
    readonly verifyOtpIp: WindowLimit;
    readonly refreshIp: WindowLimit;
    /** Logout takes no credential but a refresh token and reads up to 3 items: bounded per source. */
    readonly logoutIp: WindowLimit;
    /** Presigned avatar uploads per user. */
    readonly presignUser: WindowLimit;
  };
  readonly avatar: {
    readonly uploadExpiresSeconds: number;
    readonly downloadExpiresSeconds: number;
  };
}

/**
 * Bounds of the avatar URLs' lifetimes, in seconds. An upload form is used at once (DESIGN §2:
 * 60-600). A photo URL is signed with the function's session credentials, and S3 refuses it once
 * those expire, whatever its `X-Amz-Expires` says (and refuses any SigV4 URL over 604800 s). Lambda
 * does not publish how long the credentials it gives a function have left, only that a role session
 * lasts 12 hours at most, so a photo URL is kept well inside that: an hour at most. Clients get a new
 * one with every `GET /profile/me`.
 */
export const avatarUrlBounds = {
  uploadExpiresSeconds: { min: 60, max: 600 },
  downloadExpiresSeconds: { min: 1, max: 3600 },
} as const;

export const defaultSettings: ServiceSettings = {
  accessTokenTtlSeconds: 15 * 60,
  refreshTokenTtlDays: 30,
  refreshFamilyTtlDays: 180,
  refreshGraceSeconds: 10,
  otpTtlSeconds: 10 * 60,
  allowTestNumbers: false,
  secretsCacheSeconds: 60,
  unknownKidCooldownSeconds: 10,
  limits: {
    sendOtpPhoneCooldown: { limit: 1, windowSeconds: 30 },
    // DESIGN §2 had 5 per phone per hour; 3 per source under a ceiling of 10 keeps one source from
    // locking the owner out (docs/api.md, "Who can keep you from signing in").
    sendOtpPhoneHourly: { limit: 10, windowSeconds: 3600 },
    sendOtpPhoneIp: { limit: 3, windowSeconds: 3600 },
    sendOtpIp: { limit: 30, windowSeconds: 300 },
    verifyOtpFailures: { limit: 5, windowSeconds: 600 },
    // Not in the design's table: a careful auth service also bounds code guessing per source.
    verifyOtpIp: { limit: 60, windowSeconds: 300 },
    refreshIp: { limit: 150, windowSeconds: 300 },
    logoutIp: { limit: 60, windowSeconds: 300 },
    presignUser: { limit: 20, windowSeconds: 3600 },
  },
  avatar: { uploadExpiresSeconds: 300, downloadExpiresSeconds: 300 },
};

export type SettingsOverrides = {
  [K in keyof ServiceSettings]?: ServiceSettings[K] extends object
    ? { [L in keyof ServiceSettings[K]]?: ServiceSettings[K][L] }
    : ServiceSettings[K];
};

/** Merges overrides onto the defaults and checks every bound; throws with the offending field. */
export function resolveSettings(overrides: SettingsOverrides = {}): ServiceSettings {
  const merged: ServiceSettings = {
    ...defaultSettings,
    ...overrides,
    limits: { ...defaultSettings.limits, ...overrides.limits },
    avatar: { ...defaultSettings.avatar, ...overrides.avatar },
  } as ServiceSettings;
  const positive = (field: string, value: unknown) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new Error(`setting ${field} must be a positive number, got ${JSON.stringify(value)}`);
    }
  };
  positive('accessTokenTtlSeconds', merged.accessTokenTtlSeconds);
  positive('refreshTokenTtlDays', merged.refreshTokenTtlDays);
  positive('refreshFamilyTtlDays', merged.refreshFamilyTtlDays);
  positive('otpTtlSeconds', merged.otpTtlSeconds);
  positive('secretsCacheSeconds', merged.secretsCacheSeconds);
  if (typeof merged.refreshGraceSeconds !== 'number' || merged.refreshGraceSeconds < 0) {
    throw new Error('setting refreshGraceSeconds must be 0 or more');
  }
  if (typeof merged.allowTestNumbers !== 'boolean') {
    throw new Error('setting allowTestNumbers must be true or false');
  }
  for (const [name, limit] of Object.entries(merged.limits)) {
    positive(`limits.${name}.limit`, limit?.limit);
    positive(`limits.${name}.windowSeconds`, limit?.windowSeconds);
  }
  for (const [field, { min, max }] of Object.entries(avatarUrlBounds)) {
    const value = merged.avatar[field as keyof typeof avatarUrlBounds];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(
        `setting avatar.${field} must be a whole number of seconds from ${min} to ${max}, got ${JSON.stringify(value)}` +
          (field === 'downloadExpiresSeconds' ? ': a photo URL dies with the credentials of the function that signed it' : ''),
      );
    }
  }
  return merged;
}
