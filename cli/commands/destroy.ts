import { appInputs } from '../../infra/lifecycle.js';
import { checkCredentials } from '../aws.js';
import { cliEngine } from '../engine.js';
import { CliError, exitCodes } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { deployableStage, lifecycleError } from '../stage-target.js';

/** `chatshyld destroy`: refused for protected stages; otherwise asks to type the stage name. */
export async function destroy(_options: object, context: CommandContext): Promise<number> {
  const { out, global } = context;
  const target = await deployableStage(context);
  if (target.stageConfig.protected) {
    throw new CliError(
      'protected',
      `stage ${target.stage} is protected: destroy is refused, and its data is retained even if its stack is deleted`,
      `to retire it, set "protected": false for ${target.stage} in chatshyld.config.json in a reviewed change, deploy, then destroy`,
      exitCodes.usage,
    );
  }
  if (!global.yes) {
    if (!out.canPrompt()) {
      throw new CliError('confirmation_needed', `destroying stage ${target.stage} needs confirmation, and there is no terminal to ask`, 'pass --yes to confirm', exitCodes.usage);
    }
    const { input } = await import('@inquirer/prompts');
    const typed = await input({ message: `This deletes stage ${target.stage} and all its data. Type the stage name to confirm:` });
    if (typed.trim() !== target.stage) {
      out.info('the name did not match: nothing destroyed');
      return exitCodes.failed;
    }
  }
  await checkCredentials(context, { stage: target.stage, account: target.stageConfig.account, region: target.stageConfig.region! });
  try {
    const engine = await cliEngine(context, target);
    const { bundleForStage } = await import('../engine.js');
    await engine.destroy(appInputs(target, await bundleForStage(target)));
  } catch (error) {
    lifecycleError(error);
  }
  out.resultJson({ destroyed: target.stage });
  out.result(`destroyed stage ${target.stage}`);
  return exitCodes.ok;
}
