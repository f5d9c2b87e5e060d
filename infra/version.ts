import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of chatshyld's own package.json, found from this module wherever it runs: the
 * checkout's `infra/`, the installed package's `dist/infra/`, or a build of the working tree (whose
 * modules keep their source file's URL).
 */
export const packageDirectory: string | undefined = (() => {
  for (let directory = dirname(fileURLToPath(import.meta.url)); ; directory = dirname(directory)) {
    try {
      const pkg = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'chatshyld') return directory;
    } catch {
      // not here: look one folder up
    }
    if (dirname(directory) === directory) return undefined;
  }
})();

/**
 * chatshyld's own version, from that package.json. Infra stamps it on the stack and the CLI prints
 * it: it lives here, below both, so infra never imports the CLI.
 */
export const version: string = (() => {
  try {
    return (JSON.parse(readFileSync(join(packageDirectory!, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();
