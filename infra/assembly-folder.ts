import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LifecycleRefused } from './lifecycle.js';

/**
 * Synth replaces its output folder; that is safe only for a folder that is missing, empty, or a cloud
 * assembly (the `cdk.out` version marker and `manifest.json` a synth writes). Anything else, `--out .`
 * included, is refused. Its own module: the offline synth checks it without loading toolkit-lib.
 */
export async function assertReplaceableAssembly(directory: string): Promise<void> {
  const entries: string[] | undefined = await readdir(directory).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    if (error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (entries?.length === 0) return;
  const marker = await readFile(join(directory, 'cdk.out'), 'utf8').catch(() => '');
  if (entries?.includes('manifest.json') && /^\{\s*"version"\s*:/.test(marker)) return;
  throw new LifecycleRefused(
    'out_not_assembly',
    `${directory} is ${entries ? 'not empty and not a cloud assembly' : 'a file'}: synth replaces its output folder, so it will not write there`,
    'name a new or empty folder, or one a previous synth wrote',
  );
}
