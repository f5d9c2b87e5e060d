import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CdkEngine } from './engine.js';
import { approvalPolicy, deployStage, LifecycleRefused, type StageTarget } from './lifecycle.js';
import type { Check } from './preflight.js';
import type { StackControl, StackState } from './stack-status.js';

/** The stage's stack as CloudFormation would have it: a state, and every protection change. */
class FakeStack implements StackControl {
  readonly changes: boolean[] = [];
  constructor(public state: StackState | undefined) {}
  async read() {
    return this.state;
  }
  async setTerminationProtection(enabled: boolean) {
    this.changes.push(enabled);
    if (this.state) this.state = { ...this.state, terminationProtection: enabled };
  }
}

class FakeEngine implements CdkEngine {
  readonly calls: string[] = [];
  async synth() {
    this.calls.push('synth');
    return { directory: '', stackName: 'ChatShyld-dev', resourceCount: 1 };
  }
  async diff() {
    this.calls.push('diff');
    return { changes: 0, text: '' };
  }
  async deploy(inputs: { bundleDir: string; firstCreate?: boolean }, options: { hotswap: boolean; preApproved?: boolean }) {
    this.calls.push(`deploy ${inputs.bundleDir} hotswap=${options.hotswap}${inputs.firstCreate ? ' first-create' : ''}${options.preApproved ? ' pre-approved' : ''}`);
    return { ApiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com', AvatarsBucketName: 'bucket' };
  }
  async destroy() {
    this.calls.push('destroy');
  }
  async bootstrap() {
    this.calls.push('bootstrap');
  }
}

describe('the deploy lifecycle', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'chatshyld-lifecycle-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const target = (): StageTarget => ({
    stage: 'dev',
    stageConfig: { account: '111111111111', region: 'eu-west-1', allowTestNumbers: true },
    settings: {},
    version: '1.0.0',
    root,
  });
  const ok = (name: string): Check => ({ name, ok: true, detail: 'fine' });

  it('runs preflight, bundles, deploys, and saves the outputs where smoke --stage reads them', async () => {
    const engine = new FakeEngine();
    const progress: string[] = [];
    let preflightTarget;
    const outcome = await deployStage(
      target(),
      {
        engine,
        preflight: async (aws) => ((preflightTarget = aws), [ok('AWS credentials'), ok('CDK bootstrap')]),
        bundle: async () => '/bundles',
        progress: (line) => progress.push(line),
        stack: new FakeStack(undefined),
        confirmRecovery: async () => false,
      },
      { hotswap: true },
    );
    expect(preflightTarget).toMatchObject({ stage: 'dev', account: '111111111111', region: 'eu-west-1', allowTestNumbers: true });
    expect(engine.calls).toEqual(['deploy /bundles hotswap=true']);
    expect(outcome.outputsPath).toBe(join(root, '.chatshyld', 'outputs', 'dev.json'));
    const saved = JSON.parse(await readFile(outcome.outputsPath, 'utf8'));
    expect(saved).toMatchObject({ ApiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com', stackName: 'ChatShyld-dev' });
    expect(Date.parse(saved.deployedAt)).not.toBeNaN();
    expect(progress[0]).toBe('✓ AWS credentials: fine');
  });

  it('stops at a failed preflight check, naming its fix, before bundling or deploying', async () => {
    const engine = new FakeEngine();
    let bundled = false;
    const attempt = deployStage(
      target(),
      {
        engine,
        preflight: async () => [ok('AWS credentials'), { name: 'secret jwt-secret', ok: false, detail: 'missing', fix: 'chatshyld secrets init --stage dev' }],
        bundle: async () => ((bundled = true), '/bundles'),
        progress: () => {},
        stack: new FakeStack(undefined),
        confirmRecovery: async () => false,
      },
      { hotswap: false },
    );
    await expect(attempt).rejects.toBeInstanceOf(LifecycleRefused);
    await expect(attempt).rejects.toMatchObject({ hint: 'chatshyld secrets init --stage dev', message: 'secret jwt-secret: missing' });
    expect(bundled).toBe(false);
    expect(engine.calls).toEqual([]);
  });
});

describe('termination protection of a protected stage', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'chatshyld-protection-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const prod = (): StageTarget => ({
    stage: 'prod',
    stageConfig: { account: '333333333333', region: 'eu-west-1', protected: true },
    settings: {},
    version: '1.0.0',
    root,
  });
  const state = (status: string, terminationProtection: boolean, liveResources = 0): StackState => ({ stackId: 'arn:stack', status, terminationProtection, liveResources });
  const run = (stack: FakeStack, confirmRecovery: (question: string) => Promise<boolean> = async () => false) => {
    const engine = new FakeEngine();
    const progress: string[] = [];
    const outcome = deployStage(
      prod(),
      { engine, preflight: async () => [], bundle: async () => '/b', progress: (line) => progress.push(line), stack, confirmRecovery },
      { hotswap: false },
    );
    return { engine, progress, outcome };
  };

  it('creates the stack without it (nor table deletion protection), then deploys the full template and switches it on', async () => {
    const stack = new FakeStack(undefined);
    const { engine, outcome } = run(stack);
    await outcome;
    // The second deploy only switches protection on: what was approved for the first is not asked again.
    expect(engine.calls).toEqual(['deploy /b hotswap=false first-create', 'deploy /b hotswap=false pre-approved']);
    expect(stack.changes).toEqual([true]);
  });

  it('keeps it in the template of an existing healthy stack, and turns it back on if it was off', async () => {
    const healthy = new FakeStack(state('UPDATE_COMPLETE', true));
    const first = run(healthy);
    await first.outcome;
    expect(first.engine.calls).toEqual(['deploy /b hotswap=false']);
    expect(healthy.changes).toEqual([]);

    const unprotected = new FakeStack(state('CREATE_COMPLETE', false));
    const second = run(unprotected);
    await second.outcome;
    expect(unprotected.changes).toEqual([true]);
  });

  it('a never-created stack left protected: asks, switches it off, redeploys as a first create, switches it on', async () => {
    for (const status of ['ROLLBACK_COMPLETE', 'REVIEW_IN_PROGRESS']) {
      const stack = new FakeStack(state(status, true));
      const questions: string[] = [];
      const { engine, outcome, progress } = run(stack, async (question) => (questions.push(question), true));
      await outcome;
      expect(questions).toEqual([expect.stringContaining(`ChatShyld-prod is ${status}`)]);
      expect(stack.changes).toEqual([false, true]);
      // The second deploy only switches protection on: what was approved for the first is not asked again.
    expect(engine.calls).toEqual(['deploy /b hotswap=false first-create', 'deploy /b hotswap=false pre-approved']);
      expect(progress).toContain('termination protection switched on for ChatShyld-prod');
    }
  });

  it('declined, or with resources left, or ROLLBACK_FAILED: refuses with the commands to run, and changes nothing', async () => {
    expect.assertions(9);
    for (const [current, hint] of [
      [state('ROLLBACK_COMPLETE', true), 'update-termination-protection --no-enable-termination-protection --stack-name ChatShyld-prod'],
      [state('ROLLBACK_COMPLETE', true, 2), 'list-stack-resources --stack-name ChatShyld-prod'],
      [state('ROLLBACK_FAILED', true), 'list-stack-resources --stack-name ChatShyld-prod'],
    ] as const) {
      const stack = new FakeStack(current);
      const { engine, outcome } = run(stack, async () => false);
      await expect(outcome).rejects.toMatchObject({ name: 'LifecycleRefused', code: 'stack_needs_recovery', hint: expect.stringContaining(hint) });
      expect(stack.changes).toEqual([]);
      expect(engine.calls).toEqual([]);
    }
  });
});

describe('deploy approvals', () => {
  const request = (permissionChangeType: 'broadening' | 'non-broadening' | 'none') => ({
    permissionChangeType,
    question: 'IAM Statement Changes …',
  });

  it('by default asks only when permissions widen', async () => {
    const asked: string[] = [];
    const approve = approvalPolicy({
      requireApproval: 'broadening',
      canPrompt: true,
      show: (text) => asked.push(text),
      confirm: async () => false,
    });
    expect(await approve(request('none'))).toBe(true);
    expect(await approve(request('non-broadening'))).toBe(true);
    expect(await approve(request('broadening'))).toBe(false);
    expect(asked).toEqual(['IAM Statement Changes …']);
  });

  it('with no terminal, refuses a change that needs approval and names the flag', async () => {
    const approve = approvalPolicy({ requireApproval: 'broadening', canPrompt: false, show: () => {}, confirm: async () => true });
    await expect(approve(request('broadening'))).rejects.toMatchObject({ code: 'approval_needed', hint: expect.stringContaining('--require-approval never') });
    expect(await approve(request('none'))).toBe(true);
  });

  it('never asks with --require-approval never, and always with any-change', async () => {
    const never = approvalPolicy({ requireApproval: 'never', canPrompt: false, show: () => {}, confirm: async () => false });
    expect(await never(request('broadening'))).toBe(true);
    const always = approvalPolicy({ requireApproval: 'any-change', canPrompt: true, show: () => {}, confirm: async () => true });
    expect(await always(request('none'))).toBe(true);
    const alwaysNoTerminal = approvalPolicy({ requireApproval: 'any-change', canPrompt: false, show: () => {}, confirm: async () => true });
    await expect(alwaysNoTerminal(request('none'))).rejects.toBeInstanceOf(LifecycleRefused);
  });
});

describe('a resource of a never-created stack', () => {
  it('still exists unless its delete completed: a failed or skipped delete leaves it in the account', async () => {
    const { stillExists } = await import('./stack-status.js');
    expect(['CREATE_COMPLETE', 'CREATE_FAILED', 'DELETE_FAILED', 'DELETE_SKIPPED', 'DELETE_IN_PROGRESS', undefined].map(stillExists)).toEqual([true, true, true, true, true, true]);
    expect(stillExists('DELETE_COMPLETE')).toBe(false);
  });
});
