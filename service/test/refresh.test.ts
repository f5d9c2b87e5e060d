import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKey, parseKeyRing } from '../core/key-ring.js';
import { hashRefreshToken } from '../core/sessions.js';
import { readSecretsFile } from '../local/secrets-file.js';
import { startTestService, type TestService } from '../testing/harness.js';

describe('refresh tokens', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  const refresh = (refreshToken: string) => service.call('refresh', { body: { refreshToken } });
  const expectRefused = async (refreshToken: string) => {
    const response = await refresh(refreshToken);
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('invalid_refresh_token');
  };

  it('rotates on every use, and the new access token works', async () => {
    const session = await service.login();
    const first = await refresh(session.refreshToken);
    expect(first.status).toBe(200);
    expect(Object.keys(first.body).sort()).toEqual(['expiresIn', 'refreshToken', 'token']);
    expect(first.body.refreshToken).not.toBe(session.refreshToken);
    const second = await refresh(first.body.refreshToken);
    expect(second.status).toBe(200);
    expect((await service.call('getMe', { token: second.body.token })).status).toBe(200);
  });

  it('revokes the whole family when a rotated token is reused', async () => {
    const session = await service.login();
    const child = (await refresh(session.refreshToken)).body.refreshToken;
    const grandchild = (await refresh(child)).body.refreshToken;
    service.clock.advance(11_000);
    await expectRefused(session.refreshToken);
    await expectRefused(grandchild);
    expect(service.metrics.counts.get('ReuseDetected')).toBeGreaterThanOrEqual(1);
  });

  it('treats a replay of the immediate parent within 10 s as a client retry', async () => {
    const session = await service.login();
    const child = (await refresh(session.refreshToken)).body.refreshToken;
    service.clock.advance(5_000);
    const retry = await refresh(session.refreshToken);
    expect(retry.status).toBe(200);
    const fresh = retry.body.refreshToken;
    // Issue 9 (finding 6): a retry gets the same child, so the caller that kept the first answer is
    // not logged out (before, it got a fresh child that revoked the first one).
    expect(fresh).toBe(child);
    // The child carries on; once rotated past the window, it is reuse.
    const next = await refresh(fresh);
    expect(next.status).toBe(200);
    service.clock.advance(11_000);
    await expectRefused(child);
  });

  it('does not let retries stretch the grace window', async () => {
    const session = await service.login();
    await refresh(session.refreshToken);
    service.clock.advance(8_000);
    expect((await refresh(session.refreshToken)).status).toBe(200);
    service.clock.advance(3_000);
    await expectRefused(session.refreshToken);
  });

  it('treats a replay of an older ancestor as reuse even inside the window', async () => {
    const session = await service.login();
    const child = (await refresh(session.refreshToken)).body.refreshToken;
    const grandchild = (await refresh(child)).body.refreshToken;
    await expectRefused(session.refreshToken);
    await expectRefused(grandchild);
  });

  it('leaves at most one live successor after 20 concurrent refreshes of one token', async () => {
    const session = await service.login();
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(session.refreshToken)));
    expect(results.every((result) => result.status === 200 || result.status === 401)).toBe(true);
    const issued = results.filter((result) => result.status === 200).map((result) => result.body.refreshToken);
    expect(issued.length).toBeGreaterThanOrEqual(1);

    // Hash every issued token as the store does: exactly one of them is the family's head.
    const pepper = parseKeyRing('refresh-pepper', JSON.stringify((await readSecretsFile(service.secretsPath))['refresh-pepper']));
    const family = (await service.scanAll()).find((item) => item.kind === 'family' && item.userId === session.user.id)!;
    const live = issued.filter((token) => hashRefreshToken(pepper.current, token) === family.head);
    // One live successor, and (issue 9, finding 6) every caller holds it.
    expect(new Set(live).size).toBe(1);
    expect(live).toHaveLength(issued.length);
    expect(family.status).toBe('active');

    // And that one really is usable.
    expect((await refresh(live[0]!)).status).toBe(200);
  });

  it('makes logout revoke the family, and repeating it is harmless', async () => {
    const session = await service.login();
    const child = (await refresh(session.refreshToken)).body.refreshToken;
    const first = await service.call('logout', { body: { refreshToken: child } });
    expect(first.status).toBe(204);
    expect(first.body).toBeUndefined();
    expect((await service.call('logout', { body: { refreshToken: child } })).status).toBe(204);
    expect((await service.call('logout', { body: { refreshToken: 'x'.repeat(43) } })).status).toBe(204);
    await expectRefused(child);
  });

  it('refuses unknown, malformed and expired tokens', async () => {
    await expectRefused('A'.repeat(43));
    await expectRefused('short');
    const session = await service.login();
    service.clock.advance(30 * 24 * 3600 * 1000 + 1000);
    await expectRefused(session.refreshToken);
  });

  it('ends a family 180 days after login however often it rotates', async () => {
    let { refreshToken } = await service.login();
    for (let month = 0; month < 6; month++) {
      service.clock.advance(29 * 24 * 3600 * 1000);
      const response = await refresh(refreshToken);
      expect(response.status).toBe(200);
      refreshToken = response.body.refreshToken;
    }
    service.clock.advance(7 * 24 * 3600 * 1000);
    await expectRefused(refreshToken);
  });

  it('keeps refresh tokens working across a pepper rotation', async () => {
    const session = await service.login();
    await service.updateSecrets((secrets) => ({
      ...secrets,
      'refresh-pepper': { current: newKey(new Date()), previous: secrets['refresh-pepper']!.current },
    }));
    service.clock.advance(61_000); // past the secrets cache max age
    const rotated = await refresh(session.refreshToken);
    expect(rotated.status).toBe(200);
    // The successor is hashed with the new pepper and still refreshes.
    expect((await refresh(rotated.body.refreshToken)).status).toBe(200);
  });

  it('stores only hashes of refresh tokens', async () => {
    const session = await service.login();
    const child = (await refresh(session.refreshToken)).body.refreshToken;
    const dump = JSON.stringify(await service.scanAll());
    expect(dump).not.toContain(session.refreshToken);
    expect(dump).not.toContain(child);
  });
});
