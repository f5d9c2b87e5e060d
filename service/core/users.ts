import { randomUUID } from 'node:crypto';
import { isBlocked, isOpen } from './accounts.js';
import type { Clock, User, UserStore } from './ports.js';
import type { PendingSession } from './sessions.js';

/** Bounded retries for writes that lost an optimistic-concurrency race. */
export const maxWriteAttempts = 5;

/**
 * Users keyed by id, with a phone claim that maps each phone to exactly one user.
 *
 * The claim is written first, with a condition that it does not exist: that single conditional write
 * decides which id owns a phone, so concurrent first logins converge on one user. The user item
 * follows; if that second write never happened (a crash between the two), the next login finds a
 * claim without a user and writes the user then. No cross-item transaction is needed.
 *
 * Deletion races: a claim whose user is marked `deleted` is released (the deletion would release it
 * anyway) and the phone claimed afresh, so a login during a deletion makes a new account. A user
 * item written for a claim this call did not make is checked against the claim afterwards, and
 * removed if the claim went meanwhile: a deletion that finished in between is never undone.
 */
export class Users {
  constructor(
    private readonly store: UserStore,
    private readonly clock: Clock,
  ) {}

  async findOrCreate(phone: string): Promise<{ user: User; created: boolean }> {
    for (let attempt = 0; attempt < maxWriteAttempts; attempt++) {
      const freshId = randomUUID();
      const ownerId = await this.store.claimPhone(phone, freshId);
      const existing = await this.store.get(ownerId);
      if (existing?.status === 'deleted') {
        await this.store.releasePhone(phone, ownerId);
        continue;
      }
      if (existing) return { user: existing, created: false };
      const now = new Date(this.clock.now()).toISOString();
      const user: User = { id: ownerId, phone, name: null, photoKey: null, createdAt: now, updatedAt: now };
      if (!(await this.store.createUser(user))) continue;
      if (ownerId !== freshId && (await this.store.phoneOwner(phone)) !== ownerId) {
        await this.store.deleteUser(ownerId);
        continue;
      }
      return { user, created: true };
    }
    throw new Error(`the user of a phone could neither be read nor created`);
  }

  /** Who owns `phone` now, if anyone (one read, which a login makes beside consuming its code). */
  ownerOf(phone: string): Promise<string | undefined> {
    return this.store.phoneOwner(phone);
  }

  /**
   * The account of `phone`, with a session `begin` wrote for it, or `blocked` (the session is then
   * abandoned). The same rules as `findOrCreate`, in fewer round trips, given the owner read
   * beforehand; `phoneBlocked` is read beside the step after the session's writes:
   * - a known owner: the session is written, then the user read. That read comes after the write,
   *   so a deletion (or block) that began before it is seen (a deleted account's session is
   *   abandoned, the claim released and the phone claimed afresh) and one that begins after it
   *   finds the session when it sweeps.
   * - no owner: the claim for a fresh id and that id's session are written together, then the user
   *   item. A deletion cannot find an account before its user item exists, so none can have begun
   *   that this login outlives. A lost claim (a concurrent first login) abandons the session and
   *   goes on with the winner's id.
   * - a claim without its user (a first login cut short between its writes): the user is written
   *   now, and kept only if the claim is still this id's afterwards.
   */
  async openSession(
    phone: string,
    knownOwner: string | undefined,
    begin: (userId: string) => Promise<PendingSession>,
    phoneBlocked: () => Promise<boolean>,
  ): Promise<{ state: 'open'; user: User; created: boolean; session: PendingSession } | { state: 'blocked' }> {
    let owner = knownOwner;
    for (let attempt = 0; attempt < maxWriteAttempts; attempt++) {
      if (owner === undefined) {
        const freshId = randomUUID();
        const [claim, started] = await Promise.allSettled([this.store.claimPhone(phone, freshId), begin(freshId)]);
        if (started.status === 'rejected') throw started.reason;
        const session = started.value;
        if (claim.status === 'rejected') {
          await session.abandon();
          throw claim.reason;
        }
        if (claim.value !== freshId) {
          await session.abandon();
          owner = claim.value;
          continue;
        }
        const user = this.newUser(freshId, phone);
        const [created, blocked] = await Promise.all([this.store.createUser(user), phoneBlocked()]);
        if (created && !blocked) return { state: 'open', user, created: true, session };
        await session.abandon();
        if (blocked) return { state: 'blocked' };
        continue;
      }

      const session = await begin(owner);
      const [existing, blocked]: [User | undefined, boolean] = await Promise.all([this.store.get(owner), phoneBlocked()]);
      const now = this.clock.now();
      const status = existing?.status;
      if (isOpen(existing, now)) {
        if (!blocked) return { state: 'open', user: existing, created: false, session };
        await session.abandon();
        return { state: 'blocked' };
      }
      if (status === 'deleted') {
        await Promise.all([session.abandon(), this.store.releasePhone(phone, owner)]);
        owner = undefined;
        continue;
      }
      if (isBlocked(existing, now)) {
        await session.abandon();
        return { state: 'blocked' };
      }
      const user = this.newUser(owner, phone);
      if (!(await this.store.createUser(user))) {
        // Written meanwhile by a concurrent login: read it again.
        await session.abandon();
        continue;
      }
      if (blocked) {
        await session.abandon();
        return { state: 'blocked' };
      }
      if ((await this.store.phoneOwner(phone)) === owner) return { state: 'open', user, created: true, session };
      // The claim went meanwhile (a deletion finished): never undo it.
      await Promise.all([session.abandon(), this.store.deleteUser(owner)]);
      owner = undefined;
    }
    throw new Error(`the user of a phone could neither be read nor created`);
  }

  private newUser(id: string, phone: string): User {
    const now = new Date(this.clock.now()).toISOString();
    return { id, phone, name: null, photoKey: null, createdAt: now, updatedAt: now };
  }
}
