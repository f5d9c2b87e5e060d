/**
 * Bundles every Lambda entry of the manifest with esbuild, locally (no Docker), in one build:
 * minified ESM for Node 22, source maps, the AWS SDK bundled and tree-shaken. Each route gets a
 * folder `<outdir>/<routeId>/` holding `index.mjs` and its map, which becomes the function's asset.
 * In a checkout it bundles the TypeScript sources themselves, so an edit ships without `npm run
 * build`; an installed package has no sources and bundles its compiled `dist/`, which is what it is.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
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
  const { plugins, absWorkingDir: _cwd, ...options } = functionBuildOptions(root);
  const pluginNames = plugins?.map((plugin) => plugin.name);
  hash.update(JSON.stringify({ kind: source.kind, entryPoints: entryPoints.map((entry) => ({ in: relative(source.base, entry.in), out: entry.out })), options, plugins: pluginNames, esbuild: version }));
  hash.update(await readFile(join(root, 'package-lock.json')).catch(() => Buffer.alloc(0)));
  return hash.digest('hex');
}

export async function bundleFunctions(root: string, outdir: string): Promise<BundleResult> {
  const absolute = resolve(outdir);
  const digestFile = join(absolute, '.digest');
  const source = bundleSource(root);
  const entryPoints = routes.map((route) => ({ in: source.file(route.entry), out: `${route.id}/index` }));
  const digest = await bundleDigest(resolve(root), source, entryPoints);
  const sizes = async () =>
    Object.fromEntries(
      await Promise.all(routes.map(async (route) => [route.id, (await stat(join(absolute, route.id, 'index.mjs'))).size])),
    ) as Record<RouteId, number>;
  if ((await readFile(digestFile, 'utf8').catch(() => '')) === digest) {
    try {
      return { outdir: absolute, sizes: await sizes(), reused: true };
    } catch {
      // a bundle is missing: build again
    }
  }
  await rm(absolute, { recursive: true, force: true });
  await mkdir(absolute, { recursive: true });
  const { metafile } = await build({
    ...functionBuildOptions(root),
    entryPoints,
    outdir: absolute,
    metafile: true,
  });
  // What each bundle is made of (esbuild's metafile, for `analyzeMetafile` or esbuild's analyzer).
  await writeFile(join(absolute, 'metafile.json'), JSON.stringify(metafile));
  await writeFile(digestFile, digest);
  return { outdir: absolute, sizes: await sizes(), reused: false };
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
