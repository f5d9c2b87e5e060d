import { requireApprovalValues, type RequireApproval } from '../../infra/lifecycle.js';
import { awsError, checkCredentials } from '../aws.js';
import { bundleForStage, cliEngine } from '../engine.js';
import { CliError, exitCodes, usageError } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { deployableStage, lifecycleError } from '../stage-target.js';

export interface DeployOptions {
  readonly hotswap?: boolean;
  readonly revertDrift?: boolean;
  readonly requireApproval: string;
  readonly smoke?: boolean;
}

/** `chatshyld deploy`: guards, preflight, bundle, deploy with live progress, outputs, optional smoke. */
export async function deploy(options: DeployOptions, context: CommandContext): Promise<number> {
  const { out, global } = context;
  if (!(requireApprovalValues as readonly string[]).includes(options.requireApproval)) {
    throw usageError(`--require-approval must be one of ${requireApprovalValues.join(', ')}`);
  }
  const target = await deployableStage(context);
  const { stage, stageConfig } = target;

  // Guards that need no AWS call come first.
  if (stageConfig.protected && options.hotswap) {
    throw new CliError('protected', `stage ${stage} is protected: --hotswap skips CloudFormation and is refused there`, 'deploy without --hotswap', exitCodes.usage);
  }
  if (options.hotswap && options.revertDrift) {
    throw usageError('--revert-drift and --hotswap undo each other', 'deploy with --revert-drift alone to put the stack back as its template says');
  }
  if (stageConfig.protected && !global.yes && !out.canPrompt()) {
    throw new CliError('confirmation_needed', `stage ${stage} is protected: deploying needs confirmation, and there is no terminal to ask`, 'pass --yes to confirm', exitCodes.usage);
  }

  // The preflight (credentials, bootstrap, secrets) runs before any confirmation: nobody should
  // confirm a prod deploy and then learn that it could never have started.
  await checkCredentials(context, { stage, account: stageConfig.account, region: stageConfig.region! });
  const [{ deployStage, awsTarget }, { preflight }, { cloudFormationStackControl }] = await Promise.all([
    import('../../infra/lifecycle.js'),
    import('../../infra/preflight.js'),
    import('../../infra/stack-status.js'),
  ]);
  out.info(`checking bootstrap and secrets of ${stage}…`);
  const checks = await preflight(awsTarget(target)).catch((error: unknown) => {
    throw awsError(error, context) ?? error;
  });
  const failed = checks.find((check) => !check.ok);
  if (failed) {
    throw new CliError('preflight_failed', `${failed.name}: ${failed.detail}`, failed.fix ?? 'see `chatshyld doctor`', exitCodes.usage);
  }

  if (stageConfig.protected && !global.yes) {
    const { confirm } = await import('@inquirer/prompts');
    if (!(await confirm({ message: `Deploy to protected stage ${stage} (account ${stageConfig.account}, ${stageConfig.region})?`, default: false }))) {
      out.info('nothing deployed');
      return exitCodes.failed;
    }
  }

  let outcome;
  try {
    outcome = await deployStage(
      target,
      {
        engine: await cliEngine(context, target, options.requireApproval as RequireApproval),
        preflight: async () => checks,
        bundle: () => bundleForStage(target, context),
        progress: (line) => out.info(line),
        stack: cloudFormationStackControl(awsTarget(target)),
        // --yes, which confirms a protected deploy, also lets it replace a never-created stack
        // (one with no resources: the lifecycle checks); else a terminal asks, and no terminal refuses.
        confirmRecovery: async (question) =>
          global.yes || (out.canPrompt() && (await (await import('@inquirer/prompts')).confirm({ message: question, default: false }))),
      },
      { hotswap: Boolean(options.hotswap), ...(options.revertDrift && { revertDrift: true }) },
    );
  } catch (error) {
    lifecycleError(error);
  }
  if (options.hotswap) {
    // toolkit-lib says so only in its debug output: the stack now differs from what CloudFormation
    // records, and a deploy of an unchanged template would not notice.
    out.info(`hotswap: the functions of ${stage} now differ from what CloudFormation records (drift)`);
    out.info(`  to put back what CloudFormation can read (environment, description): chatshyld deploy --stage ${stage} --revert-drift`);
    out.info('  function code is write-only to CloudFormation: only a deploy whose code differs replaces it (docs/deploy.md, "After a hotswap")');
  }
  out.resultJson(outcome);
  out.result(
    [`deployed ${outcome.stackName}`, ...Object.entries(outcome.outputs).map(([key, value]) => `  ${key.padEnd(22)} ${value}`), `outputs saved to ${outcome.outputsPath}`].join('\n'),
  );

  if (options.smoke) {
    out.info(`smoke: checking stage ${stage}`);
    const { smoke } = await import('./smoke.js');
    const code = await smoke({ stage, reporter: out.json ? 'json' : 'pretty', out: '.chatshyld/smoke', timeout: 10_000 }, context);
    if (code !== exitCodes.ok) return exitCodes.failed;
  }
  return exitCodes.ok;
}

