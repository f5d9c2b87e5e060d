import { describe, expect, it } from 'vitest';
import { UserAdminError, type UserAdminErrorCode } from '../service/ops/user-admin.js';
import { describeUser, refusal } from './commands/users.js';

/** What `chatshyld users` says for each refusal of the operations module. */
describe('users refusals', () => {
  it('gives each refusal a hint about what it refuses', () => {
    const hint = (code: UserAdminErrorCode) => refusal(new UserAdminError(code, 'refused'), 'prod').hint ?? '';
    expect(hint('invalid_until')).toMatch(/2h.*ISO 8601/);
    expect(hint('invalid_until')).not.toMatch(/UUID|country code/);
    expect(hint('invalid_phone')).toMatch(/country code/);
    expect(hint('invalid_phone')).not.toMatch(/UUID/);
    expect(hint('invalid_target')).toMatch(/UUID.*country code/);
    expect(hint('not_found')).toMatch(/users find/);
    expect(hint('blocked')).toMatch(/--over-block/);
    for (const code of ['audit_failed', 'incomplete'] as const) {
      const error = refusal(new UserAdminError(code, 'refused'), 'prod');
      expect([error.exitCode, error.hint]).toEqual([1, expect.stringMatching(/users show/)]);
    }
  });
});

describe('users show', () => {
  const user = {
    id: '00000000-0000-4000-8000-000000000001',
    phone: '+14155550123',
    name: null,
    photoKey: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    accessEpoch: 1,
  };
  it('says a block has ended rather than that it ends in the past', () => {
    const ended = describeUser({ ...user, status: 'active', blockedUntil: '2026-01-02T00:00:00.000Z' }, null);
    expect(ended).not.toMatch(/block ends/);
    expect(ended).toMatch(/active \(block ended 2026-01-02T00:00:00.000Z\)/);
    const holding = describeUser({ ...user, status: 'blocked', blockedUntil: '2099-01-02T00:00:00.000Z' }, null);
    expect(holding).toMatch(/blocked \(block ends 2099-01-02T00:00:00.000Z\)/);
  });
});
