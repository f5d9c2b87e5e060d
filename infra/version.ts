import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * chatshyld's own version, from the package.json of the folder that holds this module (the
 * checkout, or the installed package whose `dist/` it is in). Infra stamps it on the stack and the
 * CLI prints it: it lives here, below both, so infra never imports the CLI.
 */
export const version = (() => {
  for (let directory = dirname(fileURLToPath(import.meta.url)); ; directory = dirname(directory)) {
    try {
      const pkg = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'chatshyld' && pkg.version) return pkg.version;
    } catch {
      // not here: look one folder up
    }
    if (dirname(directory) === directory) return 'unknown';
  }
})();
