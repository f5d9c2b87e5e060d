import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Redactor } from './redact.js';

describe('Redactor, by shape as well as by value', () => {
  it('redacts a token it was never told about, by its field and by its shape', () => {
    const refreshToken = randomBytes(32).toString('base64url');
    const opaque = randomBytes(24).toString('hex');
    const redactor = new Redactor();
    const report = redactor.value({
      body: { session: { refreshToken, token: 'short-but-named' }, note: `trace ${opaque} end`, code: '482913', error: { code: 'forbidden_photo_key' } },
    });
    const text = JSON.stringify(report);
    expect(text).not.toContain(refreshToken);
    expect(text).not.toContain('short-but-named');
    expect(text).not.toContain(opaque);
    expect(text).not.toContain('482913');
    // Ids and error codes stay readable.
    expect(text).toContain('forbidden_photo_key');
  });

  it('keeps UUIDs and ordinary words', () => {
    const id = randomUUID();
    const redactor = new Redactor();
    expect(redactor.text(`user ${id} has no avatar_upload_permission_for_this_key_at_all`)).toBe(`user ${id} has no avatar_upload_permission_for_this_key_at_all`);
  });

  it('redacts a quoted bearer value or signature without breaking the copy', () => {
    const redactor = new Redactor();
    const report = redactor.value({
      authorization: 'Bearer abc"def',
      name: 'Bearer "Bob"',
      url: 'https://bucket.example/k?X-Amz-Signature=ab\\"cd&x=1',
      nested: [{ otp: 123456, code: 'forbidden' }],
    });
    expect(report).toEqual({
      authorization: 'Bearer [redacted]"def',
      name: 'Bearer "Bob"',
      url: 'https://bucket.example/k?X-Amz-Signature=[redacted]"cd&x=1',
      nested: [{ otp: '[redacted]', code: 'forbidden' }],
    });
  });
});
