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
import type { ApprovalRequest, CdkEngine } from './engine.js';
import type { AwsTarget, Check } from './preflight.js';
import { LifecycleRefused } from './lifecycle-refused.js';
import { stackName } from './names.js';

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
}

export interface DeployOutcome {
  readonly stackName: string;
  readonly outputs: Record<string, string>;
  readonly outputsPath: string;
}

export async function deployStage(
  target: StageTarget,
  dependencies: DeployDependencies,
  options: { readonly hotswap: boolean },
): Promise<DeployOutcome> {
  const checks = await dependencies.preflight(awsTarget(target));
  const failed = checks.find((check) => !check.ok);
  if (failed) {
    throw new LifecycleRefused('preflight_failed', `${failed.name}: ${failed.detail}`, failed.fix ?? 'see `chatshyld doctor`');
  }
  for (const check of checks) dependencies.progress(`✓ ${check.name}: ${check.detail}`);

  dependencies.progress('bundling functions');
  const bundleDir = await dependencies.bundle();
  dependencies.progress(`deploying ${stackName(target.stage)} to ${target.stageConfig.account}/${target.stageConfig.region}${options.hotswap ? ' (hotswap)' : ''}`);
  const outputs = await dependencies.engine.deploy(appInputs(target, bundleDir), { hotswap: options.hotswap });
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
