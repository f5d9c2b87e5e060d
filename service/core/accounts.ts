import { UnauthorizedError } from './errors.js';
import type { User, UserStore } from './ports.js';

/** True for an account that may be used: it exists and is neither being deleted nor blocked. */
export function isOpen(user: User | undefined): user is User {
  return user !== undefined && user.status === undefined;
}

/**
 * The one question every authenticated route and every refresh asks: is this account still open?
 * One consistent read of the user item, so a deletion (or a block) takes effect at once, for access
 * tokens issued before it too.
 */
export class Accounts {
  constructor(private readonly users: UserStore) {}

  async isOpen(userId: string): Promise<boolean> {
    return isOpen(await this.users.get(userId));
  }

  /** The user, or 401 `unauthorized`: a valid token for a closed account is just an invalid token. */
  async requireOpen(userId: string): Promise<User> {
    const user = await this.users.get(userId);
    if (!isOpen(user)) throw new UnauthorizedError();
    return user;
  }
}
