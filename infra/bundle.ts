/**
 * Bundles every Lambda entry of the manifest with esbuild, locally (no Docker), in one build:
 * minified ESM for Node 22, source maps, the AWS SDK bundled and tree-shaken. Each route gets a
 * folder `<outdir>/<routeId>/` holding `index.mjs` and its map, which becomes the function's asset.
 * It bundles the compiled `dist/` (what `npm ci` builds), so it works from an installed package too.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
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

/** Lambda credentials come from the environment: the bundle gets the env provider alone. */
const lambdaCredentials = (root: string) => ({
  name: 'lambda-credentials',
  setup(build: import('esbuild').PluginBuild) {
    const replacement = join(root, 'dist', 'infra', 'lambda-credentials.js');
    build.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, () => ({ path: replacement }));
  },
});

/** The compiled entry of a route (`service/lambda/x.ts` → `dist/service/lambda/x.js`). */
const compiledEntry = (entry: string) => join('dist', entry.replace(/\.ts$/, '.js'));

/** ESM bundles that contain CommonJS (parts of the SDK) need a `require` of their own. */
const requireBanner =
  "import { createRequire as __chatshyldCreateRequire } from 'node:module'; const require = __chatshyldCreateRequire(import.meta.url);";

export interface BundleResult {
  readonly outdir: string;
  readonly sizes: Readonly<Record<RouteId, number>>;
  readonly reused: boolean;
}

/** A digest of everything the bundles are made from, so an unchanged tree is not bundled again. */
async function sourceDigest(root: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (directory: string): Promise<void> => {
    for (const entry of (await readdir(directory, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) {
        if (!['testing', 'fixtures', 'test'].includes(entry.name)) await walk(path);
      } else if (entry.name.endsWith('.js')) {
        hash.update(path).update(await readFile(path));
      }
    }
  };
  await walk(join(root, 'dist', 'service'));
  hash.update(await readFile(join(root, 'package-lock.json')).catch(() => Buffer.alloc(0)));
  return hash.digest('hex');
}

export async function bundleFunctions(root: string, outdir: string): Promise<BundleResult> {
  const absolute = resolve(outdir);
  const digestFile = join(absolute, '.digest');
  const digest = await sourceDigest(resolve(root));
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
  await build({
    ...functionBuildOptions(root),
    entryPoints: routes.map((route) => ({ in: compiledEntry(route.entry), out: `${route.id}/index` })),
    outdir: absolute,
  });
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
    plugins: [lambdaCredentials(resolve(root))],
    logLevel: 'silent',
  };
}
