import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
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

describe('layering: stage configuration is shared, infra is a library, the service knows no infra', () => {
  it('infra does not read the CLI config module', async () => {
    const offending = (await importsUnder('infra')).filter(([, specifier]) => /cli\/config(\.js)?$/.test(specifier));
    expect(offending).toEqual([]);
  });

  it('the service imports nothing from infra or the CLI', async () => {
    const offending = (await importsUnder('service')).filter(([, specifier]) => /(^|\/)(infra|cli)\//.test(specifier));
    expect(offending).toEqual([]);
  });

  it('the lifecycle drives the CDK engine, never the other way round', async () => {
    const engineImports = (await importsUnder('infra')).filter(([file, specifier]) => file === join('infra', 'engine.ts') && /(^|\/)lifecycle(\.js)?$/.test(specifier));
    expect(engineImports).toEqual([]);
    const lifecycleImports = (await importsUnder('infra')).filter(([file, specifier]) => file === join('infra', 'lifecycle.ts') && /\.\/engine(\.js)?$/.test(specifier));
    expect(lifecycleImports.length).toBeGreaterThan(0);
  });
});
