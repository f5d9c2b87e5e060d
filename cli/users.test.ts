import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskPhone } from '../service/core/phone.js';
import { binPath, runCli, startCli } from './testing/run-cli.js';
import { canUseTerminal, runOnTerminal } from './testing/terminal.js';

/** `chatshyld dev` on a free port in `cwd`, as its own process, until `stop` (Ctrl-C). */
async function startDev(cwd: string): Promise<{ url: string; stop: () => Promise<unknown> }> {
  const { child, result } = startCli(['dev', '--port', '0', '--json'], { cwd, timeoutMs: 600_000 });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk) => {
      text += chunk;
      try {
        resolve((JSON.parse(text) as { url: string }).url);
      } catch {
        // not all of it yet
      }
    });
    result.then((done) => reject(new Error(`the sandbox stopped: ${done.stderr}`)), reject);
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGINT');
      return result;
    },
  };
}

/**
 * `chatshyld users` end to end: the built CLI as a subprocess, against a sandbox (`chatshyld dev`)
 * that this test starts and stops, as on-call would use them side by side.
 */
describe('chatshyld users --stage local', () => {
  let cwd: string;
  let url: string;
  let stopSandbox: () => Promise<unknown>;
  let phoneCounter = 0;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'chatshyld-users-'));
    // Up for the whole describe: every command below runs as its own process against it.
    ({ url, stop: stopSandbox } = await startDev(cwd));
  }, 60_000);
  afterAll(async () => {
    await stopSandbox?.();
    await rm(cwd, { recursive: true, force: true });
  });

  const users = (args: string[]) => runCli(['users', ...args, '--stage', 'local'], { cwd, timeoutMs: 30_000 });
  const usersJson = async (args: string[]) => {
    const result = await users([...args, '--json']);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout);
  };
  const api = async (method: string, path: string, options: { body?: unknown; token?: string } = {}) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(options.body !== undefined && { 'content-type': 'application/json' }),
        ...(options.token && { authorization: `Bearer ${options.token}` }),
      },
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const newPhone = () => `+1415555${String(1000 + ((process.pid + phoneCounter++ * 37) % 9000)).padStart(4, '0')}`;
  const login = async (phone: string) => {
    const sent = await api('POST', '/auth/send-otp', { body: { phone } });
    if (sent.status !== 200) return { status: sent.status, body: sent.body };
    const { body } = await api('GET', `/__sandbox/otp/${encodeURIComponent(phone)}`);
    return api('POST', '/auth/verify-otp', { body: { phone, code: body.code } });
  };

  it('finds, shows and lists sessions; a change without a terminal or --yes exits 2 and changes nothing', async () => {
    const phone = newPhone();
    const session = (await login(phone)).body;
    const found = await usersJson(['find', `+1 (${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`]);
    expect(found.user.id).toBe(session.user.id);
    const shown = await usersJson(['show', session.user.id]);
    expect(shown.user).toMatchObject({ phone, status: 'active', photoKey: null });
    const sessions = await usersJson(['sessions', session.user.id]);
    expect(sessions).toHaveLength(1);
    expect(JSON.stringify(sessions)).not.toContain(session.refreshToken.split('.')[1]);

    for (const args of [['revoke', session.user.id], ['block', phone], ['unblock', phone], ['delete', session.user.id]]) {
      const refused = await users(args);
      expect({ args, code: refused.code }).toEqual({ args, code: 2 });
      expect(refused.stderr).toContain('pass --yes');
    }
    expect((await api('GET', '/profile/me', { token: session.token })).status).toBe(200);
  }, 60_000);

  it('revokes: the access token already issued is refused on its next request, the refresh token too', async () => {
    const session = (await login(newPhone())).body;
    expect((await api('GET', '/profile/me', { token: session.token })).status).toBe(200);
    const revoked = await users(['revoke', session.user.id, '--yes', '--reason', 'phone stolen']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('1 session(s) revoked');
    expect((await api('GET', '/profile/me', { token: session.token })).status).toBe(401);
    expect((await api('POST', '/auth/refresh', { body: { refreshToken: session.refreshToken } })).status).toBe(401);
    expect((await usersJson(['sessions', session.user.id]))[0]).toMatchObject({ status: 'revoked', revokedReason: 'operator' });
  }, 60_000);

  it('blocks with --until: refused at once, then let in again once the block has ended by itself', async () => {
    const phone = newPhone();
    const session = (await login(phone)).body;
    // 20 s: long enough for the checks below on a loaded machine, short enough to wait out.
    const blocked = await users(['block', `+11${phone.slice(2)}`, '--until', '20s', '--yes', '--reason', 'SIM swap', '--json']);
    expect(blocked.code, blocked.stderr).toBe(0);
    const until = Date.parse(JSON.parse(blocked.stdout).until);
    expect((await api('GET', '/profile/me', { token: session.token })).status).toBe(401);
    const refresh = await api('POST', '/auth/refresh', { body: { refreshToken: session.refreshToken } });
    expect([refresh.status, refresh.body.error.code]).toEqual([403, 'account_blocked']);
    expect((await login(phone)).status).toBe(403);
    expect(Date.now()).toBeLessThan(until); // the refusals above were the block's, not something else

    // Ends by itself: poll generously, no timing is asserted.
    let again = await login(phone);
    for (let waited = 0; again.status !== 200 && waited < 90_000; waited += 500) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      again = await login(phone);
    }
    expect(again.status).toBe(200);
    expect(again.body.user.id).toBe(session.user.id);
    expect((await api('GET', '/profile/me', { token: again.body.token })).status).toBe(200);
  }, 150_000);

  it('blocks a number with no account, unblocks it, deletes an account, and audits all of it without a full number', async () => {
    const abused = newPhone();
    expect((await users(['block', abused, '--yes', '--reason', `pumping from ${abused}`])).code).toBe(0);
    expect((await login(abused)).status).toBe(403);
    expect((await usersJson(['find', abused])).user).toBeNull();
    // A second block does not silently replace the first: it is shown, and needs --replace.
    const again = await users(['block', abused, '--until', '5s', '--yes']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already blocked: yes, until unblocked/);
    expect(again.stderr).toContain('--replace');
    expect((await usersJson(['find', abused])).block.until).toBeNull();
    expect((await users(['block', abused, '--until', '1h', '--replace', '--yes'])).code).toBe(0);
    expect((await usersJson(['find', abused])).block.until).not.toBeNull();
    expect((await users(['unblock', abused, '--yes'])).code).toBe(0);
    expect((await login(abused)).status).toBe(200);

    const gone = (await login(newPhone())).body;
    const deleted = await users(['delete', gone.user.id, '--yes']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await api('GET', '/profile/me', { token: gone.token })).status).toBe(401);
    // The number of a deleted account is unblocked by number: the id names no account any more.
    const byId = await users(['unblock', gone.user.id, '--yes']);
    expect(byId.code).toBe(1);
    expect(byId.stderr).toContain('users unblock <number>');

    const records = await usersJson(['audit', '--since', '1h']);
    const actions = records.map((record: { action: string }) => record.action);
    expect(actions).toEqual(expect.arrayContaining(['revoke', 'block', 'unblock', 'delete']));
    for (const record of records) expect(record.actor).toMatch(/^local:.+/);
    const text = JSON.stringify(records);
    expect(text).toContain(maskPhone(abused));
    expect(text).not.toContain(abused);
    expect(text).not.toContain(abused.slice(1)); // nor without its +
  }, 60_000);

  it('says which id or number is wrong, with exit codes a script can tell apart', async () => {
    const missing = await users(['show', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('users find');
    const notAnId = await users(['sessions', 'alice']);
    expect(notAnId.code).toBe(2);
    const notANumber = await users(['find', '555-0100']);
    expect(notANumber.code).toBe(2);
    expect(notANumber.stderr).toContain('country code');
    const past = await users(['block', newPhone(), '--until', '2001-01-01T00:00:00Z', '--yes']);
    expect(past.code).toBe(2);
    for (const until of ['45', '2027-02-30', '2027-02-01T09:00', '999999999d']) {
      const bad = await users(['block', newPhone(), '--until', until, '--yes']);
      expect({ until, code: bad.code }).toEqual({ until, code: 2 });
      expect(bad.stderr).not.toMatch(/bug/i);
      expect(bad.stderr).toContain('with its zone');
    }
  }, 60_000);

  it('ends cleanly when its --json output is piped to head', async () => {
    const child = spawn('sh', ['-c', `"${process.execPath}" "${binPath}" users audit --since 1h --stage local --json | head -c 1`], {
      cwd,
      env: { ...process.env, CI: 'true' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/EPIPE|Error/);
  }, 30_000);
});

describe('chatshyld users --stage local without a sandbox', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'chatshyld-users-none-'));
  });
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  /** An endpoints file naming `pid` and a port where nothing listens. */
  const writeEndpoints = (pid: number) =>
    writeFile(
      join(cwd, '.chatshyld', 'local', 'sandbox.json'),
      JSON.stringify({
        pid,
        url: 'http://127.0.0.1:9',
        dynamoEndpoint: 'http://127.0.0.1:9',
        s3Endpoint: 'http://127.0.0.1:9',
        tableNames: { users: 'u', refreshTokens: 'r', rateLimits: 'l' },
        bucket: 'b',
        startedAt: new Date().toISOString(),
      }),
    );

  it('says no sandbox is running, with a hint, exit 2', async () => {
    const result = await runCli(['users', 'find', '+14155550123', '--stage', 'local'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no sandbox is running');
    expect(result.stderr).toContain('chatshyld dev');
  });

  it('says a sandbox.json it cannot read as a file (a directory) is not an endpoints file, with a hint, exit 2', async () => {
    const path = join(cwd, '.chatshyld', 'local', 'sandbox.json');
    await mkdir(path, { recursive: true });
    try {
      const result = await runCli(['users', 'find', '+14155550123', '--stage', 'local'], { cwd });
      expect(result.code).toBe(2);
      expect(result.stderr).not.toMatch(/bug|EISDIR/i);
      expect(result.stderr).toContain('cannot be read');
      expect(result.stderr).toContain('chatshyld dev');
    } finally {
      await rm(path, { recursive: true, force: true });
    }
  });

  it('says a sandbox that left its file behind is gone (a stale process id), exit 2', async () => {
    await mkdir(join(cwd, '.chatshyld', 'local'), { recursive: true });
    const dead = spawn(process.execPath, ['-e', '0']);
    const pid = dead.pid!;
    await new Promise((resolve) => dead.on('close', resolve));
    await writeEndpoints(pid);
    const result = await runCli(['users', 'find', '+14155550123', '--stage', 'local'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`process ${pid}`);
    expect(result.stderr).toContain('no longer running');
  });

  it('says a live process whose endpoints do not answer is not a sandbox that answers, exit 1', async () => {
    await writeEndpoints(process.pid); // alive: this test process, which serves no DynamoDB
    const result = await runCli(['users', 'find', '+14155550123', '--stage', 'local'], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('does not answer');
    expect(JSON.parse(await readFile(join(cwd, '.chatshyld', 'local', 'sandbox.json'), 'utf8')).pid).toBe(process.pid);
  });
});

/** The CLI at a terminal, answering its confirmation question with `answer`. */
async function onTerminal(args: readonly string[], cwd: string, answer: string): Promise<{ code: number | null; output: string }> {
  const env = { ...process.env, NO_COLOR: '1' } as NodeJS.ProcessEnv;
  delete env.CI;
  const run = await runOnTerminal(args, { cwd, env, prompt: 'confirm', answer, timeoutMs: 60_000 });
  return { code: run.code, output: run.output + run.stderr };
}


describe.runIf(canUseTerminal)('chatshyld users on a protected stage, at a terminal', () => {
  let cwd: string;
  let url: string;
  let stop: () => Promise<unknown>;
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'chatshyld-users-protected-'));
    // The sandbox stands in for prod: the same question as on any protected stage.
    await writeFile(join(cwd, 'chatshyld.config.json'), JSON.stringify({ project: 'demo', stages: { local: { protected: true } } }));
    ({ url, stop } = await startDev(cwd));
  }, 60_000);
  afterAll(async () => {
    await stop?.();
    await rm(cwd, { recursive: true, force: true });
  });

  it('asks for the last 4 digits: wrong ones and Ctrl-C change nothing, the right ones block', async () => {
    const phone = '+14155550177';
    const post = (path: string, body: unknown) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await post('/auth/send-otp', { phone });
    const { code } = (await (await fetch(`${url}/__sandbox/otp/${encodeURIComponent(phone)}`)).json()) as { code: string };
    expect((await post('/auth/verify-otp', { phone, code })).status).toBe(200);
    const blocked = async () => (await runCli(['users', 'find', phone, '--stage', 'local', '--json'], { cwd })).stdout.includes('"status": "blocked"');

    const wrong = await onTerminal(['users', 'block', phone, '--stage', 'local'], cwd, '0000\\r');
    expect(wrong.output).toContain('last 4 digits');
    // The question does not show the digits it asks for.
    expect(wrong.output).not.toContain('0177');
    expect(wrong.output).toContain('+1415•••••••');
    expect(wrong.code).toBe(1);
    expect(await blocked()).toBe(false);

    const interrupted = await onTerminal(['users', 'block', phone, '--stage', 'local'], cwd, '\\x03');
    expect(interrupted.code).toBe(130);
    expect(await blocked()).toBe(false);

    const right = await onTerminal(['users', 'block', phone, '--stage', 'local'], cwd, '0177\\r');
    expect(right.code, right.output).toBe(0);
    expect(await blocked()).toBe(true);
  }, 120_000);
});
