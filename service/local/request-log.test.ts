import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RequestScopedLog, type SandboxLogEntry } from './request-log.js';
import { startSandbox, type SandboxRequestLog } from './sandbox.js';

describe('the sandbox logger', () => {
  it('files each line with the request that logged it, even when requests overlap', async () => {
    const outside: SandboxLogEntry[] = [];
    const log = new RequestScopedLog((entry) => outside.push(entry));
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    const first = log.collect(async () => {
      log.warn('first starts');
      await tick();
      await tick();
      log.error('first ends');
    });
    const second = log.collect(async () => {
      await tick();
      log.info('second');
    });
    log.debug('between requests');
    await Promise.all([first.done, second.done]);
    expect(first.logs.map((entry) => entry.message)).toEqual(['first starts', 'first ends']);
    expect(second.logs.map((entry) => `${entry.level} ${entry.message}`)).toEqual(['info second']);
    expect(outside.map((entry) => entry.message)).toEqual(['between requests']);
  });

  it('masks phone numbers and replaces tokens, codes and bearer headers, as the deployed logs do', () => {
    const entries: SandboxLogEntry[] = [];
    const log = new RequestScopedLog((entry) => entries.push(entry));
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlc2lnbmF0dXJl';
    const refreshToken = 'k1a2b3c4.Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg1234';
    log.warn('odd request', {
      phone: '+14155550123',
      note: 'sent to +447911123456 today',
      authorization: `Bearer ${jwt}`,
      body: { refreshToken, code: '123456' },
      error: new Error(`refresh ${refreshToken} failed`),
    });
    const text = JSON.stringify(entries);
    for (const secret of ['+14155550123', '+447911123456', jwt, refreshToken, '123456']) expect(text).not.toContain(secret);
    expect(entries[0]!.fields).toMatchObject({ phone: '+1415•••0123', note: 'sent to +4479•••3456 today' });
    expect((entries[0]!.fields.error as { name: string }).name).toBe('Error');
  });

  it('never throws, whatever the fields hold: quotes after a bearer, a cycle, a bigint', () => {
    const entries: SandboxLogEntry[] = [];
    const log = new RequestScopedLog((entry) => entries.push(entry));
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    log.warn('quoted', { authorization: 'Bearer abc"def', name: 'Bearer "Bob"' });
    log.warn('cyclic', { cyclic });
    log.warn('bigint', { size: 10n });
    expect(entries.map((entry) => entry.message)).toEqual(['quoted', 'cyclic', 'bigint']);
    expect(entries[0]!.fields).toEqual({ authorization: 'Bearer [redacted]"def', name: 'Bearer "Bob"' });
    expect(entries[1]!.fields.unloggable).toMatch(/circular/i);
  });
});

describe('the sandbox hands handler logs to onRequest', () => {
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-request-log-'));
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('with the cause of a 500 and no secret in it', async () => {
    const requests: SandboxRequestLog[] = [];
    const sandbox = await startSandbox({
      stateDir,
      onRequest: (entry) => requests.push(entry),
      wrapFunction: (id, invoke) =>
        id === 'getMe'
          ? async () => {
              throw new Error('the users table said no', { cause: new Error('ResourceNotFoundException') });
            }
          : invoke,
    });
    try {
      const sent = await fetch(`${sandbox.url}/auth/send-otp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone: '+14155550140' }),
      });
      expect(sent.status).toBe(200);
      const { code } = sandbox.outbox.latest('+14155550140')!;
      const login = await fetch(`${sandbox.url}/auth/verify-otp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone: '+14155550140', code }),
      });
      const { token } = (await login.json()) as { token: string };
      const me = await fetch(`${sandbox.url}/profile/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(500);
      await expect.poll(() => requests.find((entry) => entry.path === '/profile/me'), { timeout: 10_000 }).toBeDefined();
      const failed = requests.find((entry) => entry.path === '/profile/me')!;
      expect(failed.status).toBe(500);
      expect(failed.logs).toHaveLength(1);
      expect(failed.logs[0]).toMatchObject({
        level: 'error',
        message: 'unhandled error',
        fields: { error: { message: 'the users table said no', cause: { message: 'ResourceNotFoundException' } } },
      });
      const verify = requests.find((entry) => entry.path === '/auth/verify-otp')!;
      expect(verify.logs.map((entry) => entry.message)).toContain('otp verified');
      expect(JSON.stringify(requests)).not.toContain(token);
      expect(JSON.stringify(requests)).not.toContain('+14155550140');
    } finally {
      await sandbox.close();
    }
  });
});
