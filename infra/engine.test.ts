import { AbortError, Toolkit, type IoRequest } from '@aws-cdk/toolkit-lib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lifecycleError } from '../cli/stage-target.js';
import { ToolkitEngine } from './engine.js';
import { approvalPolicy, type RequireApproval } from './lifecycle.js';
import { shippedStage } from './testing/synth.js';

/**
 * toolkit-lib's deploy, reduced to its approval step (toolkit.js: ask CDK_TOOLKIT_I5060 through the
 * toolkit's own IoHost wrapper; on `false`, clean up the change set and throw AbortError). Everything
 * before it needs AWS; the question and the answer travel through the real wrapper.
 */
function deployThatAsks(answers: unknown[], cleanups: string[]) {
  return vi.spyOn(Toolkit.prototype, 'deploy').mockImplementation(async function (this: Toolkit) {
    const request: IoRequest<{ permissionChangeType: string }, boolean> = {
      time: new Date(),
      level: 'info',
      action: 'deploy',
      code: 'CDK_TOOLKIT_I5060',
      message: 'IAM Statement Changes …\n\nStack includes security-sensitive updates. Do you wish to deploy these changes?',
      data: { permissionChangeType: 'broadening' },
      defaultResponse: true,
    };
    const confirmed = await this.ioHost.requestResponse(request);
    answers.push(confirmed);
    if (!confirmed) {
      cleanups.push('change set deleted');
      throw new AbortError('DeployAborted', 'Deployment cancelled');
    }
    return { stacks: [] } as never;
  });
}

describe('deploy approval through toolkit-lib', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const deployWith = async (requireApproval: RequireApproval, canPrompt: boolean, confirm: boolean) => {
    const answers: unknown[] = [];
    const cleanups: string[] = [];
    deployThatAsks(answers, cleanups);
    const engine = new ToolkitEngine({
      progress: () => {},
      debug: () => {},
      approve: approvalPolicy({ requireApproval, canPrompt, show: () => {}, confirm: async () => confirm }),
    });
    const inputs = { stage: 'dev', stageConfig: await shippedStage('dev'), settings: {}, version: 'test', bundleDir: '/nowhere' };
    const outcome = await engine.deploy(inputs, { hotswap: false }).then(
      (outputs) => ({ outputs }),
      (error: unknown) => ({ error: error as Error & { code?: string } }),
    );
    return { answers, cleanups, outcome };
  };

  it('with no terminal, answers false (so the toolkit removes its change set) and reports the refusal, exit 2', async () => {
    const { answers, cleanups, outcome } = await deployWith('broadening', false, true);
    expect(answers).toEqual([false]);
    expect(cleanups).toEqual(['change set deleted']);
    expect(outcome).toMatchObject({ error: { name: 'LifecycleRefused', code: 'approval_needed' } });
    const mapped = (() => {
      try {
        lifecycleError((outcome as { error: Error }).error);
      } catch (error) {
        return error as { exitCode: number; hint?: string };
      }
    })();
    expect(mapped).toMatchObject({ exitCode: 2, hint: expect.stringContaining('--require-approval never') });
  });

  it('a declined prompt is a refusal too, exit 2; an approval deploys', async () => {
    const declined = await deployWith('broadening', true, false);
    expect(declined.answers).toEqual([false]);
    expect(declined.outcome).toMatchObject({ error: { code: 'approval_declined' } });
    expect(() => lifecycleError((declined.outcome as { error: Error }).error)).toThrow(expect.objectContaining({ exitCode: 2 }));

    const approved = await deployWith('broadening', true, true);
    expect(approved.answers).toEqual([true]);
    expect(approved.outcome).toEqual({ outputs: {} });
  });

  it('a pre-approved deploy (the protection-only second deploy of a first create) is answered yes without asking', async () => {
    const answers: unknown[] = [];
    deployThatAsks(answers, []);
    const asked: string[] = [];
    const engine = new ToolkitEngine({
      progress: () => {},
      debug: () => {},
      approve: async (request) => {
        asked.push(request.question);
        return false;
      },
    });
    const inputs = { stage: 'prod', stageConfig: await shippedStage('prod'), settings: {}, version: 'test', bundleDir: '/nowhere' };
    await engine.deploy(inputs, { hotswap: false, preApproved: true });
    expect(answers).toEqual([true]);
    expect(asked).toEqual([]);
    // The next deploy asks again.
    await expect(engine.deploy(inputs, { hotswap: false })).rejects.toMatchObject({ name: 'LifecycleRefused' });
    expect(asked).toHaveLength(1);
  });

  it('an abort that no refusal caused stays the toolkit failure it is', async () => {
    vi.spyOn(Toolkit.prototype, 'deploy').mockRejectedValue(new AbortError('DeployAborted', 'Deployment cancelled'));
    const engine = new ToolkitEngine({ progress: () => {}, debug: () => {}, approve: async () => true });
    const inputs = { stage: 'dev', stageConfig: await shippedStage('dev'), settings: {}, version: 'test', bundleDir: '/nowhere' };
    const error = await engine.deploy(inputs, { hotswap: false }).catch((caught: unknown) => caught as Error);
    expect(() => lifecycleError(error)).toThrow(expect.objectContaining({ exitCode: 1, code: 'cdk_failed' }));
  });
});

describe('the deployment method toolkit-lib is given', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const methodFor = async (options: { hotswap: boolean; revertDrift?: boolean }) => {
    vi.restoreAllMocks();
    const deploy = vi.spyOn(Toolkit.prototype, 'deploy').mockResolvedValue({ stacks: [] } as never);
    const engine = new ToolkitEngine({ progress: () => {}, debug: () => {}, approve: async () => true });
    const inputs = { stage: 'dev', stageConfig: await shippedStage('dev'), settings: {}, version: 'test', bundleDir: '/nowhere' };
    await engine.deploy(inputs, options);
    expect(deploy).toHaveBeenCalledTimes(1);
    return deploy.mock.calls[0]![1]!;
  };

  it('--revert-drift asks for a drift-aware change set, which compares with the resources as they are', async () => {
    const call = await methodFor({ hotswap: false, revertDrift: true });
    expect(call.deploymentMethod).toEqual({ method: 'change-set', revertDrift: true });
    // Not a forced deploy: toolkit-lib's own warning says --force cannot remove out-of-band changes.
    expect(call.forceDeployment).toBeUndefined();
  });

  it('a plain deploy is a plain change set, and a hotswap falls back to one', async () => {
    expect((await methodFor({ hotswap: false })).deploymentMethod).toEqual({ method: 'change-set' });
    expect((await methodFor({ hotswap: true })).deploymentMethod).toEqual({ method: 'hotswap', fallback: { method: 'change-set' } });
  });
});
