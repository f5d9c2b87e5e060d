import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { awsClientConfig } from './aws-client.js';
import { stackName } from './names.js';
import { usableStackStatuses, type AwsTarget, type Check } from './preflight.js';

/** Whether the stage's stack exists and is in a settled, working state. */
export async function checkStack(target: Pick<AwsTarget, 'stage' | 'region' | 'profile'>): Promise<Check> {
  const name = 'stack';
  const fix = `chatshyld deploy --stage ${target.stage}`;
  try {
    const { Stacks } = await new CloudFormationClient(awsClientConfig(target)).send(
      new DescribeStacksCommand({ StackName: stackName(target.stage) }),
    );
    const status = Stacks?.[0]?.StackStatus ?? 'unknown';
    const ok = usableStackStatuses.has(status);
    return { name, ok, detail: `${stackName(target.stage)} ${status}`, ...(!ok && { fix: /IN_PROGRESS/.test(status) ? 'wait for it to finish: chatshyld status' : fix }) };
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) return { name, ok: false, detail: `${stackName(target.stage)} is not deployed`, fix };
    return { name, ok: false, detail: (error as Error).message, fix: 'check your AWS credentials and region' };
  }
}
