import { randomUUID } from 'node:crypto';
import { avatarBucket, avatarContentTypes, type AvatarContentType } from '../manifest.js';
import type { ServiceSettings } from '../settings.js';
import { requireOpenUser, type Accounts } from './accounts.js';
import { BadRequestError, ConflictError, ForbiddenError, UnauthorizedError } from './errors.js';
import type {
  AvatarStore,
  AvatarUploadSigner,
  AvatarUrlSigner,
  Clock,
  Log,
  OtpChallengeStore,
  PresignedUpload,
  RateLimiter,
  User,
  UserStore,
} from './ports.js';
import { enforceLimit, phoneRateLimitKeys, userRateLimitKeys } from './rate-limits.js';
import type { Sessions } from './sessions.js';
import { maxWriteAttempts } from './users.js';

export interface UserView extends User {
  /** A short-lived presigned GET of the photo, or null. */
  readonly photoUrl: string | null;
}

export interface ProfileChanges {
  readonly name?: string;
  /** A key returned by presign; null removes the photo. */
  readonly photoKey?: string | null;
}

export interface AvatarUpload extends PresignedUpload {
  readonly key: string;
  readonly expiresIn: number;
  readonly maxBytes: number;
}

const nameMaxLength = 64;
// Control, separator-line, private-use and unassigned code points, and format characters other
// than the zero-width joiner that emoji sequences need (so no bidi overrides).
const unprintable = /[\p{Cc}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?!\u200D)\p{Cf}/u;
// What renders as something: not a space, a mark, a format character or a default-ignorable code
// point (Hangul fillers, variation selectors, tags, zero-width characters), nor the Braille blank.
const visible = /[^\p{White_Space}\p{M}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/u;
// Built on first use: building it costs 17-20 ms of module init, in every function that imports this
// file, and only a name change needs it.
let graphemes: Intl.Segmenter | undefined;

/**
 * Trims and checks a display name: 1-64 user-perceived characters (grapheme clusters, so a family
 * emoji or an accented letter counts once), printable, and at least one of them visible.
 */
export function normalizeName(value: string): string {
  const name = value.normalize('NFC').trim();
  let length = 0;
  for (const _ of (graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' })).segment(name)) if (++length > nameMaxLength) break;
  if (length < 1 || length > nameMaxLength || unprintable.test(name) || !visible.test(name)) {
    throw new BadRequestError(`name must be 1-${nameMaxLength} printable characters, at least one of them visible.`);
  }
  return name;
}

export function avatarPrefix(userId: string): string {
  return `${avatarBucket.keyPrefix}${userId}/`;
}

const avatarFileName = /^[A-Za-z0-9-]+\.(jpg|png|webp)$/;

/** True only for a key the presign route could have issued to this user. */
export function isOwnAvatarKey(userId: string, key: string): boolean {
  const prefix = avatarPrefix(userId);
  return key.startsWith(prefix) && avatarFileName.test(key.slice(prefix.length));
}

const extensionTypes: Record<string, AvatarContentType> = Object.fromEntries(
  Object.entries(avatarContentTypes).map(([type, extension]) => [extension, type as AvatarContentType]),
);

/** The signed-in user's own profile: read, update, avatar upload, and account deletion. */
export class Profiles {
  constructor(
    private readonly users: UserStore,
    private readonly avatars: AvatarStore,
    private readonly urls: AvatarUrlSigner,
    private readonly clock: Clock,
    private readonly settings: ServiceSettings,
    private readonly log: Log,
  ) {}

  /** `tokenEpoch`: the asking access token's revocation epoch, refused if the account revoked it. */
  async get(userId: string, tokenEpoch?: number): Promise<UserView> {
    return this.present(await this.existing(userId, tokenEpoch));
  }

  /**
   * Applies name and photo changes with optimistic concurrency, then deletes the replaced photo
   * object (only once the new key is stored, so a failed write never loses the photo in use).
   *
   * Every upload starts tagged `pending`, and the bucket expires pending objects. So a new photo is
   * tagged `attached` before the user item names it (if that fails, nothing is written), and a
   * replaced one goes back to `pending` before its delete, so a failed delete still expires.
   */
  async update(userId: string, changes: ProfileChanges, tokenEpoch?: number): Promise<UserView> {
    const name = changes.name === undefined ? undefined : normalizeName(changes.name);
    // An empty key is neither a key nor the `null` that removes the photo; taken as "no photo" it
    // would delete the one in use.
    if (changes.photoKey === '') {
      throw new BadRequestError('photoKey must be a key returned by the presign route, or null to remove the photo.');
    }
    if (changes.photoKey) {
      await this.checkUploadedPhoto(userId, changes.photoKey);
      await this.avatars.setState(changes.photoKey, 'attached');
    }

    for (let attempt = 0; attempt < maxWriteAttempts; attempt++) {
      const user = await this.existing(userId, tokenEpoch);
      const next: User = {
        ...user,
        ...(name === undefined ? {} : { name }),
        ...(changes.photoKey === undefined ? {} : { photoKey: changes.photoKey }),
        // Strictly increasing, so it can serve as the version in the conditional write.
        updatedAt: new Date(Math.max(this.clock.now(), Date.parse(user.updatedAt) + 1)).toISOString(),
      };
      if (!(await this.users.replaceUser(next, user.updatedAt))) {
        // Spread the retries of a burst apart, so they stop colliding on the same version.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * (attempt + 1)));
        continue;
      }
      if (user.photoKey && user.photoKey !== next.photoKey) await this.discardPhoto(user.photoKey);
      return this.present(next);
    }
    // Many concurrent updates of one profile: a client burst, not a fault of ours. Not a 5xx.
    // The new photo stays `attached`: a concurrent update may have stored the same key, and a
    // photo in use that went back to pending would expire (docs/api.md, avatar objects).
    throw new ConflictError('profile_conflict', 'The profile changed while this update was applied; send it again.');
  }

  private async checkUploadedPhoto(userId: string, key: string): Promise<void> {
    if (!isOwnAvatarKey(userId, key)) {
      throw new ForbiddenError('forbidden_photo_key', 'photoKey must be a key returned by the presign route.');
    }
    const object = await this.avatars.describe(key);
    if (!object) {
      throw new BadRequestError('No photo has been uploaded under photoKey.', 'photo_not_uploaded');
    }
    // The presigned policy bounds type and size in S3; checked again here so no other path can
    // attach an object that breaks them.
    const expectedType = extensionTypes[key.slice(key.lastIndexOf('.') + 1)];
    if (object.contentType !== expectedType || object.size < 1 || object.size > avatarBucket.maxBytes) {
      await this.discardPhoto(key);
      throw new BadRequestError('The uploaded photo is not an accepted image.', 'invalid_photo');
    }
  }

  /**
   * Removes a photo nothing refers to any more. The profile is already right, so neither step
   * fails the request: the object goes back to `pending` first, so that if the delete fails the
   * lifecycle rule still removes it; and if that fails too, account deletion still does.
   */
  private async discardPhoto(key: string): Promise<void> {
    try {
      await this.avatars.setState(key, 'pending');
    } catch (error) {
      this.log.warn('could not mark a replaced photo pending', { key, reason: (error as Error).message });
    }
    try {
      await this.avatars.delete(key);
    } catch (error) {
      this.log.warn('could not delete a replaced photo', { key, reason: (error as Error).message });
    }
  }

  private async existing(userId: string, tokenEpoch: number | undefined): Promise<User> {
    // A valid token for a deleted or blocked account, or one it revoked, is just an invalid token.
    return requireOpenUser(await this.users.get(userId), this.clock.now(), tokenEpoch);
  }

  /** The user as the API shows it, with a fresh download URL for the photo. */
  async present(user: User): Promise<UserView> {
    const photoUrl = user.photoKey
      ? await this.urls.downloadUrl(user.photoKey, this.settings.avatar.downloadExpiresSeconds)
      : null;
    return { ...user, photoUrl };
  }
}

/** Presigned avatar uploads under the user's own prefix, for open accounts, at a bounded rate. */
export class AvatarUploads {
  constructor(
    private readonly signer: AvatarUploadSigner,
    private readonly accounts: Accounts,
    private readonly limiter: RateLimiter,
    private readonly settings: ServiceSettings,
  ) {}

  async presign(userId: string, contentType: string, tokenEpoch: number): Promise<AvatarUpload> {
    if (!Object.hasOwn(avatarContentTypes, contentType)) {
      throw new BadRequestError(
        `contentType must be one of ${Object.keys(avatarContentTypes).join(', ')}.`,
        'unsupported_content_type',
      );
    }
    // Side by side: one round trip. A closed account's hit is counted too, which is harmless.
    await Promise.all([
      this.accounts.requireOpen(userId, tokenEpoch),
      enforceLimit(this.limiter, 'presign-user', userId, this.settings.limits.presignUser),
    ]);
    const extension = avatarContentTypes[contentType as AvatarContentType];
    const key = `${avatarPrefix(userId)}${randomUUID()}.${extension}`;
    const expiresIn = this.settings.avatar.uploadExpiresSeconds;
    const upload = await this.signer.presignUpload(key, contentType, avatarBucket.maxBytes, expiresIn);
    return { ...upload, key, expiresIn, maxBytes: avatarBucket.maxBytes };
  }
}

/**
 * Deletes an account and everything that names it. The first write marks the user item `deleted`:
 * from then on every route and refresh refuses the account, a login of its phone makes a new
 * account, and a session a racing login starts finds the mark and removes itself (Sessions.start).
 * Then the sweep, all at once: refresh tokens and families, avatar objects, counters, the phone
 * claim; and last the user item, so a deletion cut short can be asked for again with the same access token
 * (this route alone accepts an account marked deleted; a blocked one it refuses).
 */
export class AccountDeletion {
  constructor(
    private readonly users: UserStore,
    private readonly sessions: Sessions,
    private readonly avatars: AvatarStore,
    private readonly limiter: RateLimiter,
    private readonly challenges: OtpChallengeStore,
    private readonly clock: Clock,
    private readonly log: Log,
  ) {}

  /**
   * `tokenEpoch`: the asking access token's revocation epoch; an operator's deletion passes none.
   * `overBlock`: an operator's deletion of a blocked account (the user's own never is).
   */
  async delete(userId: string, options: { tokenEpoch?: number; overBlock?: boolean } = {}): Promise<void> {
    const now = this.clock.now();
    const user = await this.users.setStatus(userId, 'deleted', {
      now,
      overBlock: options.overBlock,
      ...(options.tokenEpoch !== undefined && { tokenEpoch: options.tokenEpoch }),
    });
    if (!user) {
      // A blocked account is refused here as on every other route: deleting itself would free its
      // phone for a fresh, unblocked account. So is a token the account revoked.
      const current = await this.users.get(userId);
      if (current !== undefined && current.status !== 'deleted') throw new UnauthorizedError();
      return;
    }
    // The sweep's parts name the account but not each other: together, one round trip deep (two
    // for a paged query or listing and its deletes). Should one fail, the request fails and can be
    // sent again: the user item, still marked, goes last.
    await Promise.all([
      this.sessions.endAll(userId),
      this.avatars.deleteAllUnder(avatarPrefix(userId)),
      this.limiter.forget([...phoneRateLimitKeys(user.phone), ...userRateLimitKeys(userId)]),
      this.challenges.forget(user.phone),
      this.users.releasePhone(user.phone, userId),
    ]);
    await this.users.deleteUser(userId);
    this.log.info('account deleted', { userId });
  }
}
