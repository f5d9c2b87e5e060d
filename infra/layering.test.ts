import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './testing/synth.js';

/** Every import specifier of every source file under `folder` (tests included), by file. */
async function importsUnder(folder: string): Promise<[string, string][]> {
  const found: [string, string][] = [];
  const walk = async (directory: string) => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith('.ts')) {
        for (const match of (await readFile(path, 'utf8')).matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
          found.push([relative(repoRoot, path), match[1]!]);
        }
      }
    }
  };
  await walk(join(repoRoot, folder));
  return found;
}

/**
 * The arrows between modules of the shipped code (tests and their helpers left out): each relative
 * import as `[importer, imported]`, both repo-relative `.ts` paths, however the specifier is spelled.
 */
async function arrowsUnder(folder: string): Promise<[string, string][]> {
  return (await importsUnder(folder))
    .filter(([file, specifier]) => specifier.startsWith('.') && !/\.test\.ts$/.test(file) && !/(^|\/)testing\//.test(file))
    .map(([file, specifier]) => [file, relative(repoRoot, resolve(repoRoot, dirname(file), specifier)).replace(/\.js$/, '.ts')]);
}

describe('layering: stage configuration is shared, infra is a library, the service knows no infra', () => {
  it('infra does not read the CLI config module', async () => {
    const offending = (await importsUnder('infra')).filter(([, specifier]) => /cli\/config(\.js)?$/.test(specifier));
    expect(offending).toEqual([]);
  });

  it('the service imports nothing from infra or the CLI, but the sandbox takes its functions from deploy\'s bundler', async () => {
    const arrows = await arrowsUnder('service');
    const offending = arrows.filter(([, imported]) => /^(infra|cli)\//.test(imported));
    // The sandbox runs what deploy ships, so it bundles with deploy's own pipeline, and uses nothing else of infra.
    const sandboxBundling = ([file, imported]: [string, string]) => file.startsWith('service/local/') && imported === 'infra/bundle.ts';
    expect(offending.filter((arrow) => !sandboxBundling(arrow))).toEqual([]);
    expect(offending.filter(sandboxBundling).length).toBeGreaterThan(0);
  });

  it('infra imports nothing from the CLI that drives it (the version included)', async () => {
    const offending = (await arrowsUnder('infra')).filter(([, imported]) => imported.startsWith('cli/'));
    expect(offending).toEqual([]);
  });

  it('secrets and on-call operations do not know where they run: nothing of the sandbox (service/local)', async () => {
    const arrows = [...(await arrowsUnder('service/secrets')), ...(await arrowsUnder('service/ops'))];
    expect(arrows.length).toBeGreaterThan(0);
    expect(arrows.filter(([, imported]) => imported.startsWith('service/local/'))).toEqual([]);
  });

  it('only bin/ and tests start the CLI: no module of cli/ imports cli/main.ts, which imports the commands', async () => {
    const arrows = await arrowsUnder('cli');
    // main.ts does import the commands: the one direction left.
    expect(arrows).toContainEqual(['cli/main.ts', 'cli/commands/dev.ts']);
    expect(arrows.filter(([, imported]) => imported === 'cli/main.ts')).toEqual([]);
  });

  it('the lifecycle drives the CDK engine, never the other way round', async () => {
    const engineImports = (await importsUnder('infra')).filter(([file, specifier]) => file === join('infra', 'engine.ts') && /(^|\/)lifecycle(\.js)?$/.test(specifier));
    expect(engineImports).toEqual([]);
    const lifecycleImports = (await importsUnder('infra')).filter(([file, specifier]) => file === join('infra', 'lifecycle.ts') && /\.\/engine(\.js)?$/.test(specifier));
    expect(lifecycleImports.length).toBeGreaterThan(0);
  });
});
