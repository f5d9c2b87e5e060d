import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, type CliResult } from './testing/run-cli.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

/** The `--json` ready object of a `dev`, or the result if it ended first. */
function ready(child: ChildProcess, result: Promise<CliResult>): Promise<{ url: string } | CliResult> {
  return new Promise((resolve) => {
    let text = '';
    child.stdout!.on('data', (chunk) => {
      text += chunk;
      try {
        resolve(JSON.parse(text) as { url: string });
      } catch {
        // not all of it yet
      }
    });
    void result.then(resolve);
  });
}

/** One sandbox per project: a second `chatshyld dev` is refused, naming the first. */
describe('chatshyld dev, twice in one project', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'chatshyld-dev-twice-'));
    await writeFile(join(cwd, 'chatshyld.config.json'), JSON.stringify({ project: 'demo', stages: { dev: { account: '111111111111', region: 'eu-west-1' } } }));
  });
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('refuses the second with exit 2, the pid and URL of the first, while smoke --local and users --stage local work beside it', async () => {
    const first = startCli(['dev', '--port', '0', '--json', '--no-watch'], { cwd, timeoutMs: 180_000 });
    try {
      const up = await ready(first.child, first.result);
      expect(up, JSON.stringify(up)).toHaveProperty('url');
      const { url } = up as { url: string };

      const second = await runCli(['dev', '--port', '0'], { cwd, timeoutMs: 60_000 });
      expect(second.code, second.stderr).toBe(2);
      expect(second.stderr).toContain(`a sandbox already runs for this project: process ${first.child.pid} at ${url}`);
      expect(second.stderr).toContain(`kill ${first.child.pid}`);
      expect(second.stderr).not.toMatch(/\n\s+at /);
      // The first one is still the one other commands find.
      const published = JSON.parse(await readFile(join(cwd, '.chatshyld', 'local', 'sandbox.json'), 'utf8'));
      expect(published).toMatchObject({ pid: first.child.pid, url });
      expect((await fetch(`${url}/health`)).status).toBe(200);

      const users = await runCli(['users', 'find', '+14155550123', '--stage', 'local', '--json'], { cwd, timeoutMs: 60_000 });
      expect(users.stderr).not.toContain('no sandbox is running here');
      expect([0, 1]).toContain(users.code);

      const smoke = await runCli(['smoke', '--local'], { cwd, timeoutMs: 120_000 });
      expect(smoke.code, smoke.stderr + smoke.stdout).toBe(0);
      expect(smoke.stdout).toContain('14 passed');
    } finally {
      first.child.kill('SIGINT');
    }
    expect((await first.result).code).toBe(0);

    // Stopped: the project is free again.
    const again = startCli(['dev', '--port', '0', '--json', '--no-watch'], { cwd, timeoutMs: 120_000 });
    try {
      expect(await ready(again.child, again.result)).toHaveProperty('url');
    } finally {
      again.child.kill('SIGINT');
    }
    expect((await again.result).code).toBe(0);
  }, 400_000);

  it('lets exactly one of two started at the same moment run', async () => {
    const a = startCli(['dev', '--port', '0', '--json', '--no-watch'], { cwd, timeoutMs: 180_000 });
    const b = startCli(['dev', '--port', '0', '--json', '--no-watch'], { cwd, timeoutMs: 180_000 });
    try {
      const outcomes = await Promise.all([ready(a.child, a.result), ready(b.child, b.result)]);
      const running = outcomes.filter((outcome) => 'url' in outcome);
      const refused = outcomes.filter((outcome): outcome is CliResult => 'code' in outcome);
      expect(running).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]!.code).toBe(2);
      const winner = 'url' in outcomes[0]! ? a : b;
      expect(refused[0]!.stderr).toContain(`process ${winner.child.pid}`);
    } finally {
      a.child.kill('SIGINT');
      b.child.kill('SIGINT');
    }
    await Promise.all([a.result, b.result]);
  }, 400_000);
});
