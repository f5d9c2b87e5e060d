import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectory } from './directories.js';

const root = await mkdtemp(join(tmpdir(), 'chatshyld-dirs-'));
afterAll(() => rm(root, { recursive: true, force: true }));

describe('makeDirectory', () => {
  it('creates every missing level, and is quiet when the folder exists', async () => {
    const deep = join(root, 'a', 'b', 'c');
    await makeDirectory(deep);
    await makeDirectory(deep);
    expect((await stat(deep)).isDirectory()).toBe(true);
  });

  it('refuses a path under a file', async () => {
    await writeFile(join(root, 'file'), 'x');
    await expect(makeDirectory(join(root, 'file', 'reports'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  it.runIf(process.platform === 'linux')('answers under /proc with an error, where a recursive mkdir never returns', async () => {
    await expect(makeDirectory('/proc/chatshyld-none/reports')).rejects.toMatchObject({ code: expect.stringMatching(/^E/) });
  });
});
