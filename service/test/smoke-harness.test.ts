import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../testing/harness.js';

describe('harness', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('logs in and reads the profile', async () => {
    const session = await service.login();
    expect(session.user.phone).toBe(session.phone);
    const me = await service.call('getMe', { token: session.token });
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(session.user.id);
  });
});
