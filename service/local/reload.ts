/**
 * Reload on save: a save under `service/` rebuilds the functions whose bundles are made from the
 * saved file, each with an incremental esbuild context of its own (the options and entry deploy
 * bundles it with: one entry alone comes out byte for byte as in deploy's build of all nine),
 * compares each new `index.mjs` with the one it runs, and swaps in only the routes whose bundle
 * changed. What the sandbox holds (emulators, data,
 * secrets, issued tokens) is untouched: only the functions' code changes, as with a hotswap deploy.
 *
 * A build error keeps the last good build and says where (file:line). An edit of the manifest
 * changes routes, grants and environments, which are set when the sandbox starts: it is not
 * applied, and the developer is told to restart.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { routes, type RouteId } from '../manifest.js';

export type ReloadEvent =
  /** `routes` were swapped; `rebuilt` are the functions made from a saved file, rebuilt to find out. */
  | { readonly kind: 'reloaded'; readonly routes: readonly RouteId[]; readonly rebuilt: readonly RouteId[]; readonly ms: number }
  | { readonly kind: 'unchanged'; readonly rebuilt: readonly RouteId[]; readonly ms: number }
  /** `message` starts with `file:line:column` when esbuild gave a place. */
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'restart-needed'; readonly file: string };

export interface FunctionReloaderOptions {
  /** The folder holding `service/` (and `infra/lambda-credentials.ts`). */
  readonly sourceRoot: string;
  /** Where rebuilt bundles are written, in `live/<routeId>-<hash>/`. */
  readonly bundleDir: string;
  /** The bundle each route runs now. */
  readonly current: () => Readonly<Record<RouteId, string>>;
  /** Swaps the given routes to new bundles; rejects when one fails to load. */
  readonly swap: (bundles: Partial<Record<RouteId, string>>) => Promise<void>;
  readonly onEvent: (event: ReloadEvent) => void;
  /** How long a burst of saves is waited out before building (editors write in several steps). */
  readonly settleMs?: number;
}

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
const manifestFile = join('service', 'manifest.ts');

export class FunctionReloader {
  private readonly contexts = new Map<RouteId, import('esbuild').BuildContext>();
  /** The files each route's last good build read (absolute paths), from esbuild's metafile. */
  private readonly inputs = new Map<RouteId, ReadonlySet<string>>();
  /** Saved since the last build; a build that fails keeps them, so the fix rebuilds the same routes. */
  private readonly saved = new Set<string>();
  private everything = false;
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly hashes = new Map<RouteId, string>();
  private manifestHash = '';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private firstSave = 0;
  private closed = false;
  private warming: Promise<unknown> = Promise.resolve();

  private constructor(private readonly options: FunctionReloaderOptions) {}

  /** Starts watching at once; the build context is made and warmed in the background. */
  static async start(options: FunctionReloaderOptions): Promise<FunctionReloader> {
    const reloader = new FunctionReloader(options);
    await reloader.init();
    return reloader;
  }

  /** Builds now, as after a save (tests, and the first warm-up). */
  reload(): Promise<void> {
    this.firstSave ||= performance.now();
    this.everything = true;
    return this.schedule(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    await this.running?.catch(() => {});
    await Promise.all([...this.contexts.values()].map((context) => context.dispose()));
  }

  private async init(): Promise<void> {
    const current = this.options.current();
    await Promise.all(
      routes.map(async (route) => this.hashes.set(route.id, sha256(await readFile(current[route.id])))),
    );
    this.manifestHash = sha256(await readFile(join(this.options.sourceRoot, manifestFile)).catch(() => ''));
    const { context } = await import('esbuild');
    const { functionBuildOptions, functionEntryPoints } = await import('../../infra/bundle.js');
    const entries = functionEntryPoints(this.options.sourceRoot);
    await Promise.all(
      routes.map(async (route, index) => {
        const made = await context({
          ...functionBuildOptions(this.options.sourceRoot),
          entryPoints: [entries[index]!],
          // Beside deploy's `<digest>/` folders: the source maps' relative paths come out the same.
          outdir: join(this.options.bundleDir, 'live'),
          write: false,
          metafile: true,
        });
        this.contexts.set(route.id, made);
      }),
    );
    await this.watchTree(join(this.options.sourceRoot, 'service'));
    // A first build warms esbuild's incremental caches, so the first save is as fast as the next, and
    // tells which files each function is made of.
    this.warming = Promise.all(
      routes.map((route) =>
        this.contexts
          .get(route.id)!
          .rebuild()
          .then((result) => this.noteInputs(route.id, result))
          .catch(() => {}),
      ),
    );
  }

  private noteInputs(routeId: RouteId, result: import('esbuild').BuildResult): void {
    if (!result.metafile) return;
    this.inputs.set(routeId, new Set(Object.keys(result.metafile.inputs).map((path) => resolve(this.options.sourceRoot, path))));
  }

  /**
   * Watches every folder under `root`, not its files: an editor that saves by writing a new file and
   * renaming it over the old one (vim, many IDEs) replaces the file a per-file watch would hold,
   * and later saves would go unseen. (Node's recursive watch on Linux watches files.)
   */
  private async watchTree(root: string): Promise<void> {
    const add = async (folder: string): Promise<void> => {
      if (this.closed || this.watchers.has(folder)) return;
      let watcher: FSWatcher;
      try {
        watcher = watch(folder, (_event, name) => {
          if (!name) return;
          const path = join(folder, name.toString());
          // A new folder (or one moved in) is watched too.
          void stat(path)
            .then((found) => (found.isDirectory() ? add(path) : undefined))
            .catch(() => {});
          if (!/\.(ts|mts|js|mjs|json)$/.test(path) || /\.test\.[a-z]+$/.test(path)) return;
          this.saved.add(path);
          this.firstSave ||= performance.now();
          void this.schedule(this.options.settleMs ?? 40);
        });
      } catch {
        return; // gone already
      }
      watcher.on('error', () => {
        watcher.close();
        this.watchers.delete(folder);
      });
      this.watchers.set(folder, watcher);
      const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) if (entry.isDirectory()) await add(join(folder, entry.name));
    };
    await add(root);
  }

  private schedule(delayMs: number): Promise<void> {
    clearTimeout(this.timer);
    return new Promise((resolve) => {
      this.timer = setTimeout(() => {
        if (this.running) {
          this.again = true;
          void this.running.then(resolve);
          return;
        }
        this.running = this.build().finally(() => {
          this.running = undefined;
          if (this.again && !this.closed) {
            this.again = false;
            void this.schedule(0);
          }
        });
        void this.running.then(resolve);
      }, delayMs);
    });
  }

  private async build(): Promise<void> {
    if (this.closed || this.contexts.size === 0) return;
    const started = this.firstSave || performance.now();
    this.firstSave = 0;
    const manifestHash = sha256(await readFile(join(this.options.sourceRoot, manifestFile)).catch(() => ''));
    if (manifestHash !== this.manifestHash) {
      this.options.onEvent({ kind: 'restart-needed', file: manifestFile });
      return;
    }
    await this.warming;
    const saved = [...this.saved];
    this.saved.clear();
    const everything = this.everything;
    this.everything = false;
    // A route whose inputs are unknown (its first build failed) is rebuilt on every save.
    const affected = routes.filter((route) => {
      const inputs = this.inputs.get(route.id);
      return everything || !inputs || saved.some((path) => inputs.has(path));
    });
    const rebuilt = affected.map((route) => route.id);
    if (affected.length === 0) {
      this.options.onEvent({ kind: 'unchanged', rebuilt, ms: performance.now() - started });
      return;
    }
    const results = await Promise.allSettled(affected.map((route) => this.contexts.get(route.id)!.rebuild()));
    const refused = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (refused) {
      for (const path of saved) this.saved.add(path);
      this.everything ||= everything;
      this.options.onEvent({ kind: 'failed', message: describeBuildError(refused.reason, this.options.sourceRoot) });
      return;
    }
    const outputs: import('esbuild').OutputFile[] = [];
    affected.forEach((route, index) => {
      const result = (results[index] as PromiseFulfilledResult<import('esbuild').BuildResult>).value;
      this.noteInputs(route.id, result);
      outputs.push(...(result.outputFiles ?? []));
    });
    const changed: Partial<Record<RouteId, string>> = {};
    const written: { routeId: RouteId; hash: string }[] = [];
    for (const route of affected) {
      const code = outputs.find((file) => file.path.endsWith(`${sep}${route.id}${sep}index.mjs`));
      const map = outputs.find((file) => file.path.endsWith(`${sep}${route.id}${sep}index.mjs.map`));
      if (!code) continue;
      const hash = sha256(code.contents);
      if (hash === this.hashes.get(route.id)) continue;
      const folder = join(this.options.bundleDir, 'live', `${route.id}-${hash.slice(0, 12)}`);
      await mkdir(folder, { recursive: true });
      if (map) await writeFile(join(folder, 'index.mjs.map'), map.contents);
      await writeFile(join(folder, 'index.mjs'), code.contents);
      changed[route.id] = join(folder, 'index.mjs');
      written.push({ routeId: route.id, hash });
    }
    if (written.length === 0) {
      this.options.onEvent({ kind: 'unchanged', rebuilt, ms: performance.now() - started });
      return;
    }
    try {
      await this.options.swap(changed);
    } catch (error) {
      this.options.onEvent({ kind: 'failed', message: (error as Error).message });
      return;
    }
    for (const { routeId, hash } of written) this.hashes.set(routeId, hash);
    this.options.onEvent({ kind: 'reloaded', routes: written.map((entry) => entry.routeId), rebuilt, ms: performance.now() - started });
  }
}

/** esbuild's first error as `file:line:column: text`, the file relative to the sources. */
export function describeBuildError(error: unknown, root: string): string {
  const first = (error as { errors?: import('esbuild').Message[] }).errors?.[0];
  if (!first) return (error as Error).message ?? String(error);
  const location = first.location;
  if (!location) return first.text;
  const file = location.file.startsWith('/') ? relative(root, location.file) : location.file;
  return `${file}:${location.line}:${location.column + 1}: ${first.text}`;
}

