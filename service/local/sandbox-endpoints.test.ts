import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox } from './sandbox.js';
import { findSandbox, sandboxEndpointsFile } from './sandbox-endpoints.js';

describe('the sandbox endpoints file', () => {
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-endpoints-'));
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('is written on ready (owner-only), kept by the first of two sandboxes on one folder, and removed on close', async () => {
    const first = await startSandbox({ stateDir });
    const path = join(stateDir, sandboxEndpointsFile);
    try {
      const found = await findSandbox(stateDir);
      expect(found.state).toBe('running');
      if (found.state !== 'running') return;
      expect(found.endpoints).toMatchObject({
        pid: process.pid,
        url: first.url,
        dynamoEndpoint: first.emulators.dynamoEndpoint,
        tableNames: first.emulators.tableNames,
        bucket: first.emulators.bucket,
      });
      expect((await stat(path)).mode & 0o777).toBe(0o600);

      const second = await startSandbox({ stateDir });
      await second.close();
      expect(JSON.parse(await readFile(path, 'utf8')).url).toBe(first.url);
    } finally {
      await first.close();
    }
    expect((await findSandbox(stateDir)).state).toBe('none');
  }, 60_000);
});
