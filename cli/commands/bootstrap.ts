import { checkCredentials } from '../aws.js';
import { cliEngine } from '../engine.js';
import { exitCodes } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { deployableStage, lifecycleError } from '../stage-target.js';

/** `chatshyld bootstrap`: CDK bootstrap of the stage's account and region; safe to repeat. */
export async function bootstrap(_options: object, context: CommandContext): Promise<number> {
  const { out } = context;
  const target = await deployableStage(context);
  const { account, region } = target.stageConfig;
  await checkCredentials(context, { stage: target.stage, account: account!, region: region! });
  out.info(`bootstrapping aws://${account}/${region}`);
  try {
    await (await cliEngine(context, target)).bootstrap(account!, region!);
  } catch (error) {
    lifecycleError(error);
  }
  out.resultJson({ stage: target.stage, account, region, bootstrapped: true });
  out.result(`aws://${account}/${region} is bootstrapped for stage ${target.stage}`);
  return exitCodes.ok;
}
