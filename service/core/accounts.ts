import { accountBlocked, UnauthorizedError } from './errors.js';
import type { Clock, User, UserStore } from './ports.js';

/** True while a block holds at `now`: set, and its end (if any) still ahead. */
export function blockHolds(block: { readonly until?: number } | undefined, now: number): boolean {
  return block !== undefined && (block.until === undefined || block.until > now);
}

/** True for a user item whose `blocked` status still holds at `now`. */
export function isBlocked(user: User | undefined, now: number): boolean {
  return user?.status === 'blocked' && blockHolds({ until: user.blockedUntil }, now);
}

/**
 * True for an account that may be used at `now`: it exists, is not being deleted, and any block on
 * it has ended.
 */
export function isOpen(user: User | undefined, now: number): user is User {
  return user !== undefined && user.status !== 'deleted' && !isBlocked(user, now);
}

/**
 * Whether an access token that carries revocation epoch `tokenEpoch` (0 without the claim) is still
 * good for this user: not below the account's epoch. Every revoke, expire-access and block adds one to
 * the account's epoch, and a token carries the epoch read when it was issued, so a token from before
 * a revoke never passes, whatever the clocks of the operator and the service say.
 */
export function acceptsToken(user: User, tokenEpoch: number): boolean {
  return tokenEpoch >= (user.accessEpoch ?? 0);
}

/** Where an account stands: usable, gone (deleted or deleting), or blocked. */
export type Standing =
  | { readonly state: 'open'; readonly user: User }
  | { readonly state: 'closed' }
  | { readonly state: 'blocked' };

/**
 * The one question every authenticated route and every refresh asks: is this account still open?
 * One consistent read of the user item, so a deletion, a block or a revocation takes effect at once,
 * for access tokens issued before it too.
 */
export class Accounts {
  constructor(
    private readonly users: UserStore,
    private readonly clock: Clock,
  ) {}

  async isOpen(userId: string): Promise<boolean> {
    return isOpen(await this.users.get(userId), this.clock.now());
  }

  async standing(userId: string): Promise<Standing> {
    const user = await this.users.get(userId);
    const now = this.clock.now();
    if (isOpen(user, now)) return { state: 'open', user };
    return isBlocked(user, now) ? { state: 'blocked' } : { state: 'closed' };
  }

  /**
   * The standing of the account, and also of its phone when one is given (read side by side): a
   * block on the number counts as a block on the account, so a login racing the block of a number
   * it is just claiming meets it.
   */
  async standingWithPhone(userId: string, phone: string | undefined): Promise<Standing> {
    const [standing, block] = await Promise.all([
      this.standing(userId),
      phone === undefined ? undefined : this.users.phoneBlock(phone),
    ]);
    if (standing.state === 'open' && blockHolds(block, this.clock.now())) return { state: 'blocked' };
    return standing;
  }

  /** Whether a block on this number holds now. */
  async phoneBlocked(phone: string): Promise<boolean> {
    return blockHolds(await this.users.phoneBlock(phone), this.clock.now());
  }

  /** Throws 403 `account_blocked` while a block on this number holds. */
  async refuseBlockedPhone(phone: string): Promise<void> {
    if (await this.phoneBlocked(phone)) throw accountBlocked();
  }

  /**
   * The user, or 401 `unauthorized`: a valid token for a closed account, or one issued before the
   * account's revocation marker, is just an invalid token.
   */
  async requireOpen(userId: string, tokenEpoch: number): Promise<User> {
    return requireOpenUser(await this.users.get(userId), this.clock.now(), tokenEpoch);
  }
}

/** `user` if it is open at `now` and takes a token of revocation epoch `tokenEpoch`; else 401. */
export function requireOpenUser(user: User | undefined, now: number, tokenEpoch: number | undefined): User {
  if (!isOpen(user, now)) throw new UnauthorizedError();
  if (tokenEpoch !== undefined && !acceptsToken(user, tokenEpoch)) throw new UnauthorizedError();
  return user;
}
