/**
 * A copy of what the functions are bundled from (service/, the credentials shim, the bundler itself,
 * the lockfile), with node_modules linked, so a test or the bench can edit the sources as a
 * developer would without touching the tree other tests read.
 */
import { cp, mkdir, mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function copyFunctionSources(root: string, prefix: string): Promise<string> {
  const copy = await mkdtemp(join(tmpdir(), prefix));
  await cp(join(root, 'service'), join(copy, 'service'), { recursive: true });
  await mkdir(join(copy, 'infra'));
  for (const file of ['lambda-credentials.ts', 'bundle.ts']) await cp(join(root, 'infra', file), join(copy, 'infra', file));
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json']) await cp(join(root, file), join(copy, file));
  await symlink(join(root, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}
