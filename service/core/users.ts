import { randomUUID } from 'node:crypto';
import type { Clock, User, UserStore } from './ports.js';

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
}
