import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../manifest.js';
import { startTestService, testPhone, type TestService } from '../testing/harness.js';

/** Values shaped like what clients send, plus the things that break naive parsers. */
const nasty = fc.oneof(
  fc.constantFrom('', ' ', '\u0000', '__proto__', 'constructor', '+14155550123', 'image/png', 'null', '💥', '..', '%00'),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, nasty, fc.array(tie('value'), { maxLength: 4 }), tie('object')),
  object: fc.dictionary(
    fc.oneof(fc.constantFrom('phone', 'code', 'refreshToken', 'name', 'photoKey', 'contentType', '__proto__'), fc.string()),
    tie('value'),
    { maxKeys: 5 },
  ),
})).value;

const body = fc.oneof(
  jsonValue.map((value) => JSON.stringify(value) ?? ''),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
);

const headers = fc.record(
  {
    'content-type': fc.oneof(
      fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'multipart/form-data', ''),
      fc.string({ maxLength: 30 }),
    ),
    authorization: fc.oneof(
      fc.constantFrom('Bearer ', 'Bearer a.b.c', 'bearer x', 'Basic Zm9v', 'Bearer eyJhbGciOiJub25lIn0.e30.'),
      fc.string({ maxLength: 60 }).map((value) => `Bearer ${value}`),
      fc.string({ maxLength: 60 }),
    ),
    'x-forwarded-for': fc.string({ maxLength: 20 }),
  },
  { requiredKeys: [] },
);

describe('fuzzing every route', () => {
  let service: TestService;
  let validToken: string;
  beforeAll(async () => {
    service = await startTestService({
      // Generous limits, so the run explores parsing and validation rather than 429s.
      settings: {
        limits: {
          sendOtpIp: { limit: 100_000, windowSeconds: 300 },
          verifyOtpIp: { limit: 100_000, windowSeconds: 300 },
          refreshIp: { limit: 100_000, windowSeconds: 300 },
        },
      },
    });
    validToken = (await service.login()).token;
  });
  afterAll(async () => {
    await service?.close();
  });

  for (const route of routes) {
    it(`${route.method} ${route.path}: random bodies and headers never yield a 5xx or a throw`, async () => {
      await fc.assert(
        fc.asyncProperty(body, headers, fc.boolean(), async (rawBody, randomHeaders, authenticated) => {
          const response = await service.call(route.id, {
            rawBody,
            headers: { ...randomHeaders },
            ...(authenticated && { token: validToken }),
          });
          expect(response.status).toBeLessThan(500);
          if (response.status >= 400) expect(response.body.error.code).toMatch(/^[a-z_]+$/);
        }),
        { numRuns: 150 },
      );
    });
  }

  it('valid-shaped bodies with random values never yield a 5xx either', async () => {
    const phone = fc.oneof(fc.constant(testPhone()), fc.string({ maxLength: 20 }));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes.filter((route) => route.body)),
        fc.record({ phone, code: fc.string({ maxLength: 12 }), refreshToken: fc.string({ maxLength: 80 }) }),
        fc.record({ name: fc.string({ maxLength: 80 }), photoKey: fc.oneof(fc.constant(null), fc.string()), contentType: fc.string() }),
        async (route, auth, profile) => {
          const fields = {
            sendOtp: { phone: auth.phone },
            verifyOtp: { phone: auth.phone, code: auth.code },
            refresh: { refreshToken: auth.refreshToken },
            logout: { refreshToken: auth.refreshToken },
            patchMe: { name: profile.name, photoKey: profile.photoKey },
            presignAvatar: { contentType: profile.contentType },
          }[route.id as string];
          const response = await service.call(route.id, { body: fields, token: validToken });
          expect(response.status).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
  });
});
