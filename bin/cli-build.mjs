/**
 * Which code `bin/chatshyld` runs. In a checkout (the TypeScript sources beside bin/) it is the
 * working tree itself: `cli/main.ts` compiled on start by esbuild, each lazily imported command a
 * chunk of its own, into a cache under `node_modules/.cache/chatshyld/` keyed by what the sources
 * contain. An installed package has no sources and runs its compiled `dist/`.
 *
 * Plain JavaScript with Node built-ins only: it runs before anything is compiled, on every start.
 *
 * - A warm start stats the source tree (paths, sizes, mtimes: ~200 files), reads one stamp file and
 *   stats the build's files; it loads no esbuild.
 * - On a miss the sources are hashed by content: a build of the same content (after a `touch`, a
 *   `git checkout` back and forth) is checked file by file and reused, else esbuild builds it.
 * - A build is written to a temporary folder and renamed into place, so a second process starting at
 *   once, Ctrl-C mid-build or a full disk never leaves a half-written build in use; a build whose
 *   files do not match what was recorded for them is rebuilt, never trusted.
 * - Sources edited while a build runs are noticed (the tree is stat'ed again after it) and built again.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bumped whenever the build options below change what a build contains. */
const format = 2;
/** The folders the CLI loads code from (the Lambda bundles come from `service/` too), and the files that pin the rest. */
const sourceFolders = ['cli', 'service', 'smoke', 'infra'];
const pinningFiles = ['package.json', 'package-lock.json', 'tsconfig.json', 'bin/cli-build.mjs'];
/** Tests are never loaded by the CLI: editing one costs no build. */
const isSource = (name) => /\.(ts|mts|cts|js|mjs|cjs|json)$/.test(name) && !/\.test\.[a-z]+$/.test(name);
/** Builds kept besides the newest; one younger than an hour is kept anyway (a long `dev` may still load chunks from it). */
const keptBuilds = 4;

export const packageRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * The files that make up the CLI's sources, as `[path relative to the root, size, mtimeMs]`, sorted.
 * A folder that cannot be read counts as empty (an installed package has none of them).
 */
export function sourceFiles(root = packageRoot) {
  const files = [];
  const walk = (folder) => {
    let entries;
    try {
      entries = readdirSync(join(root, folder), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (isSource(entry.name)) {
        add(path);
      }
    }
  };
  const add = (path) => {
    try {
      const info = statSync(join(root, path));
      files.push([path, info.size, info.mtimeMs]);
    } catch {
      // gone between the listing and the stat: it is not part of this tree
    }
  };
  for (const folder of sourceFolders) walk(folder);
  for (const file of pinningFiles) add(file);
  return files.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The cheap key of a tree: where it is, and every source's path, size and mtime. */
const stampOf = (root, files) => quickHash(Buffer.from([`format ${format}`, root, ...files.map((file) => file.join('\0'))].join('\n')));

/**
 * Two 32-bit multiplicative hashes (FNV-1a, and the same walk with another prime), as 16 hex digits: a warm start needs no node:crypto
 * (loading it costs more than the rest of the check). It names a stamp and checks the main module
 * against damage, not against an attacker who can write to node_modules anyway.
 */
function quickHash(bytes) {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i], 0x01000193);
    b = Math.imul(b ^ bytes[i], 0x5bd1e995);
  }
  return `${(a >>> 0).toString(16).padStart(8, '0')}${(b >>> 0).toString(16).padStart(8, '0')}`;
}

/** The content key of a tree: where it is (the build names its source files), and what each file holds. */
function contentKeyOf(root, files, { createHash }) {
  const digest = createHash('sha256').update(`format ${format}\n${root}\n`);
  for (const [path] of files) {
    digest.update(path).update('\0');
    try {
      digest.update(readFileSync(join(root, path)));
    } catch {
      digest.update('\0missing\0');
    }
  }
  return digest.digest('hex').slice(0, 32);
}


/** A failure of the build itself (a syntax error in a source), as the CLI reports it: one line and a hint. */
export class SourceBuildError extends Error {
  constructor(message, hint) {
    super(message);
    this.name = 'SourceBuildError';
    this.hint = hint;
  }
}

/**
 * For `bin/chatshyld`: the CLI to run, or undefined when it cannot be compiled (the error is printed
 * as the CLI prints its own, one line and a hint, and the exit code set). Ctrl-C while it compiles
 * exits 130 like any other wait; the half-written build is never used.
 */
export async function startCli() {
  const verbose = process.argv.includes('--verbose');
  // Stack traces name the TypeScript sources, not the cache, when asked for.
  if (verbose) process.setSourceMapsEnabled(true);
  const interrupted = () => {
    process.stderr.write('\ninterrupted\n');
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    return await loadCli(packageRoot, {
      onBuild: () => {
        if (process.stderr.isTTY) process.stderr.write('compiling chatshyld from the working tree…\n');
      },
    });
  } catch (error) {
    const expected = error instanceof SourceBuildError;
    const cacheProblem = !expected && typeof error?.code === 'string' && typeof error?.path === 'string';
    process.stderr.write(
      expected
        ? `error: ${error.message}\n  hint: ${error.hint}\n`
        : cacheProblem
          ? `error: cannot write the CLI's build cache: ${error.path}: ${error.code}\n  hint: make node_modules/.cache writable (or free some disk space), then run the command again\n`
          : `error: chatshyld could not start: ${error?.message ?? error}\n  hint: this is a bug in chatshyld; run the command again with --verbose and report its output\n${verbose ? `${error?.stack}\n` : ''}`,
    );
    process.exitCode = 1;
    return undefined;
  } finally {
    process.removeListener('SIGINT', interrupted);
  }
}

/**
 * What `startCli` loads: `{ main, sources }`, where `main` is the URL of the CLI's main module
 * and `sources`, in a checkout, tells the CLI which tree it runs and whether that tree changed since.
 */
export async function loadCli(root = packageRoot, options = {}) {
  if (!existsSync(join(root, 'cli', 'main.ts'))) {
    return { main: pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href, sources: undefined };
  }
  const cache = options.cacheDir ?? join(root, 'node_modules', '.cache', 'chatshyld');
  for (let attempt = 1; ; attempt++) {
    const files = sourceFiles(root);
    const stamp = stampOf(root, files);
    const build = warmBuild(cache, stamp) ?? (await coldBuild(root, cache, files, stamp, options));
    if (build) {
      return { main: pathToFileURL(join(build, 'main.js')).href, sources: sourceTree(root, files) };
    }
    // The sources changed while they were built: build what they are now.
    if (attempt === 3) {
      throw new SourceBuildError('the sources kept changing while the CLI was compiled from them', 'run the command again once the edits have been saved');
    }
  }
}

/** The tree the CLI runs, and what changed in it since the CLI started. */
function sourceTree(root, files) {
  const started = new Map(files.map(([path, size, mtime]) => [path, `${size}\0${mtime}`]));
  return {
    root,
    /** The sources changed (edited, added or removed) since the start, at most `limit` of them. */
    changedSinceStart(limit = 5) {
      const changed = [];
      const now = sourceFiles(root);
      for (const [path, size, mtime] of now) {
        if (started.get(path) !== `${size}\0${mtime}`) changed.push(path);
      }
      const present = new Set(now.map(([path]) => path));
      for (const path of started.keys()) if (!present.has(path)) changed.push(path);
      return changed.slice(0, limit);
    },
  };
}

/** The build a stamp names, if every file of it is as it was written; else undefined. */
function warmBuild(cache, stamp) {
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(join(cache, 'stamps', `${stamp}.json`), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof recorded?.build !== 'string' || !/^[0-9a-f]{32}$/.test(recorded.build) || !Array.isArray(recorded.files)) return undefined;
  const folder = join(cache, 'builds', recorded.build);
  for (const [file, size, mtime] of recorded.files) {
    try {
      const info = statSync(join(folder, file));
      if (info.size !== size || info.mtimeMs !== mtime) return undefined;
    } catch {
      return undefined;
    }
  }
  // The module every start runs is checked by content too (a few KB): a change that kept its size
  // and time is caught where it would run at once; the chunks a command loads are checked above.
  try {
    if (quickHash(readFileSync(join(folder, 'main.js'))) !== recorded.main) return undefined;
  } catch {
    return undefined;
  }
  return folder;
}

/** `{file: sha256}` of a build, as written in its `build.json`, if every file still holds that. */
function verifiedFiles(folder, { createHash }) {
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(join(folder, 'build.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const entries = Object.entries(recorded?.files ?? {});
  if (entries.length === 0 || !entries.some(([file]) => file === 'main.js')) return undefined;
  for (const [file, sha] of entries) {
    try {
      if (createHash('sha256').update(readFileSync(join(folder, file))).digest('hex') !== sha) return undefined;
    } catch {
      return undefined;
    }
  }
  return entries.map(([file]) => file);
}

/**
 * The build of this content: reused when one exists and checks out byte for byte, else built.
 * Undefined when the sources changed while it was built (the caller starts again).
 */
async function coldBuild(root, cache, files, stamp, options) {
  const crypto = await import('node:crypto');
  const key = contentKeyOf(root, files, crypto);
  const builds = join(cache, 'builds');
  const folder = join(builds, key);
  let outputs = verifiedFiles(folder, crypto);
  if (!outputs) {
    if (existsSync(folder)) discard(builds, folder); // damaged: never trusted
    options.onBuild?.();
    outputs = await build(root, builds, folder, { ...options, crypto });
    if (stampOf(root, sourceFiles(root)) !== stamp) return undefined;
    if (!outputs) outputs = verifiedFiles(folder, crypto); // another process put the same build in place first
    if (!outputs) return undefined;
    prune(builds, key);
  }
  writeStamp(cache, stamp, key, folder, outputs.filter((file) => file.endsWith('.js')), quickHash(readFileSync(join(folder, 'main.js'))));
  return folder;
}

/** Records which build a stamp names, with its files' sizes and mtimes as they are now. */
function writeStamp(cache, stamp, key, folder, outputs, main) {
  const record = { build: key, main, files: outputs.map((file) => { const info = statSync(join(folder, file)); return [file, info.size, info.mtimeMs]; }) };
  const stamps = join(cache, 'stamps');
  mkdirSync(stamps, { recursive: true });
  const temporary = join(stamps, `.${stamp}.${process.pid}.${Math.random().toString(16).slice(2, 10)}`);
  writeFileSync(temporary, JSON.stringify(record));
  renameSync(temporary, join(stamps, `${stamp}.json`));
}

/** Moves a folder out of the way first (one rename), then deletes it: no process sees it half deleted. */
function discard(builds, folder) {
  const trash = join(builds, `.trash-${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
  try {
    renameSync(folder, trash);
  } catch {
    return;
  }
  rmSync(trash, { recursive: true, force: true });
}

/** Keeps the newest builds (and any younger than an hour); drops leftovers of interrupted builds. */
function prune(builds, current) {
  const hourAgo = Date.now() - 3_600_000;
  let entries;
  try {
    entries = readdirSync(builds).map((name) => ({ name, mtime: statSync(join(builds, name)).mtimeMs }));
  } catch {
    return;
  }
  const finished = entries.filter((entry) => !entry.name.startsWith('.') && entry.name !== current).sort((a, b) => b.mtime - a.mtime);
  for (const entry of [...finished.slice(keptBuilds), ...entries.filter((entry) => entry.name.startsWith('.'))]) {
    if (entry.mtime < hourAgo) rmSync(join(builds, entry.name), { recursive: true, force: true });
  }
}

/**
 * esbuild, into a temporary folder renamed to `folder` once complete. Returns the files written, or
 * undefined when another process renamed its identical build into place first.
 */
async function build(root, builds, folder, options) {
  mkdirSync(builds, { recursive: true });
  const temporary = join(builds, `.tmp-${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
  const { createHash } = options.crypto;
  const esbuild = await import('esbuild');
  let result;
  try {
    result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: { main: join(root, 'cli', 'main.ts') },
      outdir: temporary,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Packages stay in node_modules, but for the two every start loads: bundled into the main chunk,
      // they cost no module resolution of their own files.
      plugins: [startupPackagesInside(), sourceLocations(root, esbuild)],
      banner: { js: "import { createRequire as __chatshyldCreateRequire } from 'node:module'; const require = __chatshyldCreateRequire(import.meta.url);" },
      chunkNames: 'chunks/[name]-[hash]',
      sourcemap: 'linked',
      sourcesContent: false,
      // Error classes and commands keep their names, as they had when compiled one file at a time.
      keepNames: true,
      metafile: true,
      logLevel: 'silent',
    });
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    const first = error?.errors?.[0];
    if (!first) throw error;
    const where = first.location ? `${first.location.file}:${first.location.line}:${first.location.column + 1}: ` : '';
    throw new SourceBuildError(`cannot compile the CLI from the working tree: ${where}${first.text}`, 'fix that source file, then run the command again');
  }
  const files = {};
  for (const output of Object.keys(result.metafile.outputs)) {
    const file = relative(temporary, join(root, output)).split(sep).join('/');
    files[file] = createHash('sha256').update(readFileSync(join(temporary, file))).digest('hex');
  }
  // Which sources each file holds, for tests that check what a command loads (never read on start).
  const inputs = Object.fromEntries(
    Object.entries(result.metafile.outputs).map(([output, { inputs }]) => [relative(temporary, join(root, output)).split(sep).join('/'), Object.keys(inputs)]),
  );
  writeFileSync(join(temporary, 'inputs.json'), JSON.stringify(inputs));
  writeFileSync(join(temporary, 'build.json'), JSON.stringify({ format, root, builtAt: new Date().toISOString(), files }));
  try {
    options.beforeRename?.(temporary);
    renameSync(temporary, folder);
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST') return undefined;
    throw error;
  }
  return Object.keys(files);
}

/** Bundles commander and chalk (whatever their own files import too); every other package stays external. */
function startupPackagesInside() {
  const inside = /[\\/]node_modules[\\/](commander|chalk)[\\/]/;
  return {
    name: 'startup-packages-inside',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path === 'commander' || args.path === 'chalk' || inside.test(args.importer)) return undefined;
        if (args.path.startsWith('/')) return undefined;
        return { path: args.path, external: true };
      });
    },
  };
}

/**
 * `import.meta.url` of each module stays the URL of its source file, as if it ran from there: the
 * package.json, the console's assets and the config schema are found beside the sources, and the
 * Lambda bundler still finds the TypeScript sources it bundles. Replaced by esbuild's own parser
 * (`define`), so the text `import.meta.url` inside a string (the Lambda bundles' banner) is left alone.
 */
function sourceLocations(root, esbuild) {
  // The build reads tsconfig.json itself; the transform gets the same options (class fields follow its target).
  let tsconfigRaw;
  try {
    tsconfigRaw = { compilerOptions: JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')).compilerOptions };
  } catch {
    tsconfigRaw = undefined;
  }
  return {
    name: 'source-locations',
    setup(build) {
      build.onLoad({ filter: /\.[mc]?ts$/ }, async (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`) || !args.path.startsWith(root)) return undefined;
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes('import.meta')) return undefined;
        const { code } = await esbuild.transform(text, {
          loader: 'ts',
          format: 'esm',
          sourcefile: args.path,
          sourcemap: 'inline',
          ...(tsconfigRaw && { tsconfigRaw }),
          define: { 'import.meta.url': JSON.stringify(pathToFileURL(args.path).href) },
        });
        return { contents: code, loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}
