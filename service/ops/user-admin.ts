/**
 * On-call operations on one account, over the service's own stores: what `chatshyld users` and the
 * sandbox console call. Every change writes an audit record (who, what, target, when, why) that
 * holds neither a full phone number nor a token. The caller says who acts (`actor`).
 *
 * Target spelling: an account is named by its id (a UUID); a number in any spelling the service
 * takes (`+14155550123`, `+1 (415) 555-0123`, a trunk prefix after the country code), normalised
 * exactly as the service does.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { DynamoOperatorStore, type FamilyRecord, type StoredAuditRecord } from '../adapters/dynamodb/operator-store.js';
import { DynamoOtpChallengeStore, DynamoRateLimiter } from '../adapters/dynamodb/rate-limits.js';
import { DynamoRefreshTokenStore } from '../adapters/dynamodb/refresh-tokens.js';
import type { TableNames } from '../adapters/dynamodb/tables.js';
import { DynamoUserStore } from '../adapters/dynamodb/users.js';
import { S3AvatarStore } from '../adapters/s3/avatars.js';
import { buildAccountDeletion, Wiring } from '../composition.js';
import { blockHolds, isBlocked } from '../core/accounts.js';
import { UnauthorizedError } from '../core/errors.js';
import { canonicalPhone, maskPhone } from '../core/phone.js';
import { noMetrics, silentLog, systemClock, type Clock, type PhoneBlock, type User } from '../core/ports.js';
import { resolveSettings } from '../settings.js';

export type UserAdminErrorCode = 'invalid_target' | 'invalid_phone' | 'not_found' | 'blocked' | 'invalid_until' | 'already_blocked' | 'audit_failed' | 'incomplete';

/** An expected refusal, with a stable code the CLI maps to its exit code and the console to a message. */
export class UserAdminError extends Error {
  constructor(
    readonly code: UserAdminErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UserAdminError';
  }
}

export type AuditAction = 'revoke' | 'expire-access' | 'block' | 'unblock' | 'delete';

export interface AuditRecord extends StoredAuditRecord {
  readonly action: AuditAction;
}

export interface BlockView {
  /** Masked. */
  readonly phone: string;
  /** ISO 8601. */
  readonly blockedAt: string;
  readonly until: string | null;
  readonly reason: string | null;
  /** False once `until` has passed (the item lingers until TTL removes it). */
  readonly active: boolean;
}

export interface UserView {
  readonly id: string;
  readonly phone: string;
  readonly name: string | null;
  readonly photoKey: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** `blocked` only while the block holds; `deleted` while a deletion is under way. */
  readonly status: 'active' | 'blocked' | 'deleted';
  readonly blockedUntil: string | null;
  /** The revocation epoch: how many times its access tokens were revoked (0: never). */
  readonly accessEpoch: number;
}

export interface FoundPhone {
  /** The canonical number (what the operator typed, normalised). */
  readonly phone: string;
  readonly user: UserView | null;
  readonly block: BlockView | null;
}

export interface UserDetails {
  readonly user: UserView;
  readonly block: BlockView | null;
}

export interface SessionView {
  readonly familyId: string;
  /** `expired`: active, but past its end. */
  readonly status: 'active' | 'revoked' | 'expired';
  readonly createdAt: string;
  /** The last rotation (refresh) of the family, or null. */
  readonly lastRefreshAt: string | null;
  readonly expiresAt: string;
  readonly revokedReason: string | null;
}

export interface ChangeOptions {
  /** Why, in the operator's words; stored in the audit record. */
  readonly reason?: string;
}

export interface BlockOptions extends ChangeOptions {
  /** When the block ends by itself; absent: until unblocked. */
  readonly until?: Date;
  /** Replace a block that holds (otherwise refused with `already_blocked`). */
  readonly replace?: boolean;
}

export interface BlockResult {
  /** Masked. */
  readonly phone: string;
  readonly userId: string | null;
  readonly until: string | null;
  readonly revokedFamilies: number;
}

export interface UnblockResult {
  /** Masked. */
  readonly phone: string;
  readonly userId: string | null;
  /** False when there was no block to lift. */
  readonly wasBlocked: boolean;
}

export interface UserAdminOptions {
  readonly dynamo: DynamoDBClient;
  readonly s3: S3Client;
  readonly tableNames: TableNames;
  readonly bucketName: string;
  /** Who acts: the STS caller ARN on a deployed stage, `local:<os user>` in the sandbox. */
  readonly actor: string;
  readonly clock?: Clock;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Separators people type between digits; the service itself takes none of them. */
const separators = /[\s().-]/g;
const maxReasonLength = 500;
const maxAuditDays = 400;
const day = 24 * 60 * 60 * 1000;

const describeError = (error: unknown) =>
  error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);

/** The canonical number for what an operator typed, or undefined. */
export function normalizeOperatorPhone(value: string): string | undefined {
  return canonicalPhone(value.trim().replace(separators, ''));
}

export class UserAdmin {
  private readonly users: DynamoUserStore;
  private readonly refreshTokens: DynamoRefreshTokenStore;
  private readonly operator: DynamoOperatorStore;
  private readonly otpChallenges: DynamoOtpChallengeStore;
  private readonly clock: Clock;
  private readonly actor: string;
  private readonly wiring: Wiring;

  constructor(options: UserAdminOptions) {
    const { dynamo, tableNames } = options;
    this.clock = options.clock ?? systemClock;
    this.actor = options.actor;
    this.users = new DynamoUserStore(dynamo, tableNames.users);
    this.refreshTokens = new DynamoRefreshTokenStore(dynamo, tableNames.refreshTokens);
    this.operator = new DynamoOperatorStore(dynamo, tableNames);
    this.otpChallenges = new DynamoOtpChallengeStore(dynamo, tableNames.rateLimits);
    const unavailable = (what: string) => () => {
      throw new Error(`user operations do not use ${what}`);
    };
    // The service's own composition, so `delete` is exactly DELETE /profile/me's deletion.
    this.wiring = new Wiring({
      stage: 'operations',
      version: 'operations',
      settings: resolveSettings(),
      clock: this.clock,
      log: silentLog,
      metrics: noMetrics,
      secrets: unavailable('secrets'),
      userStore: () => this.users,
      refreshTokenStore: () => this.refreshTokens,
      rateLimiter: () => new DynamoRateLimiter(dynamo, tableNames.rateLimits, this.clock),
      otpChallenges: () => this.otpChallenges,
      otpSender: unavailable('the OTP provider'),
      avatarStore: () => new S3AvatarStore(options.s3, options.bucketName),
      avatarUrlSigner: unavailable('URL signing'),
      avatarUploadSigner: unavailable('upload signing'),
    });
  }

  /** The account (if any) and the block (if any) of a number, in any spelling. */
  async find(phone: string): Promise<FoundPhone> {
    const canonical = this.phone(phone);
    const [ownerId, block] = await Promise.all([this.users.phoneOwner(canonical), this.users.phoneBlock(canonical)]);
    const user = ownerId ? await this.users.get(ownerId) : undefined;
    return { phone: canonical, user: user ? this.userView(user) : null, block: block ? this.blockView(block) : null };
  }

  /** The profile, its status and the block of its number; undefined for no such account. */
  async show(userId: string): Promise<UserDetails | undefined> {
    const user = await this.users.get(this.id(userId));
    if (!user) return undefined;
    const block = await this.users.phoneBlock(user.phone);
    return { user: this.userView(user), block: block ? this.blockView(block) : null };
  }

  /** The account's refresh-token families, newest first. Never a token or its hash. */
  async sessions(userId: string): Promise<SessionView[]> {
    const now = this.clock.now();
    const families = await this.operator.familiesOf(this.id(userId));
    return families.map((family) => this.sessionView(family, now));
  }

  /**
   * Signs out one family, or every family of the account, and adds one to the revocation epoch so
   * their access tokens are refused on their next request too (the other devices just refresh). The
   * epoch is raised after the families are revoked: a refresh that moved a head before its family was
   * revoked read the epoch before it was raised, so its token is refused.
   */
  async revoke(userId: string, options: ChangeOptions & { familyId?: string } = {}): Promise<{ revoked: string[] }> {
    const id = this.id(userId);
    const user = await this.requireUser(id);
    const families = await this.operator.familiesOf(id);
    const targets = families.filter(
      (family) => (options.familyId === undefined || family.id === options.familyId) && family.status === 'active',
    );
    if (options.familyId !== undefined && !families.some((family) => family.id === options.familyId)) {
      throw new UserAdminError('not_found', `The account has no session family ${options.familyId}.`);
    }
    // The record first, as the intent: a change cut short is audited all the same.
    await this.record('revoke', { userId: id, phone: user.phone }, options.reason, {
      families: targets.length,
      ...(options.familyId && { familyId: options.familyId }),
    });
    await this.applying('revoke', async () => {
      await Promise.all(targets.map((family) => this.refreshTokens.revokeFamily(family.id, 'operator')));
      await this.operator.bumpAccessEpoch(id);
    });
    return { revoked: targets.map((family) => family.id) };
  }

  /**
   * Refuses the account's access tokens from now on, leaving its refresh tokens valid: each client
   * refreshes once (the console's "expire access tokens now").
   */
  async expireAccess(userId: string, options: ChangeOptions = {}): Promise<{ expired: true }> {
    const id = this.id(userId);
    const user = await this.requireUser(id);
    await this.record('expire-access', { userId: id, phone: user.phone }, options.reason);
    if (!(await this.applying('expire-access', () => this.operator.bumpAccessEpoch(id)))) throw this.noUser(id);
    return { expired: true };
  }

  /**
   * Blocks a number (with or without an account) or an account (and so its number): no code, no
   * sign-in, no refresh, and every session and access token revoked. In this order, so that a block
   * cut short at any step (Ctrl-C, a lost network, a throttle) is audited and leaves no family that
   * an unblock would give back:
   *  1. the audit record, as the intent;
   *  2. the number's block, before its claim is read: a login claiming it meanwhile finds the block
   *     when its session starts; then the number's pending code is forgotten, so a code sent before
   *     the block signs in neither after an unblock nor after the block ends;
   *  3. the account's families revoked, before the account is marked blocked;
   *  4. the account marked blocked, with the revocation marker.
   * A block that stopped after step 2 leaves the number blocked and the account's sessions working
   * (the command reports the failure; running it again completes it); an unblock then revokes every
   * family left active, so it never gives one back.
   */
  async block(target: string, options: BlockOptions = {}): Promise<BlockResult> {
    const now = this.clock.now();
    const until = options.until?.getTime();
    if (until !== undefined && (!Number.isFinite(until) || until <= now)) {
      throw new UserAdminError('invalid_until', 'The block must end in the future.');
    }
    const reason = this.reason(options.reason);
    const { phone, userId: named } = await this.resolve(target);
    const [owner, existing] = await Promise.all([named ?? this.users.phoneOwner(phone), this.users.phoneBlock(phone)]);
    if (options.replace !== true && blockHolds(existing, now)) throw this.alreadyBlocked(existing!);
    await this.record('block', { ...(owner && { userId: owner }), phone }, reason, {
      ...(until !== undefined && { until: new Date(until).toISOString() }),
    });
    return this.applying('block', async () => {
    const written = await this.operator.putPhoneBlock(
      { phone, blockedAt: now, ...(until !== undefined && { until }), ...(reason !== undefined && { reason }) },
      // Another operator's block written since the read is not replaced either.
      options.replace === true ? undefined : now,
    );
    if (!written) throw this.alreadyBlocked((await this.users.phoneBlock(phone)) ?? { phone, blockedAt: now });
    // Read again after the block is written: a login that claimed the number meanwhile is seen here.
    const [userId] = await Promise.all([named ?? this.users.phoneOwner(phone), this.otpChallenges.forget(phone)]);
    let revokedFamilies = 0;
    if (userId) {
      revokedFamilies = await this.revokeActiveFamilies(userId, 'blocked');
      await this.operator.blockUser(userId, until);
    }
    return {
      phone: maskPhone(phone),
      userId: userId ?? null,
      until: until === undefined ? null : new Date(until).toISOString(),
      revokedFamilies,
    };
    });
  }

  /**
   * Lifts the block of a number or account. Revoked sessions and tokens stay revoked, and so does
   * any family still active: no login succeeds while a block holds, so such a family predates the
   * block (one a block cut short did not reach) and is revoked before the block is lifted.
   */
  async unblock(target: string, options: ChangeOptions = {}): Promise<UnblockResult> {
    const { phone, userId: named } = await this.resolve(target);
    const userId = named ?? (await this.users.phoneOwner(phone));
    const [block, user] = await Promise.all([this.users.phoneBlock(phone), userId ? this.users.get(userId) : undefined]);
    if (!block && user?.status !== 'blocked') return { phone: maskPhone(phone), userId: userId ?? null, wasBlocked: false };
    await this.record('unblock', { ...(userId && { userId }), phone }, options.reason);
    return this.applying('unblock', async () => {
      // Revoked families' access tokens go too (the epoch raised after the families, as in `revoke`).
      if (userId && (await this.revokeActiveFamilies(userId, 'blocked')) > 0) {
        await this.operator.bumpAccessEpoch(userId);
      }
      const removed = await this.operator.deletePhoneBlock(phone);
      const userWasBlocked = userId ? await this.operator.unblockUser(userId) : false;
      return { phone: maskPhone(phone), userId: userId ?? null, wasBlocked: removed !== undefined || userWasBlocked };
    });
  }

  /** Revokes every active family of the account; how many. */
  private async revokeActiveFamilies(userId: string, reason: 'blocked'): Promise<number> {
    const active = (await this.operator.familiesOf(userId)).filter((family) => family.status === 'active');
    await Promise.all(active.map((family) => this.refreshTokens.revokeFamily(family.id, reason)));
    return active.length;
  }

  /**
   * The deletion of DELETE /profile/me. A blocked account is deleted only with `overBlock`; its
   * number's block stays either way (it is the number's, not the account's).
   */
  async delete(userId: string, options: ChangeOptions & { overBlock?: boolean } = {}): Promise<{ deleted: true }> {
    const id = this.id(userId);
    const user = await this.requireUser(id);
    const reason = this.reason(options.reason);
    const overBlock = isBlocked(user, this.clock.now());
    if (overBlock && options.overBlock !== true) throw this.blockedDelete();
    await this.record('delete', { userId: id, phone: user.phone }, reason, { ...(overBlock && { overBlock: 'yes' }) });
    await this.applying('delete', async () => {
      try {
        await buildAccountDeletion(this.wiring).delete(id, { overBlock: options.overBlock === true });
      } catch (error) {
        if (error instanceof UnauthorizedError) throw this.blockedDelete();
        throw error;
      }
    });
    return { deleted: true };
  }

  /** Audit records since `since` (default: 7 days ago), oldest first. */
  async audit(options: { since?: Date } = {}): Promise<AuditRecord[]> {
    const { since } = options;
    const now = this.clock.now();
    const from = since?.getTime() ?? now - 7 * day;
    if (!Number.isFinite(from)) throw new UserAdminError('invalid_until', 'since is not a time.');
    const first = Math.max(Date.parse(new Date(from).toISOString().slice(0, 10)), now - maxAuditDays * day);
    const days: string[] = [];
    for (let t = first; t <= now; t += day) days.push(new Date(t).toISOString().slice(0, 10));
    const records = (await Promise.all(days.map((d) => this.operator.auditDay(d)))).flat() as AuditRecord[];
    return records.filter((record) => Date.parse(record.at) >= from).sort((a, b) => a.at.localeCompare(b.at));
  }

  private async record(
    action: AuditAction,
    target: { userId?: string; phone?: string },
    reason: string | undefined,
    detail?: Record<string, string | number>,
  ): Promise<void> {
    const record: AuditRecord = {
      actor: this.actor,
      action,
      target: { ...(target.userId && { userId: target.userId }), ...(target.phone && { phone: maskPhone(target.phone) }) },
      at: new Date(this.clock.now()).toISOString(),
      ...(reason !== undefined && { reason: this.reason(reason) }),
      ...(detail && Object.keys(detail).length > 0 && { detail }),
    };
    try {
      await this.operator.appendAudit(record);
    } catch (error) {
      throw new UserAdminError(
        'audit_failed',
        `The audit record of this ${action} could not be written, so nothing was changed (${describeError(error)}).`,
        { cause: error },
      );
    }
  }

  /** A change's writes, after its audit record: a failure says the change may be partly applied. */
  private async applying<T>(action: AuditAction, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof UserAdminError) throw error;
      throw new UserAdminError(
        'incomplete',
        `The ${action} was audited, then stopped partway (${describeError(error)}): it may be partly applied.`,
        { cause: error },
      );
    }
  }

  private phone(value: string): string {
    const canonical = normalizeOperatorPhone(value);
    if (!canonical) {
      throw new UserAdminError(
        'invalid_phone',
        'Not a phone number the service accepts: write it with its country code, e.g. +14155550123.',
      );
    }
    return canonical;
  }

  private id(value: string): string {
    if (!uuid.test(value)) throw new UserAdminError('invalid_target', `${JSON.stringify(value)} is not a user id (a UUID).`);
    return value.toLowerCase();
  }

  /** A user id or a number; an account named by id must exist. */
  private async resolve(target: string): Promise<{ phone: string; userId?: string }> {
    if (uuid.test(target.trim())) {
      const user = await this.requireUser(target.trim().toLowerCase());
      return { phone: user.phone, userId: user.id };
    }
    if (!/\d/.test(target)) {
      throw new UserAdminError('invalid_target', 'Name a user id (a UUID) or a phone number with its country code.');
    }
    return { phone: this.phone(target) };
  }

  private async requireUser(id: string): Promise<User> {
    const user = await this.users.get(id);
    if (!user) throw this.noUser(id);
    return user;
  }

  private alreadyBlocked(block: PhoneBlock): UserAdminError {
    const span = block.until === undefined ? 'until unblocked' : `until ${new Date(block.until).toISOString()}`;
    return new UserAdminError(
      'already_blocked',
      `${maskPhone(block.phone)} is already blocked ${span}, since ${new Date(block.blockedAt).toISOString()}` +
        `${block.reason ? `: ${block.reason}` : ''}. Replacing that block needs replace (--replace).`,
    );
  }

  private blockedDelete(): UserAdminError {
    return new UserAdminError('blocked', 'The account is blocked; deleting it needs overBlock (--over-block).');
  }

  private noUser(id: string): UserAdminError {
    return new UserAdminError('not_found', `No account has the id ${id}.`);
  }

  private reason(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    // The reason is the operator's text: a number or token pasted into it is masked all the same.
    // NFKC first: fullwidth and other compatibility digits are digits; then any run of 7 or more
    // digits, whatever separates them (up to 3 non-letters between two digits), is a number.
    const text = value.normalize('NFKC').trim().slice(0, maxReasonLength).replace(/\+?\d(?:[^\p{L}\d•]{0,3}\d){6,}/gu, (match) => {
      const digits = match.replace(/\D/g, '');
      const canonical = normalizeOperatorPhone(match.startsWith('+') ? `+${digits}` : match);
      return canonical ? maskPhone(canonical) : '[redacted]';
    });
    return text.replace(/[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{43}|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted]') || undefined;
  }

  private userView(user: User): UserView {
    const now = this.clock.now();
    return {
      id: user.id,
      phone: user.phone,
      name: user.name,
      photoKey: user.photoKey,
      createdAt: user.createdAt,
      updatedAt: user.updatedAt,
      status: user.status === 'deleted' ? 'deleted' : isBlocked(user, now) ? 'blocked' : 'active',
      blockedUntil: user.blockedUntil === undefined ? null : new Date(user.blockedUntil).toISOString(),
      accessEpoch: user.accessEpoch ?? 0,
    };
  }

  private blockView(block: PhoneBlock): BlockView {
    return {
      phone: maskPhone(block.phone),
      blockedAt: new Date(block.blockedAt).toISOString(),
      until: block.until === undefined ? null : new Date(block.until).toISOString(),
      reason: block.reason ?? null,
      active: blockHolds(block, this.clock.now()),
    };
  }

  private sessionView(family: FamilyRecord, now: number): SessionView {
    return {
      familyId: family.id,
      status: family.status === 'revoked' ? 'revoked' : family.expiresAt <= now ? 'expired' : 'active',
      createdAt: new Date(family.createdAt).toISOString(),
      lastRefreshAt: family.previousRotatedAt === null ? null : new Date(family.previousRotatedAt).toISOString(),
      expiresAt: new Date(family.expiresAt).toISOString(),
      revokedReason: family.revokedReason ?? null,
    };
  }
}
