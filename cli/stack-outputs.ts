/**
 * A deployed stage's stack, read from CloudFormation: what `status`, and `smoke --stage` from a
 * checkout with no `.chatshyld/outputs/<stage>.json` (a fresh CI job), need of it.
 */
import type { Stack } from '@aws-sdk/client-cloudformation';
import { stackName } from '../infra/names.js';
import { announce, awsError, clientConfig } from './aws.js';
import { operationFailed } from './errors.js';
import type { CommandContext } from './command-context.js';

/** The stage's stack, or undefined when CloudFormation has none of that name. */
export async function describeStageStack(context: CommandContext, stage: string, region: string): Promise<Stack | undefined> {
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const name = stackName(stage);
  announce(context, `reading stack ${name} in ${region}`, `stage ${stage} (${region})`);
  try {
    return (await new CloudFormationClient(clientConfig(context, region)).send(new DescribeStacksCommand({ StackName: name }))).Stacks?.[0];
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) return undefined;
    throw awsError(error, context) ?? operationFailed('aws_error', `could not read stack ${name}: ${(error as Error).message}`, 'check your AWS credentials (--profile) and region');
  }
}

export function stackOutputs(stack: Stack | undefined): Record<string, string> {
  return Object.fromEntries((stack?.Outputs ?? []).map((output) => [output.OutputKey ?? '', output.OutputValue ?? '']));
}
