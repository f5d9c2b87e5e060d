import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../manifest.js';
import { startTestService, testPhone, type TestService } from '../testing/harness.js';

describe('the HTTP edge', () => {
  let service: TestService;
  let token: string;
  beforeAll(async () => {
    service = await startTestService();
    token = (await service.login()).token;
  });
  afterAll(async () => {
    await service?.close();
  });

  const bodyRoutes = routes.filter((route) => route.body);

  it('answers health with stage and version', async () => {
    const response = await service.call('health');
    expect(response).toMatchObject({ status: 200, body: { ok: true, stage: 'test', version: 'test' } });
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('refuses bodies over 16 KiB with 413 on every route', async () => {
    const big = JSON.stringify({ phone: 'x'.repeat(16 * 1024) });
    for (const route of routes) {
      const response = await service.call(route.id, {
        rawBody: big,
        token,
        headers: { 'content-type': 'application/json' },
      });
      expect(response.status, route.id).toBe(413);
      expect(response.body.error.code).toBe('payload_too_large');
    }
  });

  it('counts the decoded size of base64 bodies', async () => {
    const response = await service.call('sendOtp', {
      rawBody: randomBytes(17 * 1024),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(response.status).toBe(413);
  });

  it('accepts exactly 16 KiB', async () => {
    const body = JSON.stringify({ phone: testPhone() });
    const padded = body.padEnd(16 * 1024, ' ');
    const response = await service.call('sendOtp', { rawBody: padded, headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(200);
  });

  it('refuses malformed JSON with 400', async () => {
    for (const route of bodyRoutes) {
      for (const raw of ['{', '{"phone":', 'null x', '\u0000', '{"a":1}}']) {
        const response = await service.call(route.id, {
          rawBody: raw,
          token,
          headers: { 'content-type': 'application/json' },
        });
        expect(response.status, `${route.id} ${raw}`).toBe(400);
        expect(response.body.error.code).toBe('invalid_request');
      }
    }
  });

  it('refuses bodies that are not objects, wrong types and unknown fields with 400', async () => {
    const cases: [string, unknown][] = [
      ['sendOtp', []],
      ['sendOtp', 'string'],
      ['sendOtp', null],
      ['sendOtp', { phone: 14155550123 }],
      ['sendOtp', { phone: testPhone(), extra: true }],
      ['sendOtp', { phone: testPhone(), __proto__: { admin: true } }],
      ['verifyOtp', { phone: testPhone(), code: 123456 }],
      ['verifyOtp', { phone: testPhone() }],
      ['refresh', { refreshToken: ['a'] }],
      ['refresh', { refreshToken: 'a'.repeat(43), userId: 'me' }],
      ['logout', {}],
      ['patchMe', { name: 'ok', isAdmin: true }],
      ['patchMe', { photoKey: 5 }],
      ['presignAvatar', { contentType: 'image/png', key: 'avatar/me/x.png' }],
      ['presignAvatar', { contentType: ['image/png'] }],
    ];
    for (const [route, body] of cases) {
      const rawBody = route === 'sendOtp' && body && typeof body === 'object' && '__proto__' in (body as object)
        ? `{"phone":"${testPhone()}","__proto__":{"admin":true}}`
        : JSON.stringify(body);
      const response = await service.call(route as never, {
        rawBody,
        token,
        headers: { 'content-type': 'application/json' },
      });
      expect(response.status, `${route} ${rawBody}`).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
      expect(response.body.error.message).toEqual(expect.any(String));
    }
  });

  it('wants application/json, with or without a charset', async () => {
    const body = JSON.stringify({ phone: testPhone() });
    const plain = await service.call('sendOtp', { rawBody: body, headers: { 'content-type': 'text/plain' } });
    expect(plain.status).toBe(415);
    expect(plain.body.error.code).toBe('unsupported_media_type');
    const missing = await service.call('sendOtp', { rawBody: body });
    expect(missing.status).toBe(415);
    const charset = await service.call('sendOtp', {
      rawBody: body,
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(charset.status).toBe(200);
    const empty = await service.call('sendOtp', { headers: { 'content-type': 'application/json' } });
    expect(empty.status).toBe(400);
  });

  it('gives every error the same envelope', async () => {
    const responses = [
      await service.call('getMe'),
      await service.call('sendOtp', { body: { phone: 'nope' } }),
      await service.call('refresh', { body: { refreshToken: 'A'.repeat(43) } }),
    ];
    for (const response of responses) {
      expect(Object.keys(response.body)).toEqual(['error']);
      expect(Object.keys(response.body.error).sort()).toEqual(['code', 'message']);
      expect(response.body.error.code).toMatch(/^[a-z]+(_[a-z]+)*$/);
    }
  });
});

describe('a stage whose JWT key is too short', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({
      secrets: (generated) => ({
        ...generated,
        'jwt-secret': {
          current: { kid: 'short', secret: randomBytes(16).toString('base64url'), createdAt: new Date().toISOString() },
        },
      }),
    });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('refuses to use it: logins fail with a bare 500 and the reason goes to the log only', async () => {
    const phone = testPhone();
    await service.call('sendOtp', { body: { phone } });
    const response = await service.call('verifyOtp', { body: { phone, code: service.outbox.latest(phone)!.code } });
    expect(response.status).toBe(500);
    expect(response.body).toEqual({
      error: { code: 'internal_error', message: 'Something went wrong on our side. Try again later.' },
    });
    const logged = service.log.lines.find((line) => line.level === 'error');
    expect(JSON.stringify(logged)).toContain('16 bytes; keys must be at least 32 bytes');
    expect(service.metrics.counts.get('Errors')).toBe(1);
  });
});

describe('bearer tokens', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('accept the scheme in any case, as RFC 7235 has it', async () => {
    const { token } = await service.login();
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const response = await service.call('getMe', { headers: { authorization: `${scheme} ${token}` } });
      expect(response.status, scheme).toBe(200);
    }
    expect((await service.call('getMe', { headers: { authorization: `Basic ${token}` } })).status).toBe(401);
  });
});
