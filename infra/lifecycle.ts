/**
 * The deploy lifecycle of one stage, as the CLI runs it: the guards that need no AWS call, the
 * preflight, bundling, and the CDK engine. Everything here works against `CdkEngine` and a
 * preflight function, so tests drive it with fakes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StageConfig } from '../service/stage.js';
import type { SettingsOverrides } from '../service/settings.js';
import type { StageAppInputs } from './app.js';
import type { ApprovalRequest, CdkEngine, EngineDeployOptions } from './engine.js';
import type { AwsTarget, Check } from './preflight.js';
import type { StackControl, StackState } from './stack-status.js';
import { LifecycleRefused } from './lifecycle-refused.js';
import { stackName } from './names.js';

/**
 * States of a stack whose first create never completed: CloudFormation cannot update it, and a
 * deploy must delete it and create it again (toolkit-lib does so for the ROLLBACK ones, and
 * creates a new change set on a REVIEW_IN_PROGRESS one).
 */
export const neverCreatedStatuses: ReadonlySet<string> = new Set(['ROLLBACK_COMPLETE', 'ROLLBACK_FAILED', 'REVIEW_IN_PROGRESS']);

export type RequireApproval = 'never' | 'broadening' | 'any-change';
export const requireApprovalValues: readonly RequireApproval[] = ['never', 'broadening', 'any-change'];

export interface StageTarget {
  readonly stage: string;
  readonly stageConfig: StageConfig;
  readonly settings: SettingsOverrides;
  readonly version: string;
  /** The project root, where `.chatshyld/` lives. */
  readonly root: string;
  readonly profile?: string;
}

export { LifecycleRefused } from './lifecycle-refused.js';

export function awsTarget(target: StageTarget): AwsTarget {
  return {
    stage: target.stage,
    account: target.stageConfig.account!,
    region: target.stageConfig.region!,
    ...(target.profile && { profile: target.profile }),
    ...(target.stageConfig.kmsKeyId && { kmsKeyId: target.stageConfig.kmsKeyId }),
    allowTestNumbers: target.stageConfig.allowTestNumbers ?? !target.stageConfig.protected,
  };
}

export function appInputs(target: StageTarget, bundleDir: string): Omit<StageAppInputs, 'outdir' | 'context'> {
  return { stage: target.stage, stageConfig: target.stageConfig, settings: target.settings, version: target.version, bundleDir };
}

/**
 * Decides a deploy's approval the way `--require-approval` says: `broadening` (the default) asks
 * only when IAM or network access widens, `any-change` always asks, `never` never does. With no
 * terminal to ask on, a needed approval stops the deploy.
 */
export function approvalPolicy(options: {
  readonly requireApproval: RequireApproval;
  readonly canPrompt: boolean;
  readonly show: (text: string) => void;
  readonly confirm: (question: string) => Promise<boolean>;
}): (request: ApprovalRequest) => Promise<boolean> {
  return async (request) => {
    if (options.requireApproval === 'never') return true;
    if (options.requireApproval === 'broadening' && request.permissionChangeType !== 'broadening') return true;
    if (!options.canPrompt) {
      throw new LifecycleRefused(
        'approval_needed',
        request.permissionChangeType === 'broadening'
          ? 'this deploy widens IAM permissions or network access and needs approval, but there is no terminal to ask'
          : 'this deploy needs approval (--require-approval any-change), but there is no terminal to ask',
        'review it with `chatshyld diff`, then deploy with --require-approval never',
      );
    }
    options.show(request.question);
    return options.confirm('Deploy these changes?');
  };
}

export interface DeployDependencies {
  readonly engine: CdkEngine;
  readonly preflight: (target: AwsTarget) => Promise<Check[]>;
  readonly bundle: () => Promise<string>;
  readonly progress: (line: string) => void;
  /** The stage's stack in CloudFormation: read before the deploy, protected after it. */
  readonly stack: StackControl;
  /**
   * Asked before a protected stage's never-created stack loses its termination protection so the
   * deploy can replace it; false stops the deploy with the commands to run by hand.
   */
  readonly confirmRecovery: (question: string) => Promise<boolean>;
}

export interface DeployOutcome {
  readonly stackName: string;
  readonly outputs: Record<string, string>;
  readonly outputsPath: string;
}

export async function deployStage(
  target: StageTarget,
  dependencies: DeployDependencies,
  options: EngineDeployOptions,
): Promise<DeployOutcome> {
  const checks = await dependencies.preflight(awsTarget(target));
  const failed = checks.find((check) => !check.ok);
  if (failed) {
    throw new LifecycleRefused('preflight_failed', `${failed.name}: ${failed.detail}`, failed.fix ?? 'see `chatshyld doctor`');
  }
  for (const check of checks) dependencies.progress(`✓ ${check.name}: ${check.detail}`);

  const isProtected = Boolean(target.stageConfig.protected);
  const existing = await dependencies.stack.read();
  const firstCreate = !existing || neverCreatedStatuses.has(existing.status);
  if (isProtected && existing && firstCreate && existing.terminationProtection) {
    await recoverNeverCreatedStack(target, existing, dependencies);
  }

  dependencies.progress('bundling functions');
  const bundleDir = await dependencies.bundle();
  dependencies.progress(`deploying ${stackName(target.stage)} to ${target.stageConfig.account}/${target.stageConfig.region}${options.hotswap ? ' (hotswap)' : ''}`);
  // toolkit-lib switches termination protection on right after it creates the change set, before
  // executing it, and DynamoDB refuses to delete a table with deletion protection: a protected
  // stage's first create that then failed (or was declined) would leave a stack CloudFormation
  // cannot roll back or delete, and every later deploy would fail on it. So a first create goes
  // without both, and a second deploy of the full template switches them on once the stack exists
  // healthy. An existing protected stack keeps them throughout.
  const firstProtectedCreate = isProtected && firstCreate;
  let outputs = await dependencies.engine.deploy(
    { ...appInputs(target, bundleDir), ...(firstProtectedCreate && { firstCreate: true }) },
    options,
  );
  if (firstProtectedCreate) {
    dependencies.progress(`${stackName(target.stage)} created: deploying again to switch on deletion and termination protection`);
    outputs = await dependencies.engine.deploy(appInputs(target, bundleDir), { ...options, hotswap: false, preApproved: true });
  }
  if (isProtected && (firstCreate || !existing.terminationProtection)) {
    await dependencies.stack.setTerminationProtection(true);
    dependencies.progress(`termination protection switched on for ${stackName(target.stage)}`);
  }
  const outputsPath = await saveOutputs(target, outputs);
  return { stackName: stackName(target.stage), outputs, outputsPath };
}

/** `.chatshyld/outputs/<stage>.json`: what `smoke --stage` and `status` read. */
export async function saveOutputs(target: StageTarget, outputs: Record<string, string>): Promise<string> {
  const directory = join(target.root, '.chatshyld', 'outputs');
  await mkdir(directory, { recursive: true });
  const path = join(directory, `${target.stage}.json`);
  await writeFile(path, `${JSON.stringify({ ...outputs, stackName: stackName(target.stage), deployedAt: new Date().toISOString() }, null, 2)}\n`);
  return path;
}

/**
 * A protected stage's stack whose first create never completed (ROLLBACK_COMPLETE after a failure,
 * REVIEW_IN_PROGRESS after a declined or interrupted first deploy), left with termination protection
 * on by an earlier deploy: CloudFormation refuses the DeleteStack a redeploy needs. When it holds no
 * resources, protection is switched off after asking, and the deploy replaces it.
 */
async function recoverNeverCreatedStack(target: StageTarget, stack: StackState, dependencies: DeployDependencies): Promise<void> {
  const name = stackName(target.stage);
  const byHand =
    `aws cloudformation update-termination-protection --no-enable-termination-protection --stack-name ${name} --region ${target.stageConfig.region}` +
    `, then chatshyld deploy --stage ${target.stage}`;
  const why = stack.status === 'REVIEW_IN_PROGRESS' ? 'its first deploy was never executed' : 'its first deploy failed';
  if (stack.status === 'ROLLBACK_FAILED' || stack.liveResources > 0) {
    throw new LifecycleRefused(
      'stack_needs_recovery',
      `${name} is ${stack.status} with termination protection on and ${stack.liveResources} resource(s) still in it: ${why}, and CloudFormation will not delete it while it is protected`,
      `look at what is left (aws cloudformation list-stack-resources --stack-name ${name}), remove it, then ${byHand}`,
    );
  }
  const approved = await dependencies.confirmRecovery(
    `${name} is ${stack.status}: ${why}, it holds no resources, and termination protection stops CloudFormation from replacing it. Switch protection off so this deploy can replace it?`,
  );
  if (!approved) {
    throw new LifecycleRefused(
      'stack_needs_recovery',
      `${name} is ${stack.status} with termination protection on: ${why}, and CloudFormation will not replace it while it is protected`,
      `deploy again on a terminal to be asked, or with --yes; or by hand: ${byHand}`,
    );
  }
  await dependencies.stack.setTerminationProtection(false);
  dependencies.progress(`termination protection switched off for ${name} (${stack.status}, no resources): the deploy replaces it and switches it on again`);
}
