import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { announce, awsError, clientConfig } from '../aws.js';
import { stackName } from '../../infra/names.js';
import { exitCodes, operationFailed } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { deployableStage } from '../stage-target.js';

/** `chatshyld status`: the stack's state, its last update, its outputs, and the last deploy from here. */
export async function status(_options: object, context: CommandContext): Promise<number> {
  const { out } = context;
  const target = await deployableStage(context);
  const name = stackName(target.stage);
  const region = target.stageConfig.region!;
  const client = new CloudFormationClient(clientConfig(context, region));
  announce(context, `reading stack ${name} in ${region}`, `stage ${target.stage} (${region})`);
  let stack;
  try {
    stack = (await client.send(new DescribeStacksCommand({ StackName: name }))).Stacks?.[0];
  } catch (error) {
    if (!/does not exist/.test((error as Error).message)) {
      throw awsError(error, context) ?? operationFailed('aws_error', `could not read stack ${name}: ${(error as Error).message}`, 'check your AWS credentials (--profile) and region');
    }
  }
  const saved = await readFile(join(target.root, '.chatshyld', 'outputs', `${target.stage}.json`), 'utf8')
    .then((text) => JSON.parse(text) as Record<string, string>)
    .catch(() => undefined);
  const outputs = Object.fromEntries((stack?.Outputs ?? []).map((output) => [output.OutputKey, output.OutputValue]));
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
