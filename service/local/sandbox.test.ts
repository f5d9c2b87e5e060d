import { readFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRequest } from '../http/api.js';
import { apiGatewayEvent } from './events.js';
import { startSandbox, type Sandbox } from './sandbox.js';

const recorded = JSON.parse(
  await readFile(new URL('./fixtures/http-api-payload-v2.json', import.meta.url), 'utf8'),
);

describe('payload-2.0 events', () => {
  it('match what API Gateway sends for the same request', () => {
    const event = apiGatewayEvent({
      method: 'post',
      path: '/my/path',
      rawQueryString: 'parameter1=value1&parameter1=value2&parameter2=value',
      headers: {
        Header1: 'value1',
        header2: ['value1', 'value2'],
        Cookie: 'cookie1; cookie2',
        'User-Agent': 'agent',
        host: 'id.execute-api.us-east-1.amazonaws.com',
      },
      body: 'Hello from Lambda',
      sourceIp: '192.0.2.1',
      routeKey: '$default',
      time: new Date('2020-03-12T19:03:58Z'),
    });
    // Identity fields differ by nature (our own account, API and request ids). The documented example
    // disagrees with itself on the instant (its timeEpoch is 4 March, its time 12 March), so the
    // epoch is checked against the time we gave instead.
    expect(event.requestContext.timeEpoch).toBe(Date.parse('2020-03-12T19:03:58Z'));
    const strip = ({ requestContext: { accountId, apiId, requestId, timeEpoch, ...context }, ...rest }: any) => ({
      ...rest,
      requestContext: context,
    });
    const { host, 'user-agent': userAgent, ...headers } = event.headers;
    expect(userAgent).toBe('agent');
    expect(host).toBe('id.execute-api.us-east-1.amazonaws.com');
    expect(strip({ ...event, headers })).toEqual(strip(recorded));
    expect(Object.keys(event).sort()).toEqual(Object.keys(recorded).sort());
    expect(Object.keys(event.requestContext).sort()).toEqual(Object.keys(recorded.requestContext).sort());
  });

  it('base64-encode binary bodies and leave JSON as text', () => {
    const binary = apiGatewayEvent({
      method: 'POST', path: '/x', body: Buffer.from([0xff, 0xd8, 0xff, 0x00]), sourceIp: '1.2.3.4', routeKey: 'POST /x',
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(binary).toMatchObject({ isBase64Encoded: true, body: '/9j/AA==' });
    const json = apiGatewayEvent({
      method: 'POST', path: '/x', body: '{"a":"é"}', sourceIp: '1.2.3.4', routeKey: 'POST /x',
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(json).toMatchObject({ isBase64Encoded: false, body: '{"a":"é"}' });
    expect(apiGatewayEvent({ method: 'GET', path: '/x', sourceIp: '1.2.3.4', routeKey: 'GET /x' }).body).toBeUndefined();
  });
});

describe('the sandbox', () => {
  let stateDir: string;
  let sandbox: Sandbox | undefined;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-sandbox-test-'));
  });
  afterEach(async () => {
    await sandbox?.close();
    sandbox = undefined;
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${sandbox!.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('serves the real handlers, with the outbox at /__sandbox/otp/<phone>', async () => {
    const codes: string[] = [];
    const requests: string[] = [];
    sandbox = await startSandbox({
      stateDir,
      onOtp: (message) => codes.push(message.code),
      onRequest: ({ method, path, status }) => requests.push(`${method} ${path} ${status}`),
    });
    expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await (await fetch(`${sandbox.url}/health`)).json())).toEqual({ ok: true, stage: 'local', version: 'local' });

    expect((await fetch(`${sandbox.url}/__sandbox/otp/%2B14155550123`)).status).toBe(404);
    expect((await post('/auth/send-otp', { phone: '+14155550123' })).status).toBe(200);
    for (const path of ['%2B14155550123', '+14155550123', '%2B114155550123']) {
      const pending = await fetch(`${sandbox.url}/__sandbox/otp/${path}`);
      expect(pending.status).toBe(200);
      expect(await pending.json()).toMatchObject({ phone: '+14155550123', code: codes[0] });
    }
    const login = await post('/auth/verify-otp', { phone: '+14155550123', code: codes[0] });
    expect(login.status).toBe(200);
    // Single use: the outbox forgets an approved code.
    expect((await fetch(`${sandbox.url}/__sandbox/otp/%2B14155550123`)).status).toBe(404);
    expect(requests).toContain('POST /auth/verify-otp 200');

    const missing = await fetch(`${sandbox.url}/profile/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
    const preflight = await fetch(`${sandbox.url}/auth/send-otp`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('answers 400 for a path that is not a number, and finds a code with the + left out', async () => {
    const codes: string[] = [];
    sandbox = await startSandbox({ stateDir, onOtp: (message) => codes.push(message.code) });
    for (const path of ['%E0%A4%A', '%', 'not-a-number', '%2B1415']) {
      const answer = await fetch(`${sandbox.url}/__sandbox/otp/${path}`);
      expect(answer.status, path).toBe(400);
      expect(await answer.json()).toMatchObject({ error: { code: 'invalid_phone' } });
    }
    expect((await post('/auth/send-otp', { phone: '+14155550126' })).status).toBe(200);
    for (const path of ['14155550126', '114155550126', '%2014155550126']) {
      const pending = await fetch(`${sandbox.url}/__sandbox/otp/${path}`);
      expect(pending.status, path).toBe(200);
      expect(await pending.json()).toMatchObject({ phone: '+14155550126', code: codes[0] });
    }
  });

  it('hands the handler what a client sent, as API Gateway would', async () => {
    let seen: Pick<ApiRequest, 'method' | 'path' | 'sourceIp' | 'body' | 'headers'> | undefined;
    sandbox = await startSandbox({
      stateDir,
      wrapFunction: (id, invoke) =>
        id === 'sendOtp'
          ? async (event) => {
              const { method, sourceIp } = event.requestContext.http;
              seen = { method, path: event.rawPath, sourceIp, body: JSON.parse(event.body!), headers: event.headers as Record<string, string> };
              return invoke(event);
            }
          : invoke,
    });
    await post('/auth/send-otp', { phone: '+14155550124' }, { 'X-Custom': 'Value', authorization: 'Bearer abc' });
    expect(seen).toMatchObject({
      method: 'POST',
      path: '/auth/send-otp',
      sourceIp: '127.0.0.1',
      body: { phone: '+14155550124' },
      headers: { 'x-custom': 'Value', authorization: 'Bearer abc', 'content-type': 'application/json' },
    });
  });

  it('answers 413 for large bodies without buffering them whole', async () => {
    sandbox = await startSandbox({ stateDir });
    expect((await post('/auth/send-otp', { phone: 'x'.repeat(20_000) })).status).toBe(413);
    expect((await post('/auth/send-otp', { phone: 'x'.repeat(200_000) })).status).toBe(413);
  });

  it('creates its secrets file once, mode 0600, and keeps it', async () => {
    sandbox = await startSandbox({ stateDir });
    const path = join(stateDir, 'secrets.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const first = await readFile(path, 'utf8');
    await sandbox.close();
    sandbox = await startSandbox({ stateDir });
    expect(await readFile(path, 'utf8')).toBe(first);
  });

  it('gives a secrets file from before its own Twilio Verify the twilio secret, as a new version, and sends codes with it', async () => {
    const oldState = await mkdtemp(join(tmpdir(), 'chatshyld-sandbox-old-secrets-'));
    try {
      sandbox = await startSandbox({ stateDir: oldState });
      await sandbox.close();
      const path = join(oldState, 'secrets.json');
      const document = JSON.parse(await readFile(path, 'utf8'));
      delete document.secrets.twilio;
      delete document.history.twilio;
      await writeFile(path, JSON.stringify(document), { mode: 0o600 });

      const codes: string[] = [];
      sandbox = await startSandbox({ stateDir: oldState, onOtp: (message) => codes.push(message.code) });
      const upgraded = JSON.parse(await readFile(path, 'utf8'));
      expect(upgraded.secrets.twilio).toMatchObject({ accountSid: expect.stringMatching(/^AC/), verifyServiceSid: expect.stringMatching(/^VA/) });
      expect(upgraded.history.twilio).toMatchObject([{ version: 1, value: upgraded.secrets.twilio }]);
      expect(upgraded.secrets['jwt-secret']).toEqual(document.secrets['jwt-secret']);
      expect((await post('/auth/send-otp', { phone: '+14155550127' })).status).toBe(200);
      expect(codes).toHaveLength(1);
    } finally {
      await sandbox?.close();
      sandbox = undefined;
      await rm(oldState, { recursive: true, force: true });
    }
  });

  it('keeps data across restarts with persist, and drops it with reset', async () => {
    const persistDir = await mkdtemp(join(tmpdir(), 'chatshyld-persist-'));
    try {
      const codes: string[] = [];
      sandbox = await startSandbox({ stateDir: persistDir, persist: true, onOtp: (m) => codes.push(m.code) });
      await post('/auth/send-otp', { phone: '+14155550125' });
      const { token } = (await (await post('/auth/verify-otp', { phone: '+14155550125', code: codes[0] })).json()) as { token: string };
      await sandbox.close();

      sandbox = await startSandbox({ stateDir: persistDir, persist: true });
      const me = await fetch(`${sandbox.url}/profile/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(200);
      await sandbox.close();

      sandbox = await startSandbox({ stateDir: persistDir, persist: true, reset: true });
      const after = await fetch(`${sandbox.url}/profile/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(after.status).toBe(401);
    } finally {
      await sandbox?.close();
      sandbox = undefined;
      await rm(persistDir, { recursive: true, force: true });
    }
  });
});
