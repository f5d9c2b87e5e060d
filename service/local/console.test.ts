import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from './sandbox.js';

/** The console's JSON API as its own page calls it, and the sandbox's API as an app does. */
describe('the sandbox console API', () => {
  let stateDir: string;
  let sandbox: Sandbox;
  let consoleHeaders: Record<string, string>;
  const phone = '+14155550170';
  const otherPhone = '+14155550171';

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-console-api-'));
    sandbox = await startSandbox({ stateDir });
    consoleHeaders = { origin: sandbox.url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' };
  }, 60_000);
  afterAll(async () => {
    await sandbox?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  const signIn = async (number = phone): Promise<{ token: string; user: { id: string } }> => {
    expect((await fetch(`${sandbox.url}/auth/send-otp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone: number }) })).status).toBe(200);
    const code = sandbox.outbox.latest(number)!.code;
    const login = await fetch(`${sandbox.url}/auth/verify-otp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone: number, code }) });
    expect(login.status).toBe(200);
    return (await login.json()) as { token: string; user: { id: string } };
  };
  const read = async (path: string) => {
    const response = await fetch(`${sandbox.url}/__sandbox/api/${path}`);
    return { status: response.status, body: (await response.json()) as any };
  };
  const act = async (path: string, body: string) => {
    const response = await fetch(`${sandbox.url}/__sandbox/api/${path}`, { method: 'POST', headers: consoleHeaders, body });
    return { status: response.status, body: (await response.json()) as any };
  };

  it('refuses a malformed, oversized, misspelled or wrongly typed action body, and revokes every session only for an explicit {}', async () => {
    const first = await signIn();
    await signIn();
    const id = first.user.id;
    expect((await read(`users/${id}`)).body.devices).toBe(2);
    for (const [body, status] of [
      ['not json', 400],
      ['', 400],
      ['[]', 400],
      ['{"familyID":"f1"}', 400],
      ['{"familyId":5}', 400],
      [JSON.stringify({ familyId: 'x'.repeat(8000) }), 413],
    ] as const) {
      const answer = await act(`users/${id}/revoke`, body);
      expect(answer.status, body.slice(0, 40)).toBe(status);
      expect(answer.body.error.code).toBe(status === 413 ? 'body_too_large' : 'invalid_request');
    }
    expect((await read(`users/${id}`)).body.devices).toBe(2);
    // The other buttons and rotate read their bodies the same way.
    expect((await act(`users/${id}/expire-access`, '{"now":true}')).status).toBe(400);
    expect((await act(`users/${id}/delete`, 'nope')).status).toBe(400);
    expect((await act('secrets/rotate', JSON.stringify({ name: 'jwt-secret', pad: 'x'.repeat(8000) }))).status).toBe(413);
    expect((await read(`users/${id}`)).body.user.id).toBe(id);

    expect((await act(`users/${id}/revoke`, '{}')).status).toBe(200);
    expect((await read(`users/${id}`)).body.devices).toBe(0);
  });

  it('shows a request whose header holds a quoted bearer value, with every secret-named header redacted', async () => {
    const session = await signIn(otherPhone);
    const answer = await fetch(`${sandbox.url}/profile/me`, {
      headers: {
        authorization: `Bearer ${session.token}`,
        'x-note': 'Bearer abc"def',
        'proxy-authorization': 'Basic c2VjcmV0OnBhc3M=',
        'x-api-key': 'plain-key-value',
        'x-client-secret': 'plain-secret-value',
      },
    });
    expect(answer.status).toBe(200);
    const listed = (await read('requests')).body.requests.find((entry: { path: string }) => entry.path === '/profile/me');
    const detail = await read(`requests/${listed.id}`);
    expect(detail.status).toBe(200);
    const headers = detail.body.event.headers as Record<string, string>;
    expect(headers['x-note']).toBe('Bearer [redacted]"def');
    for (const name of ['authorization', 'proxy-authorization', 'x-api-key', 'x-client-secret']) expect(headers[name], name).toBe('[redacted]');
    const text = JSON.stringify(detail.body);
    for (const secret of ['c2VjcmV0OnBhc3M=', 'plain-key-value', 'plain-secret-value', session.token]) expect(text).not.toContain(secret);
  });

  it('answers 400 for an avatar of an id that is not a UUID, 404 for an unknown one', async () => {
    expect((await read('users/not-a-uuid/avatar')).status).toBe(400);
    expect((await read('users/00000000-0000-4000-8000-000000000000/avatar')).status).toBe(404);
    expect((await read('users/not-a-uuid')).status).toBe(400);
  });

  it('finds users by name as well as by number, and finds none for a name nobody has', async () => {
    const session = await signIn('+14155550172');
    expect((await fetch(`${sandbox.url}/profile/me`, { method: 'PATCH', headers: { authorization: `Bearer ${session.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Bob Builder' }) })).status).toBe(200);
    const everyone = (await read('users')).body.users as { id: string }[];
    expect(everyone.length).toBeGreaterThan(1);
    expect((await read('users?q=bob')).body.users.map((user: { id: string }) => user.id)).toEqual([session.user.id]);
    expect((await read('users?q=zzz')).body.users).toEqual([]);
    expect((await read('users?q=555%200172')).body.users.map((user: { id: string }) => user.id)).toEqual([session.user.id]);
  });

  it('answers HEAD on its pages and reads', async () => {
    for (const path of ['/__sandbox/', '/__sandbox/api/users', '/__sandbox/assets/console.css', '/__sandbox/api/events']) {
      const answer = await fetch(`${sandbox.url}${path}`, { method: 'HEAD' });
      expect(answer.status, path).toBe(200);
      expect(await answer.text()).toBe('');
    }
  });
});

describe('the sandbox console, Secrets', () => {
  let stateDir: string;
  let sandbox: Sandbox;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-console-secrets-'));
    sandbox = await startSandbox({ stateDir });
  }, 60_000);
  afterAll(async () => {
    await sandbox?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  const secrets = async () => {
    const response = await fetch(`${sandbox.url}/__sandbox/api/secrets`);
    return { status: response.status, body: (await response.json()) as any };
  };
  const signing = async (ring: string) =>
    ((await secrets()).body.rings as { name: string; keys: { kid: string; role: string }[] }[]).find((entry) => entry.name === ring)!.keys.find((key) => key.role === 'signing')!.kid;
  /** Starts a rotation and waits (bounded) until the page would show it finished. */
  const rotate = async (ring: string) => {
    const started = await fetch(`${sandbox.url}/__sandbox/api/secrets/rotate`, {
      method: 'POST',
      headers: { origin: sandbox.url, 'content-type': 'application/json' },
      body: JSON.stringify({ name: ring }),
    });
    expect(started.status).toBe(202);
    for (let attempt = 0; attempt < 600; attempt++) {
      const state = (await secrets()).body.rotations?.[ring]?.state;
      if (state && state !== 'running') return state as string;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${ring} did not finish rotating`);
  };

  it('really rotates when Rotate is clicked again at once, and keeps each ring its own status', async () => {
    const first = await signing('jwt-secret');
    expect(await rotate('jwt-secret')).toBe('done');
    const second = await signing('jwt-secret');
    expect(second).not.toBe(first);
    expect(await rotate('jwt-secret')).toBe('done');
    const third = await signing('jwt-secret');
    expect([first, second]).not.toContain(third);
    expect(await rotate('refresh-pepper')).toBe('done');
    const { rotations } = (await secrets()).body;
    expect(rotations['jwt-secret'].message).toContain(third);
    expect(rotations['refresh-pepper'].message).toContain(await signing('refresh-pepper'));
  }, 120_000);

  it('says in the panel why a damaged secrets file cannot be read, naming the file', async () => {
    const path = join(stateDir, 'secrets.json');
    const good = await readFile(path, 'utf8');
    try {
      await writeFile(path, good.slice(0, 30));
      const damaged = await secrets();
      expect(damaged.status).toBe(200);
      expect(damaged.body.problem).toContain(path);
      expect(damaged.body.problem).toMatch(/damaged/);
      await writeFile(path, JSON.stringify({ secrets: 'abc', history: { 'jwt-secret': 5 } }));
      const wrongShape = await secrets();
      expect(wrongShape.status).toBe(200);
      expect(wrongShape.body.rings.map((ring: { problem: string }) => ring.problem)).toEqual([expect.any(String), expect.any(String)]);
    } finally {
      await writeFile(path, good);
    }
  });
});
