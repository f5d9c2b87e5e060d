import { describe, expect, it } from 'vitest';
import { UserAdminError, type UserAdminErrorCode } from '../service/ops/user-admin.js';
import { refusal } from './commands/users.js';

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
