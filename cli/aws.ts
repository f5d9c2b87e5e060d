/**
 * How commands talk to AWS: every client is built with the bounded timeouts of infra/aws-client.ts,
 * every wait is announced on stderr first, and every failure a user can cause becomes one line and
 * a hint (credentials and profile problems exit 2, as the caller must fix them; an unreachable or
 * silent network exits 1, as the operation failed and may work on a retry).
 */
import { awsClientConfig, describeAwsFailure, type AwsFailure } from '../infra/aws-client.js';
import { CliError, exitCodes } from './errors.js';
import type { CommandContext } from './command-context.js';

/** What the command is waiting on now, so a failure caught further up can say whose call it was. */
let current: string | undefined;

/** The SDK client config for this command: region, --profile, timeouts, attempts. */
export function clientConfig(context: CommandContext, region: string | undefined) {
  return awsClientConfig({ region, ...(context.global.profile && { profile: context.global.profile }) }, context.streams.env);
}

/** Says on stderr what the command is about to wait for ("checking credentials for dev (eu-west-1)"). */
export function announce(context: CommandContext, doing: string, where: string): void {
  current = where;
  context.out.info(`${doing}…`);
}

export function failureToError(failure: AwsFailure): CliError {
  const caller = failure.kind === 'credentials' || failure.kind === 'profile';
  return new CliError(`aws_${failure.kind}`, failure.message, failure.hint, caller ? exitCodes.usage : exitCodes.failed);
}

/** The CLI error for an AWS failure a user can cause and fix; undefined for anything else. */
export function awsError(error: unknown, context: Pick<CommandContext, 'global' | 'streams'>, where = current): CliError | undefined {
  const failure = describeAwsFailure(error, { ...(where && { where }), ...(context.global.profile && { profile: context.global.profile }) }, context.streams.env);
  return failure && failureToError(failure);
}

/**
 * Checks, with one bounded STS call, that there are credentials and that they are for the stage's
 * account. Commands that hand work to the CDK toolkit (whose own timeouts are long) call it first.
 */
export async function checkCredentials(
  context: CommandContext,
  target: { stage: string; account?: string; region: string },
): Promise<{ account: string | undefined; arn: string | undefined }> {
  const where = `stage ${target.stage} (${target.region})`;
  announce(context, `checking credentials for ${target.stage} (${target.region})`, where);
  const { GetCallerIdentityCommand, STSClient } = await import('@aws-sdk/client-sts');
  let account: string | undefined;
  let arn: string | undefined;
  try {
    ({ Account: account, Arn: arn } = await new STSClient(clientConfig(context, target.region)).send(new GetCallerIdentityCommand({})));
  } catch (error) {
    throw awsError(error, context, where) ?? error;
  }
  if (target.account && account !== target.account) {
    throw new CliError(
      'wrong_account',
      `the credentials are for account ${account}, but stage ${target.stage} lives in ${target.account}`,
      `use credentials for ${target.account}: --profile <name>, or AWS_PROFILE`,
      exitCodes.usage,
    );
  }
  return { account, arn };
}
