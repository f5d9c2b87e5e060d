import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetParameterHistoryCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { newKey } from '../service/core/key-ring.js';
import { repoRoot } from '../infra/testing/synth.js';
import { runInProcess } from './testing/run-cli.js';

const fake = vi.hoisted(() => ({ deploys: [] as unknown[] }));

// Only the toolkit and the bundler are replaced: argv, guards, preflight and output run for real.
vi.mock('../infra/engine.js', () => ({
  ToolkitEngine: class {
    async deploy(_inputs: unknown, options: unknown) {
      fake.deploys.push(options);
      return { ApiUrl: 'https://example.execute-api.eu-west-1.amazonaws.com' };
    }
  },
}));
vi.mock('../infra/bundle.js', () => ({
  packageRoot: () => '/unused',
  bundleFunctions: async () => ({ outdir: '/bundles', sizes: {}, reused: true }),
}));

describe('deploy after a hotswap: the way back to the template', () => {
  const sts = mockClient(STSClient);
  const cloudFormation = mockClient(CloudFormationClient);
  const ssm = mockClient(SSMClient);
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'chatshyld-deploy-drift-'));
    await copyFile(join(repoRoot, 'chatshyld.config.json'), join(root, 'chatshyld.config.json'));
  });
  afterAll(async () => {
    for (const mock of [sts, cloudFormation, ssm]) mock.restore();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    fake.deploys = [];
    for (const mock of [sts, cloudFormation, ssm]) mock.reset();
    sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:iam::111111111111:user/dev' });
    cloudFormation.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({
      Stacks: [{ StackName: 'CDKToolkit', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: [{ OutputKey: 'BootstrapVersion', OutputValue: '28' }] }],
    });
    // The stage's stack exists and is healthy: deploy reads it before it deploys.
    cloudFormation.on(DescribeStacksCommand, { StackName: 'ChatShyld-dev' }).resolves({
      Stacks: [{ StackName: 'ChatShyld-dev', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), EnableTerminationProtection: false }],
    });
    const values: Record<string, unknown> = {
      'jwt-secret': { current: newKey(new Date()) },
      'refresh-pepper': { current: newKey(new Date()) },
      twilio: { accountSid: `AC${'a'.repeat(32)}`, authToken: 'b'.repeat(32), verifyServiceSid: `VA${'c'.repeat(32)}` },
      'test-numbers': [],
    };
    for (const [name, value] of Object.entries(values)) {
      ssm.on(GetParameterHistoryCommand, { Name: `/chatshyld/dev/${name}` }).resolves({ Parameters: [{ Version: 1, Value: JSON.stringify(value) }] });
    }
  });

  it('after every hotswap says the stage drifted and names the deploy that reverts it', async () => {
    const result = await runInProcess(['deploy', '--stage', 'dev', '--hotswap'], root);
    expect(result.code, result.stderr).toBe(0);
    expect(fake.deploys).toEqual([{ hotswap: true }]);
    expect(result.stderr).toContain('now differ from what CloudFormation records (drift)');
    expect(result.stderr).toContain('chatshyld deploy --stage dev --revert-drift');
    // The hint is progress, not a result: stdout stays what scripts read.
    expect(result.stdout).not.toContain('revert-drift');
  });

  it('--revert-drift reaches the toolkit as a drift-aware change set; a plain deploy says nothing of drift', async () => {
    const reverted = await runInProcess(['deploy', '--stage', 'dev', '--revert-drift'], root);
    expect(reverted.code, reverted.stderr).toBe(0);
    const plain = await runInProcess(['deploy', '--stage', 'dev'], root);
    expect(plain.code, plain.stderr).toBe(0);
    expect(fake.deploys).toEqual([{ hotswap: false, revertDrift: true }, { hotswap: false }]);
    expect(`${reverted.stderr}${plain.stderr}`).not.toContain('(drift)');
  });

  it('refuses --revert-drift with --hotswap before any AWS call, exit 2', async () => {
    const result = await runInProcess(['deploy', '--stage', 'dev', '--hotswap', '--revert-drift'], root);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--revert-drift and --hotswap undo each other');
    expect(result.stderr).toContain('hint:');
    expect(fake.deploys).toEqual([]);
    expect(sts.commandCalls(GetCallerIdentityCommand)).toHaveLength(0);
  });
});
