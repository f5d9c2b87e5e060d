/**
 * `bin/chatshyld` in a checkout runs the working tree: compiled on start into a cache keyed by the
 * sources' content (bin/cli-build.mjs), never a stale build. Each test works in a copy of the
 * checkout of its own (its node_modules links to this one's packages), as a user's clone would be.
 */
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../', import.meta.url));
const execFileAsync = promisify(execFile);
const copies: string[] = [];

afterEach(async () => {
  await Promise.all(copies.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});

/** A copy of this checkout's sources, with a node_modules of links to this one's packages (and no cache). */
async function checkout(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'chatshyld-checkout-'));
  copies.push(root);
  for (const entry of ['bin', 'cli', 'service', 'smoke', 'infra', 'package.json', 'package-lock.json', 'tsconfig.json', 'chatshyld.config.json', 'chatshyld.config.schema.json']) {
    await cp(join(repo, entry), join(root, entry), { recursive: true, filter: (source) => !source.endsWith('.test.ts') });
  }
  await mkdir(join(root, 'node_modules'));
  for (const name of await readdir(join(repo, 'node_modules'))) {
    if (name !== '.cache') await symlink(join(repo, 'node_modules', name), join(root, 'node_modules', name));
  }
  return root;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function chatshyld(root: string, args: readonly string[], options: { nodeArgs?: string[]; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), join(root, 'bin', 'chatshyld'), ...args], {
    cwd: root,
    env: { ...process.env, CI: 'true', NO_COLOR: '1', AWS_EC2_METADATA_DISABLED: 'true', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chatshyld ${args.join(' ')} did not finish in time\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function edit(root: string, file: string, from: string | RegExp, to: string): Promise<void> {
  const path = join(root, file);
  const text = await readFile(path, 'utf8');
  const edited = text.replace(from, to);
  expect(edited, `${file} holds ${String(from)}`).not.toBe(text);
  await writeFile(path, edited);
}

const cacheOf = (root: string) => join(root, 'node_modules', '.cache', 'chatshyld');
/** The finished builds in a checkout's cache (temporary and discarded folders start with a dot). */
const builds = async (root: string) => (await readdir(join(cacheOf(root), 'builds')).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));
const description = 'Deploy, check and operate the ChatShyld backend.';

describe('bin/chatshyld in a checkout runs the working tree', () => {
  it('shows an edit of a CLI message on the next run, with no build step and no dist/', async () => {
    const root = await checkout();
    const first = await chatshyld(root, ['--help']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(description);

    await edit(root, 'cli/main.ts', description, 'Ship what you ran, edited a moment ago.');
    const second = await chatshyld(root, ['--help']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('Ship what you ran, edited a moment ago.');
    expect(second.stdout).not.toContain(description);
    await expect(stat(join(root, 'dist'))).rejects.toMatchObject({ code: 'ENOENT' });
    // Each content has its build; nothing half-written is left behind.
    expect(await builds(root)).toHaveLength(2);
  }, 180_000);

  it('lets two processes start at once after an edit: both run the edit, one build is kept', async () => {
    const root = await checkout();
    await edit(root, 'cli/main.ts', description, 'Edited before two starts at once.');
    const runs = await Promise.all([chatshyld(root, ['--help']), chatshyld(root, ['--help']), chatshyld(root, ['status', '--help'])]);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    expect(runs[0]!.stdout).toContain('Edited before two starts at once.');
    expect(runs[1]!.stdout).toContain('Edited before two starts at once.');
    expect(runs[2]!.stdout).toContain("the stage's stack status");
    expect(await builds(root)).toHaveLength(1);
    expect((await readdir(join(cacheOf(root), 'builds'))).filter((name) => name.startsWith('.'))).toEqual([]);
  }, 180_000);

  it('rebuilds a damaged build instead of trusting it: changed, changed with its size and time kept, a chunk gone, a stamp garbled', async () => {
    const root = await checkout();
    expect((await chatshyld(root, ['--help'])).code).toBe(0);
    const [build] = await builds(root);
    const folder = join(cacheOf(root), 'builds', build!);
    const main = join(folder, 'main.js');
    const good = await readFile(main);

    await writeFile(main, 'throw new Error("a damaged build ran");\n');
    let run = await chatshyld(root, ['--help']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(description);
    expect(await readFile(main)).toEqual(good);

    // The same size and modification time, to the nanosecond (`touch -r`): only the content tells.
    const reference = join(root, 'main-times');
    await writeFile(reference, '');
    await execFileAsync('touch', ['-r', main, reference]);
    await writeFile(main, Buffer.concat([Buffer.from('throw 1;//'), Buffer.alloc(good.length - 10, 0x20)]));
    await execFileAsync('touch', ['-r', reference, main]);
    expect((await stat(main, { bigint: true })).mtimeNs).toBe((await stat(reference, { bigint: true })).mtimeNs);
    run = await chatshyld(root, ['--help']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(description);
    expect(await readFile(main)).toEqual(good);

    // A chunk only a command loads, deleted.
    const chunk = (await readdir(join(folder, 'chunks'))).find((name) => /^secrets-.*\.js$/.test(name));
    expect(chunk).toBeDefined();
    await rm(join(folder, 'chunks', chunk!));
    run = await chatshyld(root, ['secrets', 'list', '--stage', 'local']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('jwt-secret');

    for (const stamp of await readdir(join(cacheOf(root), 'stamps'))) await writeFile(join(cacheOf(root), 'stamps', stamp), '{"build":');
    run = await chatshyld(root, ['--help']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(description);
  }, 180_000);

  it('reports a source that does not compile as file:line with a hint, exit 1, and runs once it is fixed', async () => {
    const root = await checkout();
    await edit(root, 'cli/output.ts', /\nexport /, '\nconst = ;\nexport ');
    const broken = await chatshyld(root, ['--help']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^error: cannot compile the CLI from the working tree: cli\/output\.ts:\d+:\d+: .+\n {2}hint: fix that source file, then run the command again\n$/);
    await edit(root, 'cli/output.ts', '\nconst = ;\n', '\n');
    const fixed = await chatshyld(root, ['--help']);
    expect(fixed.code, fixed.stderr).toBe(0);
  }, 180_000);

  it('exits 130 on Ctrl-C while it compiles, and never runs the half-written build', async () => {
    const root = await checkout();
    // Interrupts this process as soon as its build has started writing.
    const hook = join(root, 'interrupt-mid-build.mjs');
    await writeFile(
      hook,
      `import { readdirSync } from 'node:fs';
const builds = ${JSON.stringify(join(cacheOf(root), 'builds'))};
const timer = setInterval(() => {
  let names = [];
  try { names = readdirSync(builds); } catch {}
  if (names.some((name) => name.startsWith('.tmp-'))) { clearInterval(timer); process.kill(process.pid, 'SIGINT'); }
}, 1);
timer.unref();
`,
    );
    const interrupted = await chatshyld(root, ['--help'], { nodeArgs: ['--import', hook] });
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toContain('interrupted');
    expect(interrupted.stdout).toBe('');
    expect(await builds(root)).toEqual([]);
    const next = await chatshyld(root, ['--help']);
    expect(next.code, next.stderr).toBe(0);
    expect(await builds(root)).toHaveLength(1);
  }, 180_000);

  it('runs its compiled dist/ when installed as a package (no sources beside bin/)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'chatshyld-installed-'));
    copies.push(root);
    await cp(join(repo, 'bin'), join(root, 'bin'), { recursive: true });
    await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'chatshyld', version: '9.9.9', type: 'module' }));
    await mkdir(join(root, 'dist', 'cli'), { recursive: true });
    await writeFile(
      join(root, 'dist', 'cli', 'main.js'),
      `export async function installProcessGuards() {}
export async function run(argv, streams, sources) { process.stdout.write('compiled dist ran ' + JSON.stringify({ args: argv.slice(2), sources: sources ?? null }) + '\\n'); return 0; }
`,
    );
    const run = await chatshyld(root, ['status', '--help']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('compiled dist ran {"args":["status","--help"],"sources":null}\n');
    await expect(stat(join(root, 'node_modules'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('synth in a checkout: the template, the grants and the bundles come from one tree', () => {
  it('puts a renamed environment variable in both the function environment and the bundle that reads it', async () => {
    const root = await checkout();
    await edit(root, 'service/manifest.ts', "env: 'TWILIO_PARAM'", "env: 'TWILIO_VERIFY_PARAM'");
    const out = join(root, 'cdk.out');
    const run = await chatshyld(root, ['synth', '--stage', 'dev', '--out', out], { timeoutMs: 240_000 });
    expect(run.code, run.stderr).toBe(0);
    const template = JSON.parse(await readFile(join(out, 'ChatShyld-dev.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: { Environment?: { Variables?: Record<string, unknown> }; Code?: { S3Key?: string } } }>;
    };
    const functions = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function');
    const readers = functions.filter((fn) => fn.Properties.Environment?.Variables && 'TWILIO_VERIFY_PARAM' in fn.Properties.Environment.Variables);
    expect(readers.length).toBeGreaterThan(0);
    expect(functions.filter((fn) => fn.Properties.Environment?.Variables && 'TWILIO_PARAM' in fn.Properties.Environment.Variables)).toEqual([]);
    for (const reader of readers) {
      const asset = reader.Properties.Code!.S3Key!.replace(/\.zip$/, '');
      const bundle = await readFile(join(out, `asset.${asset}`, 'index.mjs'), 'utf8');
      expect(bundle).toContain('TWILIO_VERIFY_PARAM');
      expect(bundle).not.toMatch(/\bTWILIO_PARAM\b/);
    }
  }, 300_000);

  it('refuses, exit 1, when a source is edited while it bundles and synthesizes, and says to run it again', async () => {
    const root = await checkout();
    // Edits the manifest once the function bundling has begun, well after the CLI started.
    const hook = join(root, 'edit-mid-run.mjs');
    await writeFile(
      hook,
      `import { appendFileSync, existsSync } from 'node:fs';
const timer = setInterval(() => {
  if (existsSync(${JSON.stringify(join(root, '.chatshyld', 'bundles'))})) { clearInterval(timer); appendFileSync(${JSON.stringify(join(root, 'service', 'manifest.ts'))}, '\\n// edited mid-run\\n'); }
}, 2);
timer.unref();
`,
    );
    const out = join(root, 'cdk.out');
    const run = await chatshyld(root, ['synth', '--stage', 'dev', '--out', out], { nodeArgs: ['--import', hook], timeoutMs: 240_000 });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/^error: the sources changed while synth ran, so the cloud assembly in .+ is not to be deployed \(service\/manifest\.ts\): the template and the function bundles could come from two different trees\n {2}hint: run the command again once your edits are saved\n$/);
    expect(run.stdout).toBe('');
  }, 300_000);
});
