import type { StageTarget } from '../infra/lifecycle.js';
import { describeAwsFailure } from '../infra/aws-client.js';
import { failureToError } from './aws.js';
import { loadConfig, localStage, resolveStage, stageName, stageSettings } from './config.js';
import { CliError, configError, usageError } from './errors.js';
import type { CommandContext } from './command-context.js';
import { version } from '../infra/version.js';

/** The stage a deploy-lifecycle command acts on: from --stage or CHATSHYLD_STAGE, never `local`. */
export async function deployableStage({ global, streams }: CommandContext): Promise<StageTarget> {
  const stage = stageName(global.stage, streams.env);
  if (!stage) throw usageError('which stage?', 'pass --stage <name> (or set CHATSHYLD_STAGE)');
  if (stage === localStage) {
    throw usageError('the local stage is the sandbox and has nothing to deploy', 'run it with `chatshyld dev`');
  }
  const loaded = await loadConfig(streams.cwd);
  const { config } = resolveStage(loaded, stage);
  const region = global.region ?? config?.region;
  if (!config?.account || !region) {
    throw configError(`stage ${stage} needs an account and a region`, `set stages.${stage}.account and .region in ${loaded.path}`);
  }
  return {
    stage,
    stageConfig: { ...config, region },
    settings: stageSettings(config),
    version,
    root: loaded.root,
    ...(global.profile && { profile: global.profile }),
  };
}

/** Turns the lifecycle's refusals and the toolkit's failures into the CLI's error style. */
export function lifecycleError(error: unknown): never {
  const err = error as Error & { code?: string; hint?: string };
  if (err.name === 'LifecycleRefused' || err.constructor?.name === 'LifecycleRefused') {
    throw new CliError(err.code ?? 'refused', err.message, err.hint, 2);
  }
  const aws = describeAwsFailure(error);
  if (aws) throw failureToError(aws);
  // toolkit-lib names its errors by their code (DeployAborted, …); its symbols say what they are.
  const toolkitError = typeof error === 'object' && error !== null && Symbol.for('@aws-cdk/toolkit-lib.ToolkitError') in error;
  if (err.name === 'AuthenticationError' || (toolkitError && Symbol.for('@aws-cdk/toolkit-lib.AuthenticationError') in err)) {
    throw new CliError('aws_credentials', `AWS refused the credentials: ${err.message}`, 'check them with `aws sts get-caller-identity` (or pass --profile <name>) and try again', 2);
  }
  if (toolkitError || ['ToolkitError', 'DeploymentError', 'AssemblyError', 'BootstrapError', 'AbortError'].includes(err.name)) {
    throw new CliError('cdk_failed', err.message, 'run with --verbose for the toolkit\'s own messages', 1);
  }
  throw error;
}
