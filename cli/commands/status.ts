import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stackName } from '../../infra/names.js';
import { exitCodes } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { describeStageStack, stackOutputs } from '../stack-outputs.js';
import { deployableStage } from '../stage-target.js';

/** `chatshyld status`: the stack's state, its last update, its outputs, and the last deploy from here. */
export async function status(_options: object, context: CommandContext): Promise<number> {
  const { out } = context;
  const target = await deployableStage(context);
  const name = stackName(target.stage);
  const region = target.stageConfig.region!;
  const stack = await describeStageStack(context, target.stage, region);
  const saved = await readFile(join(target.root, '.chatshyld', 'outputs', `${target.stage}.json`), 'utf8')
    .then((text) => JSON.parse(text) as Record<string, string>)
    .catch(() => undefined);
  const outputs = stackOutputs(stack);
  const report = {
    stage: target.stage,
    stackName: name,
    deployed: Boolean(stack),
    status: stack?.StackStatus ?? 'NOT_DEPLOYED',
    statusReason: stack?.StackStatusReason,
    lastUpdated: (stack?.LastUpdatedTime ?? stack?.CreationTime)?.toISOString(),
    terminationProtection: stack?.EnableTerminationProtection ?? false,
    outputs,
    lastDeployFromHere: saved?.deployedAt,
  };
  out.resultJson(report);
  out.result(
    [
      `${name}: ${report.status}${report.statusReason ? ` (${report.statusReason})` : ''}`,
      ...(report.deployed ? [`  last updated           ${report.lastUpdated}`, `  termination protection ${report.terminationProtection ? 'on' : 'off'}`] : [`  not deployed: chatshyld deploy --stage ${target.stage}`]),
      ...Object.entries(outputs).map(([key, value]) => `  ${String(key).padEnd(22)} ${value}`),
      ...(saved?.deployedAt ? [`  last deploy from here  ${saved.deployedAt}`] : []),
    ].join('\n'),
  );
  return exitCodes.ok;
}
