import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../infra/testing/synth.js';
import { run } from './main.js';
import { runInProcess } from './testing/run-cli.js';

const fake = vi.hoisted(() => ({ changes: 0, deploys: 0 }));

// The toolkit and the bundler are the only parts replaced: the CLI's own flow runs for real.
vi.mock('../infra/engine.js', () => ({
  ToolkitEngine: class {
    async diff() {
      return { changes: fake.changes, text: fake.changes ? `[~] ${fake.changes} changes` : '' };
    }
    async deploy() {
      fake.deploys += 1;
      return {};
    }
  },
}));
vi.mock('../infra/bundle.js', () => ({
  packageRoot: () => '/unused',
  bundleFunctions: async () => ({ outdir: '/bundles', sizes: {}, reused: true }),
}));

describe('exit codes that mean one thing', () => {
  const sts = mockClient(STSClient);
  const cloudFormation = mockClient(CloudFormationClient);
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'chatshyld-exit-codes-'));
    await copyFile(join(repoRoot, 'chatshyld.config.json'), join(root, 'chatshyld.config.json'));
  });
  afterAll(async () => {
    sts.restore();
    cloudFormation.restore();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    sts.reset();
    cloudFormation.reset();
  });

  it('diff --fail exits 3 for changes, 0 for none, and never 3 when it could not diff', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111' });
    fake.changes = 2;
    expect((await runInProcess(['diff', '--stage', 'dev', '--fail'], root)).code).toBe(3);
    expect((await runInProcess(['diff', '--stage', 'dev'], root)).code).toBe(0);
    fake.changes = 0;
    expect((await runInProcess(['diff', '--stage', 'dev', '--fail'], root)).code).toBe(0);
    sts.on(GetCallerIdentityCommand).resolves({ Account: '999999999999' });
    fake.changes = 2;
    const wrongAccount = await runInProcess(['diff', '--stage', 'dev', '--fail'], root);
    expect(wrongAccount.code).toBe(2);
    expect(wrongAccount.stderr).toContain('999999999999');
  });

  it('secrets commands touch no parameter with credentials of another account: exit 2, no SSM call', async () => {
    const ssm = mockClient(SSMClient);
    try {
      sts.on(GetCallerIdentityCommand).resolves({ Account: '999999999999' });
      for (const args of [['secrets', 'list', '--stage', 'dev'], ['secrets', 'init', '--stage', 'dev', '--yes']]) {
        const result = await runInProcess(args, root);
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toContain('the credentials are for account 999999999999, but stage dev lives in 111111111111');
      }
      expect(ssm.calls()).toHaveLength(0);
    } finally {
      ssm.restore();
    }
  });

  it('runs the prod preflight before asking to confirm: a failing preflight never reaches the question', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: '333333333333' });
    cloudFormation.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).rejects(new Error('Stack with id CDKToolkit does not exist'));
    let stderr = '';
    const sink = (append: (text: string) => void) => new Writable({ write: (chunk, _encoding, done) => (append(String(chunk)), done()) });
    // A terminal on stdin and no CI: the CLI could ask, so only the order keeps it from asking.
    const code = await run(['node', 'chatshyld', 'deploy', '--stage', 'prod'], {
      stdout: sink(() => {}),
      stderr: sink((text) => (stderr += text)),
      stdin: { isTTY: true },
      env: {},
      cwd: root,
    });
    expect(code, stderr).toBe(2);
    expect(stderr).toContain('not bootstrapped');
    expect(fake.deploys).toBe(0);
  });
});
