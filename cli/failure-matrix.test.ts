/**
 * The failure matrix: the built CLI, run as a user would run it, against every condition a user
 * can cause — no credentials, an AWS endpoint that never answers, a refused connection, a name
 * that does not resolve, output closed early, no terminal, Ctrl-C in a prompt and during work,
 * unwritable output paths, damaged local state. Every case must end by itself, exit with the code
 * docs/cli.md documents, print no stack trace, and say what to do next.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../infra/testing/synth.js';
import { binPath } from './testing/run-cli.js';
import { canUseTerminal, runOnTerminal } from './testing/terminal.js';

const trace = /This is a bug|unexpected error|^\s+at .+:\d+:\d+\)?$|EPIPE/m;
/** Generous: the SDK bounds below make every AWS case end in a few seconds. */
const bound = 60_000;

interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

let root: string;
let home: string;
let scratch: string;
let tarpit: Server;
const held: Socket[] = [];
let tarpitUrl: string;
let refusedUrl: string;

/** The environment of every case: nothing of the developer's AWS setup, short SDK bounds. */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(AWS_|CHATSHYLD_|CI$|FORCE_COLOR$|GITHUB_STEP_SUMMARY$)/.test(key)) env[key] = value;
  }
  return {
    ...env,
    HOME: home,
    TMPDIR: scratch,
    CI: 'true',
    NO_COLOR: '1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    CHATSHYLD_AWS_CONNECT_TIMEOUT_MS: '500',
    CHATSHYLD_AWS_REQUEST_TIMEOUT_MS: '800',
    CHATSHYLD_AWS_MAX_ATTEMPTS: '2',
    ...extra,
  };
}

function run(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; closeStdout?: boolean; interruptAfter?: RegExp } = {}): Promise<Outcome> {
  const child = spawn(process.execPath, [binPath, ...args], {
    cwd: options.cwd ?? root,
    env: options.env ?? baseEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  // The reader goes away before the CLI writes anything, as with `| head -0`.
  if (options.closeStdout) child.stdout.destroy();
  else child.stdout.on('data', (chunk) => (stdout += chunk));
  let interrupted = false;
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (options.interruptAfter && !interrupted && options.interruptAfter.test(stderr)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chatshyld ${args.join(' ')} was still running after ${bound} ms\nstderr: ${stderr}`));
    }, bound);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs the CLI on a pseudo-terminal, answers its first prompt with Ctrl-C. */
async function ctrlCInPrompt(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  const run = await runOnTerminal(args, { cwd: root, env, prompt: '?', answer: '\\x03', timeoutMs: 40_000 });
  return { code: run.code, signal: run.signal, stdout: run.output, stderr: run.stderr };
}

const python = canUseTerminal;

function expectClean(outcome: Outcome, code: number, label: string) {
  const all = `${outcome.stdout}\n${outcome.stderr}`;
  expect(outcome.signal, label).toBeNull();
  expect(outcome.code, `${label}\n${all}`).toBe(code);
  expect(all, label).not.toMatch(trace);
}

/** What to do next: a hint, or doctor's fix lines. */
function expectAdvice(outcome: Outcome, label: string) {
  expect(`${outcome.stdout}\n${outcome.stderr}`, label).toMatch(/hint: |fix: /);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'chatshyld-matrix-'));
  home = join(root, 'home');
  scratch = join(root, 'tmp');
  await mkdir(home);
  await mkdir(scratch);
  await copyFile(join(repoRoot, 'chatshyld.config.json'), join(root, 'chatshyld.config.json'));
  tarpit = createServer((socket) => {
    held.push(socket); // accepted, never answered
  });
  await new Promise<void>((resolve) => tarpit.listen(0, '127.0.0.1', resolve));
  tarpitUrl = `http://127.0.0.1:${(tarpit.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  refusedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));
  await mkdir(join(root, '.chatshyld', 'outputs'), { recursive: true });
  await writeFile(join(root, '.chatshyld', 'outputs', 'dev.json'), JSON.stringify({ ApiUrl: refusedUrl }));
  await writeFile(
    join(root, 'twilio.json'),
    JSON.stringify({ accountSid: `AC${'a'.repeat(32)}`, authToken: 'b'.repeat(32), verifyServiceSid: `VA${'c'.repeat(32)}` }),
  );
});

afterAll(async () => {
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => tarpit.close(resolve));
  await rm(root, { recursive: true, force: true });
});

/** Every command that talks to AWS, ready to reach its first AWS call. */
const awsCommands: readonly (readonly string[])[] = [
  ['status', '--stage', 'dev'],
  ['logs', '--stage', 'dev'],
  ['doctor', '--stage', 'dev'],
  ['bootstrap', '--stage', 'dev'],
  ['diff', '--stage', 'dev', '--fail'],
  ['destroy', '--stage', 'dev', '--yes'],
  ['deploy', '--stage', 'dev'],
  ['deploy', '--stage', 'prod', '--yes'],
  ['secrets', 'list', '--stage', 'dev'],
  ['secrets', 'get', 'jwt-secret', '--stage', 'dev'],
  ['secrets', 'set', 'twilio', '--stage', 'dev', '--from-file', 'twilio.json'],
  ['secrets', 'rotate', 'jwt-secret', '--stage', 'dev'],
  ['secrets', 'history', 'jwt-secret', '--stage', 'dev'],
  ['secrets', 'rollback', 'jwt-secret', '--stage', 'dev', '--to-version', '1'],
  ['secrets', 'init', '--stage', 'dev'],
  ['smoke', '--stage', 'dev'],
];

/** Runs the cases a few at a time: fast enough on two shared cores, and each still bounded. */
async function inBatches<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += size) {
    results.push(...(await Promise.all(items.slice(start, start + size).map(work))));
  }
  return results;
}

describe('the failure matrix', () => {
  const conditions = () =>
    [
      // Missing credentials are the caller's to fix: 2 (doctor reports a failed check: 1).
      { name: 'no credentials', env: baseEnv(), code: 2, says: /no AWS credentials found/ },
      { name: 'an endpoint that never answers', env: baseEnv({ AWS_ACCESS_KEY_ID: 'AKIAFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_ENDPOINT_URL: tarpitUrl }), code: 1, says: /did not answer|timed out/ },
      { name: 'a refused connection', env: baseEnv({ AWS_ACCESS_KEY_ID: 'AKIAFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_ENDPOINT_URL: refusedUrl }), code: 1, says: /connection was refused/ },
      { name: 'a name that does not resolve', env: baseEnv({ AWS_ACCESS_KEY_ID: 'AKIAFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_ENDPOINT_URL: 'http://nosuch.invalid' }), code: 1, says: /does not resolve/ },
    ] as const;

  it(
    'every AWS command, under every network and credentials failure, ends by itself with its documented code, one line and a hint',
    async () => {
      const cases = conditions().flatMap((condition) => awsCommands.map((args) => ({ condition, args })));
      const outcomes = await inBatches(cases, 4, async ({ condition, args }) => ({ condition, args, outcome: await run(args, { env: condition.env }) }));
      for (const { condition, args, outcome } of outcomes) {
        const label = `${args.join(' ')} with ${condition.name}`;
        expectClean(outcome, args[0] === 'doctor' ? 1 : condition.code, label);
        expectAdvice(outcome, label);
        expect(`${outcome.stdout}${outcome.stderr}`, label).toMatch(condition.says);
        // It said what it was doing before it waited.
        expect(outcome.stderr, label).toMatch(/…/);
        // Fake keys offline are not a sign-in problem.
        if (condition.code === 1) expect(`${outcome.stdout}${outcome.stderr}`, label).not.toMatch(/sso login/);
      }
    },
    20 * bound,
  );

  it('a credential source that never answers (a hung credential_process, a silent container endpoint) is given up on, named', async () => {
    const config = join(root, 'hung-credentials.ini');
    await writeFile(config, '[profile hung]\ncredential_process = sleep 30\n');
    const sources = [
      { name: 'credential_process', extra: ['--profile', 'hung'], env: baseEnv({ AWS_CONFIG_FILE: config, CHATSHYLD_AWS_CREDENTIALS_TIMEOUT_MS: '1500' }) },
      { name: 'container endpoint', extra: [], env: baseEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${tarpitUrl}/credentials`, CHATSHYLD_AWS_CREDENTIALS_TIMEOUT_MS: '1500' }) },
    ];
    const commands = [['status', '--stage', 'dev'], ['secrets', 'list', '--stage', 'dev'], ['deploy', '--stage', 'dev'], ['smoke', '--stage', 'dev']];
    const cases = sources.flatMap((source) => commands.map((args) => ({ source, args: [...args, ...source.extra] })));
    const outcomes = await inBatches(cases, 4, async ({ source, args }) => ({ source, args, outcome: await run(args, { env: source.env }) }));
    for (const { source, args, outcome } of outcomes) {
      const label = `${args.join(' ')} with a hung ${source.name}`;
      expectClean(outcome, 2, label);
      expect(outcome.stderr, label).toMatch(/gave none within 1500 ms/);
      expectAdvice(outcome, label);
    }
  }, 4 * bound);

  it('names a --profile that does not exist', async () => {
    for (const args of [['status', '--stage', 'dev', '--profile', 'nosuch'], ['secrets', 'list', '--stage', 'dev', '--profile', 'nosuch']]) {
      const outcome = await run(args);
      expectClean(outcome, 2, args.join(' '));
      expect(outcome.stderr).toContain('AWS profile "nosuch"');
      expectAdvice(outcome, args.join(' '));
    }
  }, 4 * bound);

  it('ends cleanly when the reader of its output has gone, and leaves no temporary files', async () => {
    const help = await run(['--help'], { closeStdout: true });
    expectClean(help, 0, '--help | head -0');
    const local = await run(['secrets', 'list', '--stage', 'local'], { closeStdout: true });
    expectClean(local, 0, 'secrets list --stage local | head -0');
    const smoke = await run(['smoke', '--local'], { closeStdout: true });
    expectClean(smoke, 0, 'smoke --local | head -0');
    expect(await readdir(scratch)).toEqual([]);
  }, 4 * bound);

  it('never waits for an answer without a terminal: confirmations exit 2 and say to pass --yes', async () => {
    for (const args of [
      ['destroy', '--stage', 'dev'],
      ['deploy', '--stage', 'prod'],
      ['secrets', 'rotate', 'jwt-secret', '--stage', 'local', '--revoke-previous'],
      ['init', '--stage', 'qa'],
    ]) {
      const outcome = await run(args);
      expectClean(outcome, 2, args.join(' '));
      expectAdvice(outcome, args.join(' '));
    }
  }, 4 * bound);

  it.runIf(python)('Ctrl-C in a prompt exits 130 with no stack', async () => {
    const env = { ...baseEnv(), CI: undefined } as NodeJS.ProcessEnv;
    delete env.CI;
    for (const args of [['destroy', '--stage', 'dev'], ['init', '--stage', 'qa'], ['secrets', 'set', 'twilio', '--stage', 'local']]) {
      const outcome = await ctrlCInPrompt(args, env);
      expect(outcome.code, `${args.join(' ')}\n${outcome.stdout}`).toBe(130);
      expect(outcome.stdout, args.join(' ')).not.toMatch(trace);
      expect(outcome.stdout, args.join(' ')).toContain('interrupted');
    }
  }, 4 * bound);

  it.runIf(python)('with CI set on a real terminal, `secrets set` refuses to read stdin with echo on', async () => {
    const outcome = await ctrlCInPrompt(['secrets', 'set', 'twilio', '--stage', 'local'], baseEnv());
    expect(outcome.code, outcome.stdout).toBe(2);
    expect(outcome.stdout).toContain('stdin is a terminal and CI is set');
    expect(outcome.stdout).toContain('hint:');
  }, bound);

  it('Ctrl-C during work exits 130 with a line, whether the command waits on AWS or runs the smoke flow', async () => {
    const slow = baseEnv({ AWS_ACCESS_KEY_ID: 'AKIAFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_ENDPOINT_URL: tarpitUrl, CHATSHYLD_AWS_REQUEST_TIMEOUT_MS: '60000' });
    const status = await run(['status', '--stage', 'dev'], { env: slow, interruptAfter: /reading stack/ });
    expectClean(status, 130, 'status, interrupted');
    expect(status.stderr).toContain('interrupted');
    const reports = join(root, 'interrupted-reports');
    const smoke = await run(['smoke', '--local', '--reporter', 'pretty,json', '--out', reports], { interruptAfter: /smoke: checking/ });
    expectClean(smoke, 130, 'smoke --local, interrupted');
    expect(smoke.stderr).toContain('interrupted');
    const quiet = await run(['smoke', '--local', '--reporter', 'json', '--out', join(root, 'interrupted-quiet')], { interruptAfter: /smoke: checking/ });
    expectClean(quiet, 130, 'smoke --local --reporter json, interrupted');
    expect(quiet.stderr).toContain('smoke interrupted');
    expect(quiet.stderr).not.toContain('undefined');
    // The partial report is written, and says it was interrupted.
    const partial = JSON.parse(await readFile(join(reports, 'smoke.json'), 'utf8'));
    expect(partial).toMatchObject({ interrupted: true, passed: false });
    expect(partial.steps.some((step: { message?: string }) => step.message === 'interrupted')).toBe(true);
    expect(await readdir(scratch)).toEqual([]);
  }, 4 * bound);

  it('a smoke pass stays a pass when its report paths are unwritable, and says so', async () => {
    await writeFile(join(root, 'a-file'), 'x');
    const underFile = await run(['smoke', '--local', '--reporter', 'pretty,json,junit', '--out', 'a-file/reports']);
    expectClean(underFile, 0, 'smoke --out under a file');
    expect(underFile.stderr).toMatch(/could not write/);
    const summary = await run(['smoke', '--local', '--reporter', 'markdown'], { env: baseEnv({ GITHUB_STEP_SUMMARY: join(root, 'a-file', 'summary.md') }) });
    expectClean(summary, 0, 'smoke with an unwritable GITHUB_STEP_SUMMARY');
    expect(summary.stderr).toMatch(/could not write/);
  }, 4 * bound);

  it('damaged local state: an empty or truncated sandbox secrets file is named, with the way out', async () => {
    const project = await mkdtemp(join(root, 'state-'));
    await copyFile(join(root, 'chatshyld.config.json'), join(project, 'chatshyld.config.json'));
    await mkdir(join(project, '.chatshyld', 'local'), { recursive: true });
    for (const text of ['', '{"secrets": {"jwt-secret": {"keys": [']) {
      await writeFile(join(project, '.chatshyld', 'local', 'secrets.json'), text);
      for (const args of [['secrets', 'list', '--stage', 'local'], ['secrets', 'rotate', 'jwt-secret', '--stage', 'local'], ['doctor', '--stage', 'local'], ['secrets', 'get', 'jwt-secret', '--stage', 'local'], ['dev', '--port', '0']]) {
        const outcome = await run(args, { cwd: project });
        const label = `${args.join(' ')} with ${text ? 'a truncated' : 'an empty'} secrets file`;
        expectClean(outcome, args[0] === 'doctor' ? 1 : 2, label);
        expect(`${outcome.stdout}${outcome.stderr}`, label).toMatch(/secrets file .* is (empty|damaged)/);
        expectAdvice(outcome, label);
      }
    }
  }, 8 * bound);

  it('`secrets set --from-file` of a missing file or a folder is a usage error that names it', async () => {
    for (const path of ['no-such.json', '.chatshyld']) {
      const outcome = await run(['secrets', 'set', 'twilio', '--stage', 'local', '--from-file', path]);
      expectClean(outcome, 2, `--from-file ${path}`);
      expect(outcome.stderr).toContain(path);
      expectAdvice(outcome, path);
    }
  }, 2 * bound);
});

describe('smoke targets', () => {
  it('an explicit --local wins over CHATSHYLD_STAGE', async () => {
    const outcome = await run(['smoke', '--local', '--reporter', 'json', '--out', join(root, 'reports')], { env: baseEnv({ CHATSHYLD_STAGE: 'dev' }) });
    expectClean(outcome, 0, 'CHATSHYLD_STAGE=dev smoke --local');
  }, bound);

  it('refuses a deployed --url without a test number, before sending anything', async () => {
    const outcome = await run(['smoke', '--url', 'https://api.nosuch.invalid']);
    expectClean(outcome, 2, 'smoke --url of a deployed API');
    expect(outcome.stderr).toContain('real SMS');
    expectAdvice(outcome, 'smoke --url');
    // With the test number's code from the environment, it goes ahead (and fails on the network, 1).
    const withNumber = await run(['smoke', '--url', 'https://api.nosuch.invalid', '--phone', '+15005550006'], { env: baseEnv({ CHATSHYLD_SMOKE_CODE: '123456' }) });
    expectClean(withNumber, 1, 'smoke --url with a test number');
    expect(withNumber.stdout).not.toContain('123456');
  }, 2 * bound);
});

describe('the persisted sandbox data, with a second terminal', () => {
  it('a second `dev --persist` and a `dev --reset` are refused, naming the process that holds the folder', async () => {
    const project = await mkdtemp(join(root, 'persist-'));
    await copyFile(join(root, 'chatshyld.config.json'), join(project, 'chatshyld.config.json'));
    const first = spawn(process.execPath, [binPath, 'dev', '--persist', '--port', '0'], { cwd: project, env: baseEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        let text = '';
        first.stdout.on('data', (chunk) => {
          text += chunk;
          if (text.includes('ready at')) resolve();
        });
        first.on('close', () => reject(new Error(`the first sandbox stopped: ${text}`)));
      });
      for (const args of [['dev', '--persist', '--port', '0'], ['dev', '--reset', '--port', '0']]) {
        const outcome = await run(args, { cwd: project });
        expectClean(outcome, 2, args.join(' '));
        // The project's running sandbox is named first (one sandbox per project), before its data folder.
        expect(outcome.stderr, args.join(' ')).toMatch(new RegExp(`already runs for this project: process ${first.pid} at http://127\\.0\\.0\\.1:\\d+`));
        expectAdvice(outcome, args.join(' '));
      }
    } finally {
      const closed = new Promise((resolve) => first.on('close', resolve));
      first.kill('SIGINT');
      await closed;
    }
    // Stopped, it gives the folder back.
    await expect(readdir(join(project, '.chatshyld', 'local'))).resolves.not.toContain('data.lock');

    // Its LevelDB damaged (a disk filled mid-write, a bad copy): refused at start with the folder and
    // the way out, not a stack from inside dynalite; and the damaged data is left as it was.
    const current = join(project, '.chatshyld', 'local', 'data', 'dynamodb', 'CURRENT');
    await writeFile(current, 'MANIFEST-0');
    const damaged = await run(['dev', '--persist', '--port', '0'], { cwd: project });
    expectClean(damaged, 2, 'dev --persist on damaged data');
    expect(damaged.stderr).toContain(join('.chatshyld', 'local', 'data', 'dynamodb'));
    expect(damaged.stderr).toContain('--reset');
    expectAdvice(damaged, 'dev --persist on damaged data');
    await expect(readFile(current, 'utf8')).resolves.toBe('MANIFEST-0');
    await expect(readdir(join(project, '.chatshyld', 'local'))).resolves.not.toContain('data.lock');
  }, 3 * bound);
});
