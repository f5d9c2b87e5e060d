/**
 * Bundles every Lambda entry of the manifest with esbuild, locally (no Docker), in one build:
 * minified ESM for Node 22, source maps, the AWS SDK bundled and tree-shaken. Each route gets a
 * folder `<outdir>/<digest>/<routeId>/` holding `index.mjs` and its map, which becomes the function's
 * asset and what the sandbox runs.
 * In a checkout it bundles the TypeScript sources themselves, so an edit ships without `npm run
 * build`; an installed package has no sources and bundles its compiled `dist/`, which is what it is.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, version } from 'esbuild';
import { routes, type RouteId } from '../service/manifest.js';

/** The folder of chatshyld's own package.json: bundles are built from its compiled `dist/`. */
export function packageRoot(): string {
  for (let directory = dirname(fileURLToPath(import.meta.url)); ; directory = dirname(directory)) {
    try {
      if ((JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: string }).name === 'chatshyld') return directory;
    } catch {
      // not here
    }
    if (dirname(directory) === directory) throw new Error('chatshyld: cannot find its own package.json');
  }
}

/** Where the bundles are made from: the TypeScript sources when present, else the compiled `dist/`. */
export interface BundleSource {
  readonly kind: 'typescript' | 'compiled';
  /** The folder holding `service/` and `infra/` (the root itself, or `<root>/dist`). */
  readonly base: string;
  /** A source file's name there (`service/lambda/x.ts`, or `service/lambda/x.js` when compiled). */
  file(path: string): string;
}

export function bundleSource(root: string): BundleSource {
  const absolute = resolve(root);
  if (existsSync(join(absolute, 'service', 'manifest.ts'))) {
    return { kind: 'typescript', base: absolute, file: (path) => join(absolute, path) };
  }
  const base = join(absolute, 'dist');
  return { kind: 'compiled', base, file: (path) => join(base, path.replace(/\.ts$/, '.js')) };
}

/** The file swapped in for the SDK's default credential chain. */
const credentialsShim = (source: BundleSource) => source.file('infra/lambda-credentials.ts');

/** Lambda credentials come from the environment: the bundle gets the env provider alone. */
const lambdaCredentials = (replacement: string) => ({
  name: 'lambda-credentials',
  setup(build: import('esbuild').PluginBuild) {
    build.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, () => ({ path: replacement }));
  },
});

/** The package a resolved file belongs to: its folder, and its name. */
function packageOf(file: string): { folder: string; name: string } | undefined {
  const match = /^(.*\/node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(file);
  return match ? { folder: match[1]!, name: match[2]! } : undefined;
}

const majorOf = (folder: string) => (JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { version: string }).version.split('.')[0];

/**
 * One copy of each AWS SDK package. npm nests a second copy of a package under a dependent whose
 * range the top-level copy does not meet (`@aws-sdk/s3-presigned-post` held its own
 * `@aws-sdk/client-s3`: 70 KB more to parse at every cold start of `presignAvatar`). The SDK's
 * packages are released together and work across their minor versions, and the client a function
 * passes in is the top-level copy anyway; a nested copy of another major is left where it is.
 */
const oneSdkCopy = (root: string) => ({
  name: 'one-sdk-copy',
  setup(build: import('esbuild').PluginBuild) {
    build.onResolve({ filter: /^@(aws-sdk|smithy)\// }, async (args) => {
      if (args.pluginData === 'one-sdk-copy') return undefined;
      const options = { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'one-sdk-copy' };
      const nested = await build.resolve(args.path, options);
      const nestedPackage = nested.errors.length === 0 ? packageOf(nested.path) : undefined;
      if (!nestedPackage || !/\/node_modules\/.*\/node_modules\//.test(nestedPackage.folder)) return undefined;
      const top = await build.resolve(args.path, { ...options, importer: undefined, resolveDir: root });
      const topPackage = top.errors.length === 0 ? packageOf(top.path) : undefined;
      if (!topPackage || topPackage.name !== nestedPackage.name || majorOf(topPackage.folder) !== majorOf(nestedPackage.folder)) return undefined;
      return { path: top.path, sideEffects: top.sideEffects };
    });
  },
});

/** ESM bundles that contain CommonJS (parts of the SDK) need a `require` of their own. */
const requireBanner =
  "import { createRequire as __chatshyldCreateRequire } from 'node:module'; const require = __chatshyldCreateRequire(import.meta.url);";

export interface BundleResult {
  readonly outdir: string;
  readonly sizes: Readonly<Record<RouteId, number>>;
  readonly reused: boolean;
  /** The folder for this tree was there but its files were not what was built: it was built again. */
  readonly repaired: boolean;
}

/**
 * A digest of everything that shapes the bundles, so an unchanged input is not bundled again: every
 * service source, the credentials shim, the entries and how they are named, the build options
 * (banner included), esbuild's version and the lockfile.
 */
async function bundleDigest(root: string, source: BundleSource, entryPoints: readonly { in: string; out: string }[]): Promise<string> {
  const hash = createHash('sha256');
  const code = source.kind === 'typescript' ? /\.(ts|mts|js|mjs|json)$/ : /\.(js|mjs|json)$/;
  const walk = async (directory: string): Promise<void> => {
    for (const entry of (await readdir(directory, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) {
        if (!['testing', 'fixtures', 'test'].includes(entry.name)) await walk(path);
      } else if (code.test(entry.name) && !/\.test\.[a-z]+$/.test(entry.name)) {
        hash.update(relative(source.base, path)).update('\0').update(await readFile(path));
      }
    }
  };
  await walk(join(source.base, 'service'));
  hash.update(await readFile(credentialsShim(source)));
  // The pipeline itself (its plugins' code, not only their names): an edit of how functions are
  // bundled makes new bundles, as an edit of what is bundled does.
  hash.update(await readFile(source.file('infra/bundle.ts')));
  const { plugins, absWorkingDir: _cwd, ...options } = functionBuildOptions(root);
  const pluginNames = plugins?.map((plugin) => plugin.name);
  hash.update(JSON.stringify({ kind: source.kind, entryPoints: entryPoints.map((entry) => ({ in: relative(source.base, entry.in), out: entry.out })), options, plugins: pluginNames, esbuild: version }));
  hash.update(await readFile(join(root, 'package-lock.json')).catch(() => Buffer.alloc(0)));
  return hash.digest('hex');
}

/** How many bundle folders a bundle directory keeps (the newest used): a sandbox on another tree keeps its own. */
const keptBundleFolders = 4;
const digestFolder = /^[0-9a-f]{16}$/;

/**
 * Bundles every route into `<outdir>/<digest>/<routeId>/index.mjs`, where the digest names every
 * input (`bundleDigest`): a folder, once there, never changes. Deploy, synth and the sandbox share
 * them, so for one tree the sandbox runs the very files a deploy ships, and a deploy never writes
 * over a bundle a running sandbox has yet to load. Each build is written beside the others and
 * renamed into place, so two processes bundling the same tree at once both end with whole folders.
 */
export async function bundleFunctions(root: string, outdir: string): Promise<BundleResult> {
  const parent = resolve(outdir);
  const source = bundleSource(root);
  const entryPoints = functionEntryPoints(root);
  const digest = await bundleDigest(resolve(root), source, entryPoints);
  const absolute = join(parent, digest.slice(0, 16));
  const sizes = async () =>
    Object.fromEntries(
      await Promise.all(routes.map(async (route) => [route.id, (await stat(join(absolute, route.id, 'index.mjs'))).size])),
    ) as Record<RouteId, number>;
  let repaired = false;
  if ((await readFile(join(absolute, '.digest'), 'utf8').catch(() => '')) === digest) {
    // A folder is trusted only while its files are the bytes it was built with: an edited or cut
    // bundle would otherwise be run by the sandbox and shipped by every deploy of this tree.
    if (await filesIntact(absolute)) {
      const result = { outdir: absolute, sizes: await sizes(), reused: true, repaired };
      await touch(absolute);
      return result;
    }
    repaired = true;
    await rm(absolute, { recursive: true, force: true });
  }
  await mkdir(parent, { recursive: true });
  // A sibling of the final folder, so the source maps' relative paths are the same in both.
  const building = await mkdtemp(join(parent, '.building-'));
  try {
    const { metafile } = await build({
      ...functionBuildOptions(root),
      entryPoints,
      outdir: building,
      metafile: true,
    });
    // What each bundle is made of (esbuild's metafile, for `analyzeMetafile` or esbuild's analyzer).
    await writeFile(join(building, 'metafile.json'), JSON.stringify(metafile));
    await writeFile(join(building, filesRecord), JSON.stringify(await fileHashes(building)));
    await writeFile(join(building, '.digest'), digest);
    // Another process may have put the same folder in place meanwhile: its files are these files.
    if ((await readFile(join(absolute, '.digest'), 'utf8').catch(() => '')) !== digest) {
      await rm(absolute, { recursive: true, force: true });
      try {
        await rename(building, absolute);
      } catch (error) {
        if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
      }
    }
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  await prune(parent, absolute);
  return { outdir: absolute, sizes: await sizes(), reused: false, repaired };
}

/** Each bundle's and map's sha256, recorded when the folder is built. */
const filesRecord = '.files.json';

async function fileHashes(folder: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const route of routes) {
    for (const name of ['index.mjs', 'index.mjs.map']) {
      const path = `${route.id}/${name}`;
      hashes[path] = createHash('sha256').update(await readFile(join(folder, path))).digest('hex');
    }
  }
  return hashes;
}

async function filesIntact(folder: string): Promise<boolean> {
  try {
    const recorded = JSON.parse(await readFile(join(folder, filesRecord), 'utf8')) as Record<string, string>;
    const now = await fileHashes(folder);
    return Object.keys(now).length === Object.keys(recorded).length && Object.entries(now).every(([path, hash]) => recorded[path] === hash);
  } catch {
    return false;
  }
}

async function touch(folder: string): Promise<void> {
  const now = new Date();
  await utimes(folder, now, now).catch(() => {});
}

/** Keeps the newest folders (by last use); a folder in the middle of being built is not one of them. */
async function prune(parent: string, keep: string): Promise<void> {
  const folders = await Promise.all(
    (await readdir(parent, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory() && digestFolder.test(entry.name))
      .map(async (entry) => ({ path: join(parent, entry.name), used: (await stat(join(parent, entry.name)).catch(() => undefined))?.mtimeMs ?? 0 })),
  );
  const stale = folders.filter((folder) => folder.path !== keep).sort((a, b) => b.used - a.used).slice(keptBundleFolders - 1);
  await Promise.all(stale.map((folder) => rm(folder.path, { recursive: true, force: true }).catch(() => {})));
}

/** The entry points of every route, as `bundleFunctions` names them (`<routeId>/index`). */
export function functionEntryPoints(root: string): { in: string; out: string }[] {
  const source = bundleSource(root);
  return routes.map((route) => ({ in: source.file(route.entry), out: `${route.id}/index` }));
}

/** How every function is bundled (the benchmark bundles its variants the same way). */
export function functionBuildOptions(root: string): import('esbuild').BuildOptions {
  return {
    absWorkingDir: resolve(root),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    legalComments: 'none',
    mainFields: ['module', 'main'],
    banner: { js: requireBanner },
    plugins: [lambdaCredentials(credentialsShim(bundleSource(root))), oneSdkCopy(resolve(root))],
    logLevel: 'silent',
  };
}
