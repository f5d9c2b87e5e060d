import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from './sandbox.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A raw request, so that Host, Origin and Sec-Fetch-* can be anything a hostile page makes a browser send. */
function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const length = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    const call = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...length }, setHost: false }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: text }));
    });
    call.on('error', reject);
    call.end(body);
  });
}

const answer = (reply: Answer) => JSON.parse(reply.body) as { error: { code: string } };

describe('every /__sandbox/* route answers only the developer on this machine', () => {
  let stateDir: string;
  let sandbox: Sandbox;
  let code: string;
  let host: string;
  const phone = '+14155550150';
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-guard-'));
    sandbox = await startSandbox({ stateDir });
    host = `127.0.0.1:${sandbox.port}`;
    const sent = await fetch(`${sandbox.url}/auth/send-otp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phone }),
    });
    expect(sent.status).toBe(200);
    code = sandbox.outbox.latest(phone)!.code;
  });
  afterAll(async () => {
    await sandbox.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  const reads = ['/__sandbox/otp/%2B14155550150', '/__sandbox/api/outbox', '/__sandbox/api/users', '/__sandbox/api/secrets', '/__sandbox/'];

  const expectRefused = (answer: Answer, status = 403) => {
    expect(answer.status).toBe(status);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect(answer.body).not.toContain(code);
  };

  it('serves its own origin, by 127.0.0.1 or localhost, and from the address bar', async () => {
    for (const path of reads) {
      for (const headers of <Record<string, string>[]>[
        { host },
        { host: `localhost:${sandbox.port}` },
        { host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' },
        { host, 'sec-fetch-site': 'none' },
      ]) {
        const answer = await send(sandbox.port, 'GET', path, headers);
        expect(answer.status, `${path} ${JSON.stringify(headers)}`).toBe(200);
        expect(answer.headers['access-control-allow-origin']).toBeUndefined();
        expect(answer.headers['x-frame-options']).toBe('DENY');
      }
    }
    expect(JSON.parse((await send(sandbox.port, 'GET', reads[0]!, { host })).body)).toMatchObject({ phone, code });
  });

  it('refuses a DNS-rebound hostname, another port, or no Host at all', async () => {
    for (const path of reads) {
      for (const headers of <Record<string, string>[]>[
        { host: `attacker.example:${sandbox.port}` },
        { host: `127.0.0.1.nip.io:${sandbox.port}` },
        { host: '127.0.0.1' },
        { host: `127.0.0.1:${sandbox.port + 1}` },
      ]) {
        expectRefused(await send(sandbox.port, 'GET', path, headers));
      }
      // Node's server itself refuses an HTTP/1.1 request without a Host.
      expectRefused(await send(sandbox.port, 'GET', path, {}), 400);
    }
  });

  it('refuses reads that another site makes the browser send', async () => {
    for (const path of reads) {
      for (const headers of <Record<string, string>[]>[
        { host, origin: 'http://attacker.example' },
        { host, origin: 'null' },
        { host, origin: `http://localhost:${sandbox.port}` },
        { host, 'sec-fetch-site': 'cross-site' },
        { host, 'sec-fetch-site': 'same-site' },
      ]) {
        expectRefused(await send(sandbox.port, 'GET', path, headers));
      }
    }
  });

  it('answers a link from another site with a page that says to open the address directly, and no data', async () => {
    const navigation = { host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' };
    for (const path of reads) {
      const answer = await send(sandbox.port, 'GET', path, navigation);
      expectRefused(answer);
      expect(answer.headers['content-type']).toContain('text/html');
      expect(answer.body).toContain(`http://127.0.0.1:${sandbox.port}/__sandbox/`);
      expect(answer.body).toMatch(/open .* directly/i);
      expect(answer.body).not.toContain(phone);
      expect(answer.body).not.toContain('console.js');
    }
    // The same link to an action, or a read that is not a navigation, gets the JSON refusal.
    const api = await send(sandbox.port, 'GET', '/__sandbox/api/users', { host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' });
    expectRefused(api);
    expect(answer(api).error.code).toBe('cross_origin');
    const action = await send(sandbox.port, 'POST', '/__sandbox/api/secrets/rotate', { ...navigation, 'content-type': 'application/json' }, '{"name":"jwt-secret"}');
    expectRefused(action);
    expect(answer(action).error.code).toBe('cross_origin');
  });

  it('refuses actions sent as a cross-site form, without an Origin, or by any method but POST', async () => {
    const action = '/__sandbox/api/secrets/rotate';
    const form = 'name=jwt-secret';
    // The simple request a hostile page's <form> makes: no preflight, its own Origin.
    expectRefused(
      await send(sandbox.port, 'POST', action, {
        host,
        origin: 'http://attacker.example',
        'sec-fetch-site': 'cross-site',
        'content-type': 'application/x-www-form-urlencoded',
      }, form),
    );
    // An old browser that sends no Sec-Fetch-Site and no Origin still cannot act.
    expectRefused(await send(sandbox.port, 'POST', action, { host, 'content-type': 'application/json' }, '{"name":"jwt-secret"}'));
    // Same origin, but a form body: refused before anything runs.
    expectRefused(
      await send(sandbox.port, 'POST', action, { host, origin: `http://${host}`, 'content-type': 'text/plain' }, '{"name":"jwt-secret"}'),
      415,
    );
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      expectRefused(await send(sandbox.port, method, action, { host, origin: `http://${host}`, 'content-type': 'application/json' }, '{}'), 405);
    }
    // The preflight a cross-origin JSON post needs is never granted.
    const preflight = await send(sandbox.port, 'OPTIONS', action, {
      host,
      origin: 'http://attacker.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    expect(preflight.status).toBeGreaterThanOrEqual(400);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
    // Nothing was rotated by any of it.
    const secrets = JSON.parse((await send(sandbox.port, 'GET', '/__sandbox/api/secrets', { host })).body);
    expect(secrets.rotation).toBeNull();
  });

  it('takes an action from its own page', async () => {
    const answer = await send(
      sandbox.port,
      'POST',
      '/__sandbox/api/secrets/rotate',
      { host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' },
      '{"name":"not-a-ring"}',
    );
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'invalid_request' } });
  });

  it('keeps CORS on the API itself, which browsers on any origin may call', async () => {
    const preflight = await send(sandbox.port, 'OPTIONS', '/auth/send-otp', { host, origin: 'http://app.example' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
  });
});
