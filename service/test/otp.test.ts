import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileSecretSource } from '../adapters/secrets/file.js';
import type { OtpCheckResult, OtpSender } from '../core/ports.js';
import { startTestService, testPhone, type TestService } from '../testing/harness.js';

describe('OTP login', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  const send = (phone: string, ip?: string) => service.call('sendOtp', { body: { phone }, ...(ip && { ip }) });
  const verify = (phone: string, code: string | undefined, ip?: string) =>
    service.call('verifyOtp', { body: { phone, code }, ...(ip && { ip }) });

  it('creates the user on first login and finds them on the next', async () => {
    const phone = testPhone();
    expect((await send(phone)).body).toEqual({ ok: true });
    const first = await verify(phone, service.outbox.latest(phone)?.code);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ expiresIn: 900, user: { phone, name: null, photoKey: null, photoUrl: null } });
    expect(Object.keys(first.body.user).sort()).toEqual(
      ['createdAt', 'id', 'name', 'phone', 'photoKey', 'photoUrl', 'updatedAt'].sort(),
    );
    // <pepper tag>.<32 random bytes>: the tag names the pepper that hashed it.
    expect(first.body.refreshToken).toMatch(/^[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{43}$/);

    service.clock.advance(31_000);
    await send(phone);
    const second = await verify(phone, service.outbox.latest(phone)?.code);
    expect(second.body.user.id).toBe(first.body.user.id);
  });

  it('accepts a code only once', async () => {
    const phone = testPhone();
    await send(phone);
    const code = service.outbox.latest(phone)!.code;
    expect((await verify(phone, code)).status).toBe(200);
    const again = await verify(phone, code);
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('invalid_code');
  });

  it('answers a wrong code and an unknown phone with the same 401 body', async () => {
    const known = testPhone();
    await send(known);
    const right = service.outbox.latest(known)!.code;
    const wrong = right === '000000' ? '111111' : '000000';
    const wrongCode = await verify(known, wrong);
    const unknownPhone = await verify(testPhone(), '123456');
    expect(wrongCode.status).toBe(401);
    expect(unknownPhone.status).toBe(401);
    expect(wrongCode.body).toEqual(unknownPhone.body);
    expect(wrongCode.headers).toEqual(unknownPhone.headers);
  });

  it('expires a code after its lifetime', async () => {
    const phone = testPhone();
    await send(phone);
    const code = service.outbox.latest(phone)!.code;
    service.clock.advance(10 * 60 * 1000 + 1);
    const late = await verify(phone, code);
    expect(late.status).toBe(401);
    expect(late.body.error.code).toBe('invalid_code');
  });

  it('after 5 wrong codes refuses even the right one with 429 until a new code is sent', async () => {
    const phone = testPhone();
    await send(phone);
    const right = service.outbox.latest(phone)!.code;
    const wrong = right === '999999' ? '888888' : '999999';
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect((await verify(phone, wrong)).status).toBe(401);
    }
    const blocked = await verify(phone, right);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('too_many_attempts');

    service.clock.advance(31_000);
    expect((await send(phone)).status).toBe(200);
    expect((await verify(phone, service.outbox.latest(phone)!.code)).status).toBe(200);
  });

  it('refuses a resend inside the cooldown with 429 and Retry-After', async () => {
    const phone = testPhone();
    expect((await send(phone)).status).toBe(200);
    service.clock.advance(10_000);
    const again = await send(phone);
    expect(again.status).toBe(429);
    expect(again.body.error.code).toBe('rate_limited');
    expect(Number(again.headers['retry-after'])).toBe(20);
    service.clock.advance(20_001);
    expect((await send(phone)).status).toBe(200);
  });

  it('allows 3 sends per phone per hour from one address, 10 from all together', async () => {
    const phone = testPhone();
    for (let i = 0; i < 3; i++) {
      expect((await send(phone, '10.97.0.1')).status).toBe(200);
      service.clock.advance(31_000);
    }
    const fourth = await send(phone, '10.97.0.1');
    expect(fourth.status).toBe(429);
    expect(Number(fourth.headers['retry-after'])).toBeGreaterThan(3000);
    for (let i = 3; i < 10; i++) {
      expect((await send(phone)).status).toBe(200);
      service.clock.advance(31_000);
    }
    const eleventh = await send(phone);
    expect(eleventh.status).toBe(429);
    expect(Number(eleventh.headers['retry-after'])).toBeGreaterThan(3000);
  });

  it('counts a send refused by the cooldown or the ceiling nowhere: not against its source, not against the phone', async () => {
    const phone = testPhone();
    const source = '10.96.0.1';
    expect((await send(phone, source)).status).toBe(200);
    // Resends inside the cooldown: refused, and so spending none of this source's 3 an hour.
    for (let i = 0; i < 5; i++) expect((await send(phone, source)).status).toBe(429);
    for (let i = 0; i < 2; i++) {
      service.clock.advance(31_000);
      expect((await send(phone, source)).status).toBe(200);
    }
    service.clock.advance(31_000);
    expect((await send(phone, source)).status).toBe(429);
    // 3 sends counted on the phone, whatever was refused: 7 more from elsewhere reach the ceiling.
    for (let i = 0; i < 7; i++) {
      service.clock.advance(31_000);
      expect((await send(phone, `10.96.1.${i}`)).status).toBe(200);
    }
    service.clock.advance(31_000);
    expect((await send(phone, '10.96.2.1')).status).toBe(429);
  });

  it('counts a send refused by the per-IP limit nowhere on the phone: the owner sends at once, and the ceiling is untouched', async () => {
    const busy = '10.92.0.1';
    for (let i = 0; i < 30; i++) expect((await send(testPhone(), busy)).status).toBe(200);
    const phone = testPhone();
    // The address is over its 30 per 5 minutes: refused, and neither the cooldown nor the ceiling moved.
    for (let i = 0; i < 12; i++) expect((await send(phone, busy)).status).toBe(429);
    expect((await send(phone, '10.92.0.2')).status).toBe(200);
    for (let i = 0; i < 9; i++) {
      service.clock.advance(31_000);
      expect((await send(phone, `10.92.1.${i}`)).status).toBe(200);
    }
    // Its refusals are remembered no longer than its window: 5 minutes after its first send it sends again.
    service.clock.advance(300_000 - 9 * 31_000);
    expect((await send(testPhone(), busy)).status).toBe(200);
  });

  it('answers a refusal with the longest wait among the limits that refuse it', async () => {
    const phone = testPhone();
    const source = '10.95.0.1';
    for (let i = 0; i < 3; i++) {
      expect((await send(phone, source)).status).toBe(200);
      service.clock.advance(i < 2 ? 31_000 : 5_000);
    }
    // 5 s after the third send: the cooldown (25 s) and this source's share (about an hour) both refuse.
    const refused = await send(phone, source);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3000);
    // From elsewhere, only the cooldown refuses.
    const elsewhere = await send(phone, '10.95.0.2');
    expect(elsewhere.status).toBe(429);
    expect(Number(elsewhere.headers['retry-after'])).toBe(25);
  });

  it('limits sends per source IP to 30 per 5 minutes', async () => {
    const ip = '10.99.0.1';
    for (let i = 0; i < 30; i++) expect((await send(testPhone(), ip)).status).toBe(200);
    const over = await send(testPhone(), ip);
    expect(over.status).toBe(429);
    expect(over.headers['retry-after']).toBeDefined();
    expect((await send(testPhone(), '10.99.0.2')).status).toBe(200);
  });

  it('refuses numbers that are not E.164', async () => {
    for (const phone of ['4155550123', '+1 415 555 0123', '+1415555', '+999123456789', '', '+14155550123x']) {
      const response = await send(phone);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('invalid_phone');
    }
  });

  it('refuses codes that are not 4-10 digits', async () => {
    for (const code of ['123', '12345678901', '12a456', ' 123456', '１２３４５６']) {
      const response = await verify(testPhone(), code);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
    }
  });

  it('never sends the plaintext code anywhere but the outbox', async () => {
    const phone = testPhone();
    await send(phone);
    const code = service.outbox.latest(phone)!.code;
    const logged = JSON.stringify(service.log.lines);
    expect(logged).not.toContain(code);
    expect(logged).not.toContain(phone);
  });

  it('logs no full number, code or token anywhere in a whole sign-in flow', async () => {
    const phone = testPhone();
    const linesBefore = service.log.lines.length;
    await send(phone, '10.96.0.1');
    await send(phone, '10.96.0.1'); // refused by the cooldown
    const code = service.outbox.latest(phone)!.code;
    await verify(phone, code === '000000' ? '111111' : '000000', '10.96.0.1');
    const login = await verify(phone, code, '10.96.0.1');
    expect(login.status).toBe(200);
    const refreshed = await service.call('refresh', { body: { refreshToken: login.body.refreshToken } });
    expect(refreshed.status).toBe(200);
    await service.call('getMe', { token: refreshed.body.token });
    await service.call('logout', { body: { refreshToken: refreshed.body.refreshToken } });
    const logged = JSON.stringify(service.log.lines.slice(linesBefore));
    expect(logged).toContain(`${phone.slice(0, 5)}•••${phone.slice(-4)}`);
    const secrets = [phone, phone.slice(1), phone.slice(2), code, login.body.token, login.body.refreshToken];
    for (const secret of [...secrets, refreshed.body.token, refreshed.body.refreshToken]) {
      expect(logged).not.toContain(secret);
    }
  });
});

class CountingSender implements OtpSender {
  sends = 0;
  checks = 0;
  async send(): Promise<void> {
    this.sends += 1;
  }
  async check(): Promise<OtpCheckResult> {
    this.checks += 1;
    return 'rejected';
  }
}

describe('test numbers', () => {
  const phone = testPhone();
  const expired = testPhone();
  const sender = new CountingSender();
  let service: TestService;
  let closed: TestService;

  beforeAll(async () => {
    const list = [
      { phone, code: '424242', expiresAt: '2099-01-01T00:00:00Z' },
      { phone: expired, code: '111111', expiresAt: '2020-01-01T00:00:00Z' },
    ];
    service = await startTestService({
      otpSender: sender,
      settings: { allowTestNumbers: true },
      secrets: (generated) => ({ ...generated, 'test-numbers': list }),
    });
    closed = await startTestService({
      otpSender: sender,
      settings: { allowTestNumbers: false },
      secrets: (generated) => ({ ...generated, 'test-numbers': list }),
    });
  });
  afterAll(async () => {
    await service?.close();
    await closed?.close();
  });

  it('never reach the provider, skip per-phone limits, and are single use', async () => {
    const before = sender.sends;
    for (let i = 0; i < 8; i++) {
      expect((await service.call('sendOtp', { body: { phone } })).status).toBe(200);
      const login = await service.call('verifyOtp', { body: { phone, code: '424242' } });
      expect(login.status).toBe(200);
      const replay = await service.call('verifyOtp', { body: { phone, code: '424242' } });
      expect(replay.status).toBe(401);
    }
    expect(sender.sends).toBe(before);
    expect(sender.checks).toBe(0);
  });

  it('still count against the per-IP limit', async () => {
    const ip = '10.98.0.1';
    for (let i = 0; i < 30; i++) await service.call('sendOtp', { body: { phone }, ip });
    expect((await service.call('sendOtp', { body: { phone }, ip })).status).toBe(429);
  });

  it('are ignored once expired, and on a stage that does not allow them', async () => {
    const before = sender.sends;
    await service.call('sendOtp', { body: { phone: expired } });
    expect((await service.call('verifyOtp', { body: { phone: expired, code: '111111' } })).status).toBe(401);
    await closed.call('sendOtp', { body: { phone } });
    expect((await closed.call('verifyOtp', { body: { phone, code: '424242' } })).status).toBe(401);
    expect(sender.sends).toBe(before + 2);
  });

  it('are never read on a stage that does not allow them: its functions are not granted the secret', async () => {
    const reads = vi.spyOn(FileSecretSource.prototype, 'get');
    try {
      await closed.call('sendOtp', { body: { phone } });
      await closed.call('verifyOtp', { body: { phone, code: '424242' } });
      await closed.call('sendOtp', { body: { phone: testPhone() } });
      const names = reads.mock.calls.map(([name]) => name);
      expect(names).not.toContain('test-numbers');
      // The spy sees the reads it should: a stage that allows them reads the list.
      await service.call('sendOtp', { body: { phone: testPhone() } });
      expect(reads.mock.calls.map(([name]) => name)).toContain('test-numbers');
    } finally {
      reads.mockRestore();
    }
  });
});
