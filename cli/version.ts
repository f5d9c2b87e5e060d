import { readFileSync } from 'node:fs';

/** chatshyld's own version, from its package.json (two folders up from dist/cli or cli/). */
export const version = (() => {
  for (const relative of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'chatshyld') return pkg.version;
    } catch {
      // try the next
    }
  }
  return 'unknown';
})();
