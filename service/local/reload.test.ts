import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFunctionSources } from '../../infra/testing/function-sources.js';
import { repoRoot } from '../../infra/testing/synth.js';
import { bundleFunctions } from '../../infra/bundle.js';
import { routes } from '../manifest.js';
import type { ReloadEvent } from './reload.js';
import { startSandbox, type Sandbox } from './sandbox.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

/** A copy of the sources the sandbox bundles, which the test edits as a developer would. */
const sourceCopy = () => copyFunctionSources(repoRoot, 'chatshyld-reload-src-');

const healthLine = 'ok({ ok: true, stage, version })';

describe('reload on save', () => {
  let root: string;
  let stateDir: string;
  let sandbox: Sandbox | undefined;
  const events: ReloadEvent[] = [];
  /** The next reload event of this kind (or one already seen after `since`). */
  const next = async (kind: ReloadEvent['kind'], since: number): Promise<ReloadEvent> => {
    await expect.poll(() => events.slice(since).find((event) => event.kind === kind), { timeout: 60_000, interval: 50 }).toBeDefined();
    return events.slice(since).find((event) => event.kind === kind)!;
  };
  const routesFile = () => join(root, 'service', 'http', 'routes.ts');
  const health = async (target = sandbox!) => (await (await fetch(`${target.url}/health`)).json()) as Record<string, unknown>;

  beforeAll(async () => {
    root = await sourceCopy();
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-reload-state-'));
    sandbox = await startSandbox({
      stateDir,
      sourceRoot: root,
      bundleDir: join(root, '.chatshyld', 'bundles'),
      watch: true,
      onReload: (event) => events.push(event),
    });
    await sandbox.watching;
  }, 180_000);
  afterAll(async () => {
    await sandbox?.close();
    await rm(root, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  });

  it('serves an edited handler without a restart, and a token issued before still works', async () => {
    const phone = '+14155550177';
    const post = (path: string, body: unknown) =>
      fetch(`${sandbox!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/auth/send-otp', { phone })).status).toBe(200);
    const login = await post('/auth/verify-otp', { phone, code: sandbox!.outbox.latest(phone)!.code });
    const { token } = (await login.json()) as { token: string };
    const before = sandbox!.functions();
    expect(await health()).toEqual({ ok: true, stage: 'local', version: 'local' });

    const since = events.length;
    const source = await readFile(routesFile(), 'utf8');
    expect(source).toContain(healthLine);
    await writeFile(routesFile(), source.replace(healthLine, 'ok({ ok: true, stage, version, edited: 1 })'));
    const reloaded = await next('reloaded', since);
    // Only the functions whose bundle changed are swapped.
    expect(reloaded).toMatchObject({ kind: 'reloaded', routes: ['health'] });
    expect(await health()).toEqual({ ok: true, stage: 'local', version: 'local', edited: 1 });
    const after = sandbox!.functions();
    expect(after.health).not.toBe(before.health);
    expect(after.getMe).toBe(before.getMe);

    // The data, the secrets and the session survive the swap.
    const me = await fetch(`${sandbox!.url}/profile/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { phone: string }).phone).toBe(phone);
  }, 120_000);

  it('sees every save of an editor that writes a new file and renames it over the old one', async () => {
    for (const mark of [10, 11]) {
      const since = events.length;
      const source = await readFile(routesFile(), 'utf8');
      const temporary = `${routesFile()}.${mark}.swp`;
      await writeFile(temporary, source.replace(/edited: \d+/, `edited: ${mark}`));
      await rename(temporary, routesFile());
      expect(await next('reloaded', since)).toMatchObject({ routes: ['health'] });
      expect((await health()).edited).toBe(mark);
    }
    const source = await readFile(routesFile(), 'utf8');
    await writeFile(routesFile(), source.replace('edited: 11', 'edited: 1'));
    await expect.poll(async () => (await health()).edited, { timeout: 60_000, interval: 100 }).toBe(1);
  }, 180_000);

  it('keeps serving the last good build after a broken edit, and says file:line', async () => {
    const since = events.length;
    const good = await readFile(routesFile(), 'utf8');
    await writeFile(routesFile(), good.replace('edited: 1 })', 'edited: 1 }) +++ ;'));
    const failed = await next('failed', since);
    expect(failed.kind === 'failed' && failed.message).toMatch(/^service\/http\/routes\.ts:\d+:\d+: /);
    expect(await health()).toEqual({ ok: true, stage: 'local', version: 'local', edited: 1 });

    // Fixed again: served.
    const fixedSince = events.length;
    await writeFile(routesFile(), good.replace('edited: 1', 'edited: 2'));
    expect(await next('reloaded', fixedSince)).toMatchObject({ routes: ['health'] });
    expect((await health()).edited).toBe(2);
  }, 120_000);

  it('rebuilds only the functions made from the saved file, into the bytes deploy would ship', async () => {
    // A file no function imports: nothing is rebuilt.
    let since = events.length;
    await writeFile(join(root, 'service', 'scratch-notes.ts'), 'export const notes = 1;\n');
    expect(await next('unchanged', since)).toMatchObject({ rebuilt: [] });

    // health's own entry: health alone is rebuilt, and a comment changes none of its bytes.
    since = events.length;
    const entry = join(root, 'service', 'lambda', 'health.ts');
    await writeFile(entry, `${await readFile(entry, 'utf8')}// a note\n`);
    expect(await next('unchanged', since)).toMatchObject({ rebuilt: ['health'] });

    // The handlers' module: every function is made from it, and only health's bytes change.
    since = events.length;
    const source = await readFile(routesFile(), 'utf8');
    await writeFile(routesFile(), source.replace(/edited: \d+/, 'edited: 3'));
    const reloaded = await next('reloaded', since);
    expect(reloaded).toMatchObject({ routes: ['health'] });
    expect(reloaded.kind === 'reloaded' && [...reloaded.rebuilt].sort()).toEqual(routes.map((route) => route.id).sort());
    // What the sandbox now runs is what deploy's bundler makes of the same tree, byte for byte.
    const shipped = await bundleFunctions(root, await mkdtemp(join(tmpdir(), 'chatshyld-reload-deploy-')));
    expect(await readFile(sandbox!.functions().health)).toEqual(await readFile(join(shipped.outdir, 'health', 'index.mjs')));
    await writeFile(routesFile(), source);
    await expect.poll(async () => (await health()).edited, { timeout: 60_000, interval: 100 }).toBe(2);
  }, 180_000);

  it('asks for a restart on an edit of the manifest, and applies none of it', async () => {
    const since = events.length;
    const manifest = join(root, 'service', 'manifest.ts');
    const original = await readFile(manifest, 'utf8');
    const functions = sandbox!.functions();
    await writeFile(manifest, original.replace("path: '/health',", "path: '/healthz',"));
    try {
      expect(await next('restart-needed', since)).toEqual({ kind: 'restart-needed', file: 'service/manifest.ts' });
      expect(sandbox!.functions()).toEqual(functions);
      expect((await health()).ok).toBe(true);
    } finally {
      await writeFile(manifest, original);
    }
  }, 120_000);

  it('serves the edit from a sandbox started after it', async () => {
    const later = await startSandbox({ stateDir: await mkdtemp(join(tmpdir(), 'chatshyld-reload-later-')), sourceRoot: root, bundleDir: join(root, '.chatshyld', 'bundles') });
    try {
      expect((await health(later)).edited).toBe(2);
    } finally {
      await later.close();
    }
  }, 120_000);
});
