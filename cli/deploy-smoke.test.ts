import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetParameterHistoryCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { newKey } from '../service/core/key-ring.js';
import type { ApiResponse } from '../service/http/api.js';
import { readSecretsFile, writeSecretsFile } from '../service/local/secrets-file.js';
import { startSandbox, type FunctionInvoke, type Sandbox } from '../service/local/sandbox.js';
import { repoRoot } from '../infra/testing/synth.js';
import { runInProcess } from './testing/run-cli.js';

/** Where the fake toolkit "deploys": a sandbox standing in for the stage's API. */
const deployed = vi.hoisted(() => ({ apiUrl: '', deploys: 0 }));

// Only the parts that need AWS itself are replaced: the toolkit engine and the bundler.
vi.mock('../infra/engine.js', () => ({
  ToolkitEngine: class {
    async deploy() {
      deployed.deploys += 1;
      return { ApiUrl: deployed.apiUrl, AvatarsBucketName: 'bucket' };
    }
  },
}));
// The deploy's bundling is skipped; the sandbox standing in for the API bundles its functions for real.
vi.mock('../infra/bundle.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../infra/bundle.js')>();
  return {
    ...actual,
    packageRoot: () => '/unused',
    bundleFunctions: async (root: string, outdir: string) =>
      root === '/unused' ? { outdir: '/bundles', sizes: {}, reused: true } : actual.bundleFunctions(root, outdir),
  };
});

describe('deploy --smoke', () => {
  const sts = mockClient(STSClient);
  const cloudFormation = mockClient(CloudFormationClient);
  const ssm = mockClient(SSMClient);
  const testNumbers = [{ phone: '+14155550199', code: '864209', expiresAt: new Date(Date.now() + 86_400_000).toISOString() }];
  let root: string;
  let sandbox: Sandbox | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'chatshyld-deploy-smoke-'));
    await copyFile(join(repoRoot, 'chatshyld.config.json'), join(root, 'chatshyld.config.json'));
  });
  afterAll(async () => {
    for (const mock of [sts, cloudFormation, ssm]) mock.restore();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const mock of [sts, cloudFormation, ssm]) mock.reset();
    deployed.deploys = 0;
    sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:iam::111111111111:user/ci' });
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'CDKToolkit', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: [{ OutputKey: 'BootstrapVersion', OutputValue: '28' }] }],
    });
    const values: Record<string, unknown> = {
      'jwt-secret': { current: newKey(new Date()) },
      'refresh-pepper': { current: newKey(new Date()) },
      twilio: { accountSid: `AC${'a'.repeat(32)}`, authToken: 'b'.repeat(32), verifyServiceSid: `VA${'c'.repeat(32)}` },
      'test-numbers': testNumbers,
    };
    for (const [name, value] of Object.entries(values)) {
      ssm.on(GetParameterHistoryCommand, { Name: `/chatshyld/dev/${name}` }).resolves({ Parameters: [{ Version: 1, Value: JSON.stringify(value) }] });
    }
  });
  afterEach(async () => {
    await sandbox?.close();
    sandbox = undefined;
  });

  /** A sandbox that knows the stage's test number, optionally with one route broken. */
  const stageApi = async (broken?: { route: 'getMe'; answer: ApiResponse }) => {
    const stateDir = await mkdtemp(join(root, 'api-'));
    sandbox = await startSandbox({
      stateDir,
      sourceRoot: repoRoot,
      ...(broken && {
        wrapFunction: (id: string, invoke: FunctionInvoke) =>
          id === broken.route
            ? async () => ({ statusCode: broken.answer.statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(broken.answer.body) })
            : invoke,
      }),
    });
    const secretsPath = join(stateDir, 'secrets.json');
    await writeSecretsFile(secretsPath, { ...(await readSecretsFile(secretsPath)), 'test-numbers': testNumbers });
    deployed.apiUrl = sandbox.url;
  };

  it('deploys, saves the outputs, then passes the smoke flow against them', async () => {
    await stageApi();
    const result = await runInProcess(['deploy', '--stage', 'dev', '--smoke'], root);
    expect(result.code, result.stderr).toBe(0);
    expect(deployed.deploys).toBe(1);
    expect(result.stdout).toContain('deployed ChatShyld-dev');
    expect(result.stdout).toContain('smoke passed — 14 steps: 14 passed');
    const saved = JSON.parse(await readFile(join(root, '.chatshyld', 'outputs', 'dev.json'), 'utf8'));
    expect(saved.ApiUrl).toBe(sandbox!.url);
    expect(result.stdout + result.stderr).not.toContain(testNumbers[0]!.code);
  });

  it('fails the command, exit 1, when the smoke flow fails after a successful deploy', async () => {
    await stageApi({ route: 'getMe', answer: { statusCode: 500, body: { error: { code: 'internal_error', message: 'x' } } } });
    const result = await runInProcess(['deploy', '--stage', 'dev', '--smoke'], root);
    expect(deployed.deploys).toBe(1);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/✗ me\s/);
  });
});
