import { appInputs } from '../../infra/lifecycle.js';
import { checkCredentials } from '../aws.js';
import { bundleForStage, cliEngine } from '../engine.js';
import { exitCodes } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { deployableStage, lifecycleError } from '../stage-target.js';

/** `chatshyld diff`: the template diff against the deployed stack; --fail exits 3 on any change. */
export async function diff(options: { fail?: boolean }, context: CommandContext): Promise<number> {
  const { out } = context;
  const target = await deployableStage(context);
  await checkCredentials(context, { stage: target.stage, account: target.stageConfig.account, region: target.stageConfig.region! });
  let result;
  try {
    const engine = await cliEngine(context, target);
    result = await engine.diff(appInputs(target, await bundleForStage(target)));
  } catch (error) {
    lifecycleError(error);
  }
  out.resultJson({ stage: target.stage, changes: result.changes, diff: result.text });
  out.result(result.text || `no differences for stage ${target.stage}`);
  return options.fail && result.changes > 0 ? exitCodes.changes : exitCodes.ok;
}
