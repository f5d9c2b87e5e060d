import { randomBytes } from 'node:crypto';
import { readFile, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from './config-schema.js';
import { parseConfig } from './config.js';
import { runCli, startCli } from './testing/run-cli.js';

const repoRoot = new URL('../', import.meta.url);

describe('chatshyld, the command line', () => {
  let project: string;
  beforeAll(async () => {
    project = await mkdtemp(join(tmpdir(), 'chatshyld-cli-'));
  });
  afterAll(async () => {
    await rm(project, { recursive: true, force: true });
  });

  const writeConfig = async (config: unknown) => {
    const directory = await mkdtemp(join(project, 'p-'));
    await writeFile(join(directory, 'chatshyld.config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    return directory;
  };
  const validConfig = () => JSON.parse(JSON.stringify({ project: 'demo', stages: { dev: { account: '111111111111', region: 'eu-west-1' } } }));

  it('shows help with examples for the program and every command, exit 0', async () => {
    for (const args of [['--help'], ['dev', '--help'], ['smoke', '--help'], ['help', 'smoke']]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toContain('Examples:');
      expect(result.stdout).toContain('$ chatshyld');
    }
  });

  it('lists the global options in every command\'s help, and gives the real default port', async () => {
    for (const args of [['doctor', '--help'], ['secrets', 'list', '--help'], ['smoke', '--help']]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(0);
      for (const option of ['--stage', '--profile', '--region', '--json', '--verbose', '--no-color', '--yes']) {
        expect(result.stdout, `${args.join(' ')} ${option}`).toContain(option);
      }
    }
    const top = await runCli(['--help']);
    expect(top.stdout).not.toMatch(/chatshyld dev\s+# the sandbox on a free port/);
    expect(top.stdout).toContain('port 3000');
  });

  it('prints its version', async () => {
    const { version } = JSON.parse(await readFile(new URL('package.json', repoRoot), 'utf8'));
    const result = await runCli(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('answers an unknown command or option with exit 2 and a hint', async () => {
    for (const args of [['deplyo'], ['smoke', '--bogus'], ['--nope'], ['dev', '--port', 'abc'], ['smoke', '--timeout', '-1'], ['smoke', '--local', '--timeout', '99999999999']]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^error: /);
      expect(result.stderr).toContain('hint:');
      expect(result.stdout).toBe('');
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('refuses bad stage names and ambiguous or missing smoke targets with exit 2', async () => {
    const cases = [
      [['smoke'], /say what to check/],
      [['smoke', '--local', '--url', 'http://127.0.0.1:1'], /pass only one/],
      [['smoke', '--stage', 'Prod'], /stage name "Prod" must match/],
      [['smoke', '--url', 'ftp://x'], /http or https/],
      [['smoke', '--local', '--reporter', 'pretty,tap'], /unknown reporter: tap/],
      [['smoke', '--local', '--phone', '12345'], /E\.164/],
      [['smoke', '--local', '--code', '12'], /4-10 digits/],
    ] as const;
    for (const [args, message] of cases) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });

  it('names the file, the field and the fix for every config mistake', async () => {
    const badRegion = validConfig();
    badRegion.stages.dev.region = 'moon-1';
    const unknownField = validConfig();
    unknownField.stages.dev.regoin = 'eu-west-1';
    const badStageName = validConfig();
    badStageName.stages.Prod = {};
    const cases: [unknown, RegExp][] = [
      [badRegion, /chatshyld\.config\.json: stages\.dev\.region must match .*for example eu-west-1/],
      [unknownField, /chatshyld\.config\.json: stages\.dev: unknown field "regoin"/],
      [badStageName, /chatshyld\.config\.json: stage name "Prod" must match/],
      [{ stages: {} }, /chatshyld\.config\.json: missing field "project"/],
      ['{ "project": ', /chatshyld\.config\.json is not valid JSON/],
    ];
    for (const [config, message] of cases) {
      const cwd = await writeConfig(config);
      const result = await runCli(['smoke', '--stage', 'dev', '--phone', '+14155550123', '--code', '123456'], { cwd });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/hint: fix/);
    }
  });

  it('refuses to smoke a stage that ignores test numbers without --phone and --code, before asking AWS: it would send a real SMS', async () => {
    for (const stage of [{ protected: true }, { allowTestNumbers: false }]) {
      const cwd = await writeConfig({ project: 'demo', stages: { live: { account: '111111111111', region: 'eu-west-1', ...stage } } });
      // No credentials and no endpoint: an AWS call would fail otherwise than this refusal.
      const result = await runCli(['smoke', '--stage', 'live'], { cwd, env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' } });
      expect(result.code, JSON.stringify(stage)).toBe(2);
      expect(result.stderr).toContain('stage live does not honour test numbers (allowTestNumbers is off), so smoke would send a real SMS');
      expect(result.stderr).toMatch(/hint: pass --phone and --code/);
    }
  });

  it('resolves the stage from CHATSHYLD_STAGE and says which stages exist', async () => {
    const cwd = await writeConfig(validConfig());
    const result = await runCli(['smoke', '--phone', '+14155550123', '--code', '123456'], {
      cwd,
      env: { CHATSHYLD_STAGE: 'qa' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('stage "qa" is not in');
    expect(result.stderr).toContain('use one of: dev');
  });

  it('finds the config from a subfolder and reads the stage outputs beside it', async () => {
    const cwd = await writeConfig(validConfig());
    await mkdir(join(cwd, 'app', 'lib'), { recursive: true });
    // No saved outputs: smoke asks CloudFormation (here a closed port on loopback), and says both.
    const missing = await runCli(['smoke', '--stage', 'dev', '--phone', '+14155550123', '--code', '123456'], {
      cwd: join(cwd, 'app', 'lib'),
      env: {
        AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_EC2_METADATA_DISABLED: 'true',
        CHATSHYLD_AWS_MAX_ATTEMPTS: '1',
      },
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no saved outputs for stage dev');
    expect(missing.stderr).toContain('its stack could not be read: could not reach AWS');
    expect(missing.stderr).toContain('chatshyld deploy --stage dev');

    await mkdir(join(cwd, '.chatshyld', 'outputs'), { recursive: true });
    await writeFile(join(cwd, '.chatshyld', 'outputs', 'dev.json'), JSON.stringify({ ApiUrl: 'http://127.0.0.1:9/' }));
    const unreachable = await runCli(['smoke', '--stage', 'dev', '--phone', '+14155550123', '--code', '123456'], {
      cwd: join(cwd, 'app'),
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toContain('could not connect to http://127.0.0.1:9');
  });

  it('ships a schema file equal to the one it validates with, and a valid starting config', async () => {
    const shipped = JSON.parse(await readFile(new URL('chatshyld.config.schema.json', repoRoot), 'utf8'));
    expect(shipped).toEqual(JSON.parse(JSON.stringify(configSchema)));
    const config = parseConfig(await readFile(new URL('chatshyld.config.json', repoRoot), 'utf8'), 'chatshyld.config.json');
    expect(Object.keys(config.stages)).toEqual(['dev', 'staging', 'prod']);
    expect(config.stages.prod).toMatchObject({ protected: true, allowTestNumbers: false });
  });

  /** The module URLs a CLI run resolves, recorded by a loader hook. */
  const loadedModules = async (args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}) => {
    const directory = await mkdtemp(join(project, 'loads-'));
    const hook = join(directory, 'record-loads.mjs');
    const log = join(directory, 'loads.txt');
    await writeFile(
      hook,
      `import { register } from 'node:module';\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(
        `import { appendFileSync } from 'node:fs';export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }`,
      )}`)});\n`,
    );
    const result = await runCli(args, { ...options, nodeArgs: ['--import', hook], timeoutMs: 60_000 });
    const loaded = await readFile(log, 'utf8');
    return { result, loaded, sources: await sourcesIn(loaded) };
  };

  /**
   * The source files whose code a run loaded: the CLI runs a build of the working tree
   * (node_modules/.cache/chatshyld/builds/<key>/), whose inputs.json says which sources each file holds.
   */
  const sourcesIn = async (loaded: string) => {
    const sources = new Set<string>();
    for (const [, build, file] of loaded.matchAll(/\/node_modules\/\.cache\/chatshyld\/builds\/([0-9a-f]+)\/(\S+)/g)) {
      const inputs = JSON.parse(await readFile(new URL(`node_modules/.cache/chatshyld/builds/${build}/inputs.json`, repoRoot), 'utf8')) as Record<string, string[]>;
      for (const source of inputs[file!] ?? []) sources.add(source);
    }
    return [...sources];
  };

  it('loads no AWS SDK, emulator, HTTP client or validator for --help', async () => {
    const { result, loaded, sources } = await loadedModules(['--help']);
    expect(result.code).toBe(0);
    expect(sources).toContain('cli/main.ts');
    // commander is bundled into the main chunk, which every start loads.
    expect(sources.some((source) => source.includes('node_modules/commander/'))).toBe(true);
    for (const heavy of ['@aws-sdk', 'aws-cdk-lib', 'dynalite', 's3rver', 'undici', 'ajv', 'twilio', 'inquirer', 'playwright']) {
      expect(loaded, heavy).not.toContain(heavy);
    }
    // The sandbox console (its server, log formatting, the browser driver of its tests) loads only with `dev`.
    expect(sources.filter((source) => source.startsWith('service/') || ['cli/commands/dev.ts', 'cli/sandbox-log.ts'].includes(source))).toEqual([]);
  });

  it('never loads aws-cdk-lib or the toolkit in commands that do not deploy', async () => {
    const cwd = await writeConfig(validConfig());
    const closedAws = { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_EC2_METADATA_DISABLED: 'true', AWS_MAX_ATTEMPTS: '1' };
    for (const args of [
      ['status', '--stage', 'dev'],
      ['logs', '--stage', 'dev'],
      ['doctor', '--stage', 'dev'],
      ['secrets', 'list', '--stage', 'local'],
      ['users', 'find', '+14155550123', '--stage', 'dev'],
      ['users', 'audit', '--stage', 'local'],
      ['smoke', '--url', 'http://127.0.0.1:9'],
      ['init', '--stage', 'dev', '--account', '123456789012', '--region', 'eu-west-1', '--force'],
      ['deploy', '--help'],
    ]) {
      const { loaded, sources } = await loadedModules(args, { cwd, env: closedAws });
      expect(sources, args.join(' ')).toContain('cli/main.ts');
      expect(loaded, args.join(' ')).not.toContain('aws-cdk-lib');
      expect(loaded, args.join(' ')).not.toContain('@aws-cdk/toolkit-lib');
    }
    // The check can see the CDK when a command does load it.
    const { result, loaded } = await loadedModules(['synth', '--stage', 'dev', '--out', join(cwd, 'cdk.out')], { cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(loaded).toContain('aws-cdk-lib');
  }, 120_000);
});

/** The `--json` ready document of a `dev` child. */
function readyLine(child: import('node:child_process').ChildProcess): Promise<{ url: string; consoleUrl: string }> {
  return new Promise((resolve) => {
    let text = '';
    child.stdout!.on('data', (chunk) => {
      text += chunk;
      try {
        resolve(JSON.parse(text));
      } catch {
        // not all of it yet
      }
    });
  });
}

describe('chatshyld dev', () => {
  it('prints the ready line, logs requests and OTP codes, and exits 0 on Ctrl-C', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'chatshyld-dev-'));
    try {
      const { child, result } = startCli(['dev', '--port', '0', '--json'], { cwd });
      const ready = await readyLine(child);
      expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      // The CLI, run from the working tree, serves the console's shipped files.
      expect(ready.consoleUrl).toBe(`${ready.url}/__sandbox/`);
      const page = await fetch(ready.consoleUrl);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('/__sandbox/assets/console.js');
      for (const asset of ['console.js', 'console.css']) expect((await fetch(`${ready.url}/__sandbox/assets/${asset}`)).status).toBe(200);
      expect((await fetch(`${ready.url}/__sandbox`, { redirect: 'manual' })).status).toBe(308);
      const sent = await fetch(`${ready.url}/auth/send-otp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone: '+14155550123' }),
      });
      expect(sent.status).toBe(200);
      const { code } = (await (await fetch(`${ready.url}/__sandbox/otp/%2B14155550123`)).json()) as { code: string };
      child.kill('SIGINT');
      const { code: exitCode, stderr } = await result;
      expect(exitCode).toBe(0);
      expect(stderr).toContain(`OTP for +14155550123: ${code}`);
      expect(stderr).toMatch(/POST\s+\/auth\/send-otp 200/);
      // The console's own traffic, its redirect included, is printed only with --verbose.
      expect(stderr).not.toMatch(/GET\s+\/__sandbox(\/|\s)(?!otp)/);
      expect(stderr).toContain('closing the sandbox');
      const secrets = JSON.parse(await readFile(join(cwd, '.chatshyld', 'local', 'secrets.json'), 'utf8'));
      expect(Object.keys(secrets.secrets)).toEqual(['jwt-secret', 'refresh-pepper', 'twilio', 'test-numbers']);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('prints under a 500 why it failed: a truncated secrets file, a key ring of the wrong shape', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'chatshyld-dev-'));
    try {
      const { child, result } = startCli(['dev', '--port', '0', '--json'], { cwd });
      const ready = await readyLine(child);
      const secretsPath = join(cwd, '.chatshyld', 'local', 'secrets.json');
      const good = await readFile(secretsPath, 'utf8');
      const post = (path: string, body: unknown) =>
        fetch(`${ready.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

      await writeFile(secretsPath, good.slice(0, 40));
      expect((await post('/auth/send-otp', { phone: '+14155550123' })).status).toBe(500);

      await writeFile(secretsPath, good);
      expect((await post('/auth/send-otp', { phone: '+14155550123' })).status).toBe(200);
      const { code } = (await (await fetch(`${ready.url}/__sandbox/otp/%2B14155550123`)).json()) as { code: string };
      const document = JSON.parse(good);
      document.secrets['jwt-secret'] = { current: { kid: 'short', secret: 'c2hvcnQ', createdAt: '2026-01-01T00:00:00Z' } };
      await writeFile(secretsPath, JSON.stringify(document));
      const login = await post('/auth/verify-otp', { phone: '+14155550123', code });
      expect(login.status).toBe(500);
      expect(JSON.stringify(await login.json())).not.toContain('jwt-secret');

      child.kill('SIGINT');
      const { stderr } = await result;
      const under = (line: RegExp) => {
        const lines = stderr.split('\n');
        const at = lines.findIndex((text) => line.test(text));
        expect(at, stderr).toBeGreaterThanOrEqual(0);
        const block: string[] = [];
        for (const text of lines.slice(at + 1)) {
          if (!text.startsWith(' ')) break;
          block.push(text);
        }
        return block.join('\n');
      };
      expect(under(/POST\s+\/auth\/send-otp 500/)).toMatch(/error unhandled error[\s\S]*secrets file .*secrets\.json is damaged/);
      expect(under(/POST\s+\/auth\/verify-otp 500/)).toMatch(/jwt-secret/);
      // The cause names the file and the fix, not only what is wrong.
      expect(under(/POST\s+\/auth\/verify-otp 500/)).toMatch(/secrets file .*secrets\.json[\s\S]*restore it from a copy, or delete it/);
      // The developer's own code stays out of the terminal: codes and tokens are printed only as the outbox line.
      expect(stderr.split(code).length - 1).toBe(1);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('prints the console URL on the ready line, and the package ships the console files', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'chatshyld-dev-'));
    try {
      const { child, result } = startCli(['dev', '--port', '0'], { cwd });
      const line = await new Promise<string>((resolve) => {
        let text = '';
        child.stdout!.on('data', (chunk) => {
          text += chunk;
          if (text.includes('\n')) resolve(text.split('\n')[0]!);
        });
      });
      child.kill('SIGINT');
      await result;
      expect(line).toMatch(/^ChatShyld sandbox ready at (http:\/\/127\.0\.0\.1:\d+) · console \1\/__sandbox\/$/);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
    const { execFile } = await import('node:child_process');
    const packed = await new Promise<string>((resolve, reject) =>
      execFile('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: new URL('.', repoRoot).pathname }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    const files = (JSON.parse(packed) as { files: { path: string }[] }[])[0]!.files.map((file) => file.path);
    const { readdir } = await import('node:fs/promises');
    const assets = await readdir(new URL('../service/local/console-assets/', import.meta.url));
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) expect(files).toContain(`service/local/console-assets/${asset}`);
    expect(files).toContain('dist/service/local/console.js');
  }, 60_000);

  it('refuses to start on a secrets file whose key rings are of the wrong shape, missing or weak, exit 2', async () => {
    const key = (secret: string) => ({ kid: 'k1', secret, createdAt: '2026-01-01T00:00:00Z' });
    const strong = randomBytes(32).toString('base64url');
    for (const [secrets, ring] of [
      [{ 'jwt-secret': 'abc', 'refresh-pepper': { current: key(strong) } }, 'jwt-secret'],
      [{ 'jwt-secret': { current: key('c2hvcnQ') }, 'refresh-pepper': { current: key(strong) } }, 'jwt-secret'],
      [{ 'jwt-secret': { current: key(strong) } }, 'refresh-pepper'],
    ] as const) {
      const cwd = await mkdtemp(join(tmpdir(), 'chatshyld-dev-'));
      try {
        await mkdir(join(cwd, '.chatshyld', 'local'), { recursive: true });
        await writeFile(join(cwd, '.chatshyld', 'local', 'secrets.json'), JSON.stringify({ secrets }));
        const result = await runCli(['dev', '--port', '0'], { cwd });
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toContain(join('.chatshyld', 'local', 'secrets.json'));
        expect(result.stderr).toContain(ring);
        expect(result.stderr).toMatch(/restore it from a copy, or delete it/);
        expect(result.stdout + result.stderr).not.toMatch(/ready/i);
      } finally {
        await rm(cwd, { recursive: true, force: true });
      }
    }
  }, 60_000);

  it('says when the port is taken, exit 2', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    const cwd = await mkdtemp(join(tmpdir(), 'chatshyld-dev-'));
    try {
      const result = await runCli(['dev', '--port', String(port)], { cwd });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`port ${port} on 127.0.0.1 is in use`);
      expect(result.stderr).toContain('--port 0');
    } finally {
      blocker.close();
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
