import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParameterHistoryCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readSecretsDocument, readSecretsFile, writeSecretsFile } from '../service/local/secrets-file.js';
import { startSandbox, type Sandbox } from '../service/local/sandbox.js';
import { stageSettings, type ProjectConfig } from './config.js';
import { runCli, runInProcess, startCli, type CliResult } from './testing/run-cli.js';

const config: ProjectConfig = {
  project: 'demo',
  stages: {
    // A short cache so a rotation's wait is seconds, not a minute.
    local: { secretsCacheSeconds: 1 },
    dev: { account: '111111111111', region: 'eu-west-1' },
  },
};

async function newProject(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'chatshyld-secrets-cli-'));
  await writeFile(join(root, 'chatshyld.config.json'), JSON.stringify(config));
  return root;
}

const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;

/** Every key secret a secrets file ever held, current or in its history. */
async function allKeySecrets(path: string): Promise<string[]> {
  const document = await readSecretsDocument(path);
  const values = [
    document.secrets,
    ...Object.values(document.history ?? {}).flatMap((versions) => (versions ?? []).map((version) => ({ v: version.value }))),
  ];
  return [...JSON.stringify(values).matchAll(/"secret":"([A-Za-z0-9_-]{40,})"/g)].map((match) => match[1]!);
}

describe('secrets rotation under live traffic (sandbox)', () => {
  let root: string;
  let sandbox: Sandbox;
  const outputs: CliResult[] = [];
  const cli = async (...args: string[]) => {
    const result = await runCli(args, { cwd: root, timeoutMs: 30_000 });
    outputs.push(result);
    return result;
  };

  beforeAll(async () => {
    root = await newProject();
    sandbox = await startSandbox({
      stateDir: join(root, '.chatshyld', 'local'),
      settings: stageSettings(config.stages.local),
    });
  });
  afterAll(async () => {
    await sandbox?.close();
    await rm(root, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown) =>
    fetch(`${sandbox.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const login = async (phone: string) => {
    await post('/auth/send-otp', { phone });
    const response = await post('/auth/verify-otp', { phone, code: sandbox.outbox.latest(phone)!.code });
    return (await response.json()) as { token: string; refreshToken: string };
  };

  const verifyOnlyKids = (ring: { verifyOnly?: readonly { kid: string }[] } | undefined) => (ring?.verifyOnly ?? []).map((key) => key.kid);

  it('fails no request and logs no one out, rotating twice in a row; --revoke-previous then ends old sessions within the cache age', async () => {
    const secretsPath = join(root, '.chatshyld', 'local', 'secrets.json');
    let freshTokens: { token: string; refreshToken: string } | undefined;
    // Round 2 starts right after round 1: no lifetime is waited out.
    for (const round of [1, 2]) {
      const ringBefore = await readSecretsFile(secretsPath);
      const parked = await login(`+1415555017${round === 1 ? 0 : 5}`); // a session left untouched through both rotations
      const failures: string[] = [];
      let requests = 0;
      let running = true;
      const clients = [1, 2, 3, 4].map(async (n) => {
        let session = await login(`+14155550${round}7${n}`);
        for (let i = 0; running; i++) {
          const me = await fetch(`${sandbox.url}/profile/me`, { headers: { authorization: `Bearer ${session.token}` } });
          requests += 1;
          if (me.status !== 200) failures.push(`GET /profile/me ${me.status} ${await me.text()}`);
          if (i % 3 === 2) {
            const refreshed = await post('/auth/refresh', { refreshToken: session.refreshToken });
            requests += 1;
            if (refreshed.status === 200) session = (await refreshed.json()) as typeof session;
            else failures.push(`POST /auth/refresh ${refreshed.status} ${await refreshed.text()}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 15));
        }
        return session;
      });

      const jwt = await cli('secrets', 'rotate', 'jwt-secret', '--stage', 'local', '--yes');
      expect(jwt.code, jwt.stderr).toBe(0);
      expect(jwt.stderr).toContain('published');
      expect(jwt.stderr).toMatch(/waiting for every reader \(\d+ s left\)/);
      expect(jwt.stderr).toMatch(/signing with \S+/);
      const pepper = await cli('secrets', 'rotate', 'refresh-pepper', '--stage', 'local', '--yes');
      expect(pepper.code, pepper.stderr).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 1500)); // traffic on the new keys
      running = false;
      const sessions = await Promise.all(clients);

      expect(failures, `round ${round}`).toEqual([]);
      expect(requests).toBeGreaterThan(100);

      const ringAfter = await readSecretsFile(secretsPath);
      const newKid = ringAfter['jwt-secret']!.current.kid;
      expect(newKid).not.toBe(ringBefore['jwt-secret']!.current.kid);
      // The key that signed before keeps verifying, and so does every key before it.
      expect(verifyOnlyKids(ringAfter['jwt-secret'])).toContain(ringBefore['jwt-secret']!.current.kid);
      expect(verifyOnlyKids(ringAfter['refresh-pepper'])).toContain(ringBefore['refresh-pepper']!.current.kid);
      for (const kid of verifyOnlyKids(ringBefore['refresh-pepper'])) expect(verifyOnlyKids(ringAfter['refresh-pepper'])).toContain(kid);
      // The CLI said "signing with" only once it was true: tokens issued now carry the new kid.
      const fresh = await post('/auth/refresh', { refreshToken: sessions[0]!.refreshToken });
      expect(fresh.status).toBe(200);
      freshTokens = (await fresh.json()) as { token: string; refreshToken: string };
      expect(kidOf(freshTokens.token)).toBe(newKid);
      // Every session survives: a refresh token issued before the pepper rotation still refreshes.
      const parkedRefresh = await post('/auth/refresh', { refreshToken: parked.refreshToken });
      expect(parkedRefresh.status, `round ${round}`).toBe(200);
      for (const session of sessions.slice(1)) {
        expect((await post('/auth/refresh', { refreshToken: session.refreshToken })).status, `round ${round}`).toBe(200);
      }
    }

    const oldToken = freshTokens!.token;
    // The emergency path: tokens signed before it stop working within the cache max age.
    expect((await fetch(`${sandbox.url}/profile/me`, { headers: { authorization: `Bearer ${oldToken}` } })).status).toBe(200);
    const revoked = await cli('secrets', 'rotate', 'jwt-secret', '--stage', 'local', '--revoke-previous', '--yes');
    expect(revoked.code, revoked.stderr).toBe(0);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 5000) {
      status = (await fetch(`${sandbox.url}/profile/me`, { headers: { authorization: `Bearer ${oldToken}` } })).status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(2500); // cache max age 1 s, plus slack for a loaded machine

    // Nothing the commands printed holds a key.
    const printed = outputs.map((output) => output.stdout + output.stderr).join('\n');
    for (const secret of await allKeySecrets(secretsPath)) expect(printed).not.toContain(secret);
  }, 120_000);
});

describe('chatshyld secrets on the sandbox file', () => {
  let root: string;
  beforeAll(async () => {
    root = await newProject();
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const cli = (args: string[], input?: string) =>
    input === undefined
      ? runCli(args, { cwd: root })
      : new Promise<CliResult>((resolve, reject) => {
          import('node:child_process').then(({ spawn }) => {
            const child = spawn(process.execPath, [join(process.cwd(), 'bin', 'chatshyld'), ...args], {
              cwd: root,
              env: { ...process.env, CI: 'true', NO_COLOR: '1' },
            });
            let stdout = '';
            let stderr = '';
            child.stdout.on('data', (chunk) => (stdout += chunk));
            child.stderr.on('data', (chunk) => (stderr += chunk));
            child.on('error', reject);
            child.on('close', (code) => resolve({ code, stdout, stderr, ms: 0 }));
            child.stdin.end(input);
          });
        });

  it('initializes, lists, sets, shows history and rolls back, never printing a value without --reveal', async () => {
    const outputs: CliResult[] = [];
    const record = async (result: Promise<CliResult>) => {
      const value = await result;
      outputs.push(value);
      return value;
    };
    const init = await record(cli(['secrets', 'init', '--stage', 'local']));
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('+ jwt-secret: created');
    expect(init.stdout).toContain('- twilio: not set');
    expect((await record(cli(['secrets', 'init', '--stage', 'local']))).stdout).toContain('= jwt-secret: kept');

    const list = await record(cli(['secrets', 'list', '--stage', 'local', '--json']));
    const listed = JSON.parse(list.stdout) as { name: string; wellFormed?: boolean; present?: boolean; fingerprint?: string }[];
    expect(listed.find((entry) => entry.name === 'jwt-secret')).toMatchObject({ wellFormed: true, fingerprint: expect.stringMatching(/^sha256:/) });
    expect(listed.find((entry) => entry.name === 'twilio')).toEqual({ name: 'twilio', present: false });
    await record(cli(['secrets', 'list', '--stage', 'local']));
    await record(cli(['secrets', 'get', 'jwt-secret', '--stage', 'local']));
    await record(cli(['secrets', 'get', 'refresh-pepper', '--stage', 'local', '--json']));

    const numbers = (code: string) =>
      JSON.stringify([{ phone: '+14155550123', code, expiresAt: new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString() }]);
    expect((await record(cli(['secrets', 'set', 'test-numbers', '--stage', 'local'], numbers('111111')))).code).toBe(0);
    expect((await record(cli(['secrets', 'set', 'test-numbers', '--stage', 'local'], numbers('222222')))).code).toBe(0);
    const bad = await record(cli(['secrets', 'set', 'test-numbers', '--stage', 'local'], '[{"phone":"nope"}]'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('nothing was written');
    // A fixed code of 4 or 5 digits falls to a few rounds of guessing: refused before it is stored.
    for (const short of ['1234', '12345']) {
      const weak = await record(cli(['secrets', 'set', 'test-numbers', '--stage', 'local'], numbers(short)));
      expect(weak.code).toBe(2);
      expect(weak.stderr).toContain('6-10 digits');
    }
    // Two spellings of one number, or a date Date.parse happens to accept: refused, nothing written.
    const later = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
    const twice = JSON.stringify([
      { phone: '+14155550123', code: '333333', expiresAt: later },
      { phone: '+114155550123', code: '444444', expiresAt: later },
    ]);
    const spelled = await record(cli(['secrets', 'set', 'test-numbers', '--stage', 'local'], twice));
    expect(spelled.code).toBe(2);
    expect(spelled.stderr).toContain('again (+14155550123)');
    const loose = JSON.stringify([{ phone: '+14155550123', code: '333333', expiresAt: 'Dec 25 2026' }]);
    expect((await record(cli(['secrets', 'set', 'test-numbers', '--stage', 'local'], loose))).code).toBe(2);

    const history = await record(cli(['secrets', 'history', 'test-numbers', '--stage', 'local', '--json']));
    expect((JSON.parse(history.stdout) as { version: number }[]).map((entry) => entry.version)).toEqual([1, 2, 3]);

    const unconfirmed = await record(cli(['secrets', 'rollback', 'test-numbers', '--stage', 'local', '--to-version', '2']));
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('pass --yes');
    const rolled = await record(cli(['secrets', 'rollback', 'test-numbers', '--stage', 'local', '--to-version', '2', '--yes']));
    expect(rolled.code).toBe(0);
    expect(rolled.stdout).toContain('version 4 holds version 2');
    const secretsPath = join(root, '.chatshyld', 'local', 'secrets.json');
    expect((await readSecretsFile(secretsPath))['test-numbers']![0]!.code).toBe('111111');

    // No key, and no test code, appears in anything printed so far.
    const printed = outputs.map((output) => output.stdout + output.stderr).join('\n');
    for (const secret of await allKeySecrets(secretsPath)) expect(printed).not.toContain(secret);
    expect(printed).not.toContain('111111');
    expect(printed).not.toContain('222222');

    // --reveal is the one way to see a value.
    const revealed = await cli(['secrets', 'get', 'jwt-secret', '--stage', 'local', '--reveal']);
    const current = (await readSecretsFile(secretsPath))['jwt-secret']!.current.secret;
    expect(revealed.stdout).toContain(current);
  }, 120_000); // fifteen CLI processes, one after another

  it('takes no value from the command line, and needs a stage and a known name', async () => {
    const argv = await cli(['secrets', 'set', 'twilio', '{"accountSid":"AC"}', '--stage', 'local']);
    expect(argv.code).toBe(2);
    expect(argv.stderr).toMatch(/too many arguments/);
    expect((await cli(['secrets', 'list'])).stderr).toContain('secrets belong to a stage');
    expect((await cli(['secrets', 'get', 'password', '--stage', 'local'])).stderr).toContain('unknown secret "password"');
    const twilio = await cli(['secrets', 'rotate', 'twilio', '--stage', 'local']);
    expect(twilio.code).toBe(2);
    expect(twilio.stderr).toContain('only key rings rotate');
    const restart = await cli(['secrets', 'rotate', 'jwt-secret', '--stage', 'local', '--restart-functions']);
    expect(restart.stderr).toContain('does not apply to the sandbox');
  });

  it('--dry-run changes nothing', async () => {
    const secretsPath = join(root, '.chatshyld', 'local', 'secrets.json');
    await cli(['secrets', 'init', '--stage', 'local']);
    const before = await readFile(secretsPath, 'utf8');
    const dry = await cli(['secrets', 'rotate', 'refresh-pepper', '--stage', 'local', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^dry run: refresh-pepper would publish/);
    expect(await readFile(secretsPath, 'utf8')).toBe(before);
  });
});

describe('smoke against a deployed stage', () => {
  const ssm = mockClient(SSMClient);
  // The stage's own account: secrets are read only after this check.
  const sts = mockClient(STSClient);
  const testNumbers = [{ phone: '+14155550188', code: '135790', expiresAt: new Date(Date.now() + 86_400_000).toISOString() }];
  let root: string;
  let sandbox: Sandbox;
  beforeEach(() => {
    sts.reset();
    sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111' });
    ssm.reset();
    ssm
      .on(GetParameterHistoryCommand, { Name: '/chatshyld/dev/test-numbers', WithDecryption: true })
      .resolves({ Parameters: [{ Version: 1, Value: JSON.stringify(testNumbers) }] });
  });
  beforeAll(async () => {
    root = await newProject();
    // A sandbox stands in for the deployed API; it knows the same test number as "SSM".
    const stateDir = join(root, 'api-state');
    sandbox = await startSandbox({ stateDir });
    await writeSecretsFile(join(stateDir, 'secrets.json'), { ...(await readSecretsFile(join(stateDir, 'secrets.json'))), 'test-numbers': testNumbers });
    await mkdir(join(root, '.chatshyld', 'outputs'), { recursive: true });
    await writeFile(join(root, '.chatshyld', 'outputs', 'dev.json'), JSON.stringify({ ApiUrl: sandbox.url }));
  });
  afterAll(async () => {
    ssm.restore();
    sts.restore();
    await sandbox?.close();
    await rm(root, { recursive: true, force: true });
  });

  const smokeDev = () => runInProcess(['smoke', '--stage', 'dev', '--json'], root);

  it("signs in with the stage's test number from the test-numbers secret", async () => {
    const { code, stdout, stderr } = await smokeDev();
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.passed).toBe(true);
    expect(ssm.commandCalls(GetParameterHistoryCommand)).toHaveLength(1);
    expect(stdout).not.toContain('135790');
  });

  it('refuses, exit 2, rather than send a real SMS when the stage has no unexpired test number', async () => {
    ssm.on(GetParameterHistoryCommand, { Name: '/chatshyld/dev/test-numbers', WithDecryption: true }).resolves({
      Parameters: [{ Version: 2, Value: JSON.stringify([{ phone: '+14155550188', code: '135790', expiresAt: '2020-01-01T00:00:00Z' }]) }],
    });
    const sends = sandbox.outbox.latest('+14155550188');
    const { code, stdout, stderr } = await smokeDev();
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('stage dev has no unexpired test number');
    expect(stderr).toContain('chatshyld secrets set test-numbers --stage dev');
    expect(sandbox.outbox.latest('+14155550188')).toEqual(sends);
  });
});

describe('interrupting a rotation', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'chatshyld-secrets-sigint-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const useCacheSeconds = (secretsCacheSeconds: number) =>
    writeFile(join(root, 'chatshyld.config.json'), JSON.stringify({ ...config, stages: { ...config.stages, local: { secretsCacheSeconds } } }));

  it.each(['SIGINT', 'SIGTERM'] as const)('%s during the wait stops at once with 130, the new key published verify-only; run again, it resumes', async (signal) => {
    // A cache of 60 s: the wait would last 66 s.
    await useCacheSeconds(60);
    expect((await runCli(['secrets', 'init', '--stage', 'local'], { cwd: root })).code).toBe(0);
    const secretsPath = join(root, '.chatshyld', 'local', 'secrets.json');
    const before = (await readSecretsFile(secretsPath))['jwt-secret']!;

    const { child, result } = startCli(['secrets', 'rotate', 'jwt-secret', '--stage', 'local'], { cwd: root });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk) => {
        stderr += chunk;
        if (/waiting for every reader \(\d+ s left\)/.test(stderr)) resolve();
      });
      child.on('close', () => reject(new Error(`exited before waiting: ${stderr}`)));
    });
    const sentAt = Date.now();
    child.kill(signal);
    const interrupted = await result;
    const stoppedWithin = Date.now() - sentAt;
    expect(interrupted.code).toBe(130);
    expect(stoppedWithin).toBeLessThan(10_000); // not the 66 s the wait had left
    expect(interrupted.stderr).toMatch(/interrupted: \S+ is published \(verify only\); the signing key is unchanged/);

    const published = (await readSecretsFile(secretsPath))['jwt-secret']!;
    expect(published.current).toEqual(before.current);
    const pending = (published.verifyOnly ?? []).filter((key) => key.retiredAt === undefined);
    expect(pending).toHaveLength(1);
    // Nothing promotes it behind our back.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await readSecretsFile(secretsPath))['jwt-secret']!.current).toEqual(before.current);

    // Run again (with a short cache, so the rest of the wait is seconds): it resumes with that key.
    await useCacheSeconds(1);
    const resumed = await runCli(['secrets', 'rotate', 'jwt-secret', '--stage', 'local'], { cwd: root, timeoutMs: 30_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`resuming the rotation to ${pending[0]!.kid}`);
    const after = (await readSecretsFile(secretsPath))['jwt-secret']!;
    expect(after.current.kid).toBe(pending[0]!.kid);
    expect((after.verifyOnly ?? []).map((key) => key.kid)).toContain(before.current.kid);
  }, 90_000);

  it('SIGINT while waiting for another writer\'s lock stops at once with 130 and writes nothing', async () => {
    expect((await runCli(['secrets', 'init', '--stage', 'local'], { cwd: root })).code).toBe(0);
    const secretsPath = join(root, '.chatshyld', 'local', 'secrets.json');
    const before = await readFile(secretsPath, 'utf8');
    // Another admin's live lock, held well past this test.
    const lease = new Date(Date.now() + 120_000).toISOString();
    await writeFile(`${secretsPath}.lock`, JSON.stringify({ owner: 'someone else, pid 1', token: 'theirs', leaseUntil: lease }));
    const { child, result } = startCli(['secrets', 'rotate', 'jwt-secret', '--stage', 'local'], { cwd: root });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const sentAt = Date.now();
    child.kill('SIGINT');
    const interrupted = await result;
    expect(interrupted.code, interrupted.stderr).toBe(130);
    expect(Date.now() - sentAt).toBeLessThan(5_000); // not the rest of the 30 s lock wait
    // The wait was not silent: it named who holds the lock and for how long it would wait.
    expect(interrupted.stderr).toMatch(/secrets\.json is being changed by someone else, pid 1 \(lease until .*\); waiting up to 30 s/);
    // Their lock is theirs still, and the ring is as it was: nothing published, nothing promoted.
    await rm(`${secretsPath}.lock`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await readFile(secretsPath, 'utf8')).toBe(before);
  }, 60_000);
});

describe('history and rollback remember revocations', () => {
  let root: string;
  beforeAll(async () => {
    root = await newProject();
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const cli = (...args: string[]) => runCli(args, { cwd: root, timeoutMs: 30_000 });

  it('marks the revocation and the revoked keys, and refuses a rollback that would bring one back unless --allow-revoked --yes', async () => {
    expect((await cli('secrets', 'init', '--stage', 'local')).code).toBe(0);
    const secretsPath = join(root, '.chatshyld', 'local', 'secrets.json');
    const first = (await readSecretsFile(secretsPath))['jwt-secret']!.current.kid;
    expect((await cli('secrets', 'rotate', 'jwt-secret', '--stage', 'local')).code).toBe(0); // versions 2, 3
    const second = (await readSecretsFile(secretsPath))['jwt-secret']!.current.kid;
    const backup = join(root, 'jwt-backup.json');
    await writeFile(backup, JSON.stringify((await readSecretsFile(secretsPath))['jwt-secret']));
    const revoke = await cli('secrets', 'rotate', 'jwt-secret', '--stage', 'local', '--revoke-previous', '--yes'); // version 4
    expect(revoke.code, revoke.stderr).toBe(0);

    const history = JSON.parse((await cli('secrets', 'history', 'jwt-secret', '--stage', 'local', '--json')).stdout) as {
      version: number;
      note?: string;
      revokedKids?: string[];
    }[];
    expect(history.map((entry) => entry.version)).toEqual([1, 2, 3, 4]);
    expect(history[3]!.note).toMatch(new RegExp(`^REVOCATION of (${first}, ${second}|${second}, ${first})$`));
    expect(history[0]!.revokedKids).toEqual([first]);
    expect(history[2]!.revokedKids!.sort()).toEqual([first, second].sort());
    expect(history[3]!.revokedKids).toEqual([]);
    const table = (await cli('secrets', 'history', 'jwt-secret', '--stage', 'local')).stdout;
    expect(table).toContain('REVOCATION of');
    expect(table).toMatch(new RegExp(`holds revoked ${first} \\(revoked \\d{4}-`));

    // An old backup written back by `secrets set` follows the same rule as a rollback.
    const setBack = await cli('secrets', 'set', 'jwt-secret', '--stage', 'local', '--from-file', backup, '--yes');
    expect(setBack.code, setBack.stderr).toBe(2);
    expect(setBack.stderr).toMatch(new RegExp(`the new jwt-secret holds revoked key\\(s\\) .*${second} \\(revoked \\d{4}-`));
    expect((await cli('secrets', 'history', 'jwt-secret', '--stage', 'local', '--json')).stdout).not.toContain('"version": 5');

    const refused = await cli('secrets', 'rollback', 'jwt-secret', '--stage', 'local', '--to-version', '3', '--yes');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`holds revoked key\\(s\\) .*${second} \\(revoked \\d{4}-\\d\\d-\\d\\dT`));
    expect(refused.stderr).toContain('--allow-revoked');
    const noYes = await cli('secrets', 'rollback', 'jwt-secret', '--stage', 'local', '--to-version', '3', '--allow-revoked');
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toContain('needs --yes');
    expect((await cli('secrets', 'history', 'jwt-secret', '--stage', 'local', '--json')).stdout).not.toContain('"version": 5');

    const allowed = await cli('secrets', 'rollback', 'jwt-secret', '--stage', 'local', '--to-version', '3', '--allow-revoked', '--yes');
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toContain(`bringing back revoked key(s)`);
    expect((await readSecretsFile(secretsPath))['jwt-secret']!.current.kid).toBe(second);
  }, 120_000);

  it('refuses a key with trivially low entropy', async () => {
    const weak = (secret: Buffer) =>
      new Promise<CliResult>((resolve, reject) => {
        import('node:child_process').then(({ spawn }) => {
          const child = spawn(process.execPath, [join(process.cwd(), 'bin', 'chatshyld'), 'secrets', 'set', 'jwt-secret', '--stage', 'local'], {
            cwd: root,
            env: { ...process.env, CI: 'true', NO_COLOR: '1' },
          });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (chunk) => (stdout += chunk));
          child.stderr.on('data', (chunk) => (stderr += chunk));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, stdout, stderr, ms: 0 }));
          child.stdin.end(JSON.stringify({ current: { kid: 'weak', secret: secret.toString('base64url'), createdAt: new Date().toISOString() } }));
        });
      });
    const zeros = await weak(Buffer.alloc(32));
    expect(zeros.code).toBe(2);
    expect(zeros.stderr).toContain('key weak is too predictable');
    expect(zeros.stderr).toContain('nothing was written');
    expect((await weak(Buffer.from('0123456789abcdef'.repeat(4)))).stderr).toContain('too predictable');
  }, 60_000);
});
