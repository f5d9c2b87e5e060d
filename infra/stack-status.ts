import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  UpdateTerminationProtectionCommand,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import { awsClientConfig } from './aws-client.js';
import { neverCreatedStatuses } from './lifecycle.js';
import { stackName } from './names.js';
import { usableStackStatuses, type AwsTarget, type Check } from './preflight.js';


/** What a deploy needs to know of the stage's stack before it starts. */
export interface StackState {
  readonly stackId: string;
  readonly status: string;
  readonly terminationProtection: boolean;
  /** Resources not deleted (a rolled-back create keeps only retained ones). */
  readonly liveResources: number;
}

/** The stage's stack, read and protected through CloudFormation's own API. */
export interface StackControl {
  /** The stack as CloudFormation has it now; undefined when there is none. */
  read(): Promise<StackState | undefined>;
  setTerminationProtection(enabled: boolean): Promise<void>;
}

const missing = (error: unknown) => /does not exist/.test((error as Error).message);

export function cloudFormationStackControl(target: Pick<AwsTarget, 'stage' | 'region' | 'profile'>): StackControl {
  const client = new CloudFormationClient(awsClientConfig(target));
  const name = stackName(target.stage);
  return {
    async read() {
      let stack;
      try {
        stack = (await client.send(new DescribeStacksCommand({ StackName: name }))).Stacks?.[0];
      } catch (error) {
        if (missing(error)) return undefined;
        throw error;
      }
      if (!stack?.StackId || stack.StackStatus === 'DELETE_COMPLETE') return undefined;
      // Only a stack that never got created is listed here: its resources decide whether it may go.
      let liveResources = 0;
      if (neverCreatedStatuses.has(stack.StackStatus ?? '')) {
        let token: string | undefined;
        do {
          const page = await client.send(new ListStackResourcesCommand({ StackName: stack.StackId, ...(token && { NextToken: token }) }));
          liveResources += (page.StackResourceSummaries ?? []).filter((resource: StackResourceSummary) => stillExists(resource.ResourceStatus)).length;
          token = page.NextToken;
        } while (token);
      }
      return {
        stackId: stack.StackId,
        status: stack.StackStatus ?? 'unknown',
        terminationProtection: stack.EnableTerminationProtection ?? false,
        liveResources,
      };
    },
    async setTerminationProtection(enabled) {
      await client.send(new UpdateTerminationProtectionCommand({ StackName: name, EnableTerminationProtection: enabled }));
    },
  };
}

/**
 * Whether the stage's stack exists and is in a settled, working state, and for a protected stage
 * whether termination protection is on. The fix named is one that works from that state.
 */
export async function checkStack(target: Pick<AwsTarget, 'stage' | 'region' | 'profile'> & { readonly protected?: boolean }): Promise<Check> {
  const name = 'stack';
  const deploy = `chatshyld deploy --stage ${target.stage}`;
  try {
    const { Stacks } = await new CloudFormationClient(awsClientConfig(target)).send(
      new DescribeStacksCommand({ StackName: stackName(target.stage) }),
    );
    const status = Stacks?.[0]?.StackStatus ?? 'unknown';
    const protectedOn = Stacks?.[0]?.EnableTerminationProtection ?? false;
    const detail = `${stackName(target.stage)} ${status}`;
    if (usableStackStatuses.has(status)) {
      if (target.protected && !protectedOn) {
        return { name, ok: false, detail: `${detail}, but termination protection is off on a protected stage`, fix: `${deploy} (switches it on)` };
      }
      return { name, ok: true, detail };
    }
    if (neverCreatedStatuses.has(status)) {
      // REVIEW_IN_PROGRESS never finishes by itself: it is a change set nobody executed.
      const why = status === 'REVIEW_IN_PROGRESS' ? 'a first deploy that was never executed' : 'a first deploy that failed';
      return {
        name,
        ok: false,
        detail: `${detail}: ${why}${protectedOn ? ', with termination protection on' : ''}`,
        fix: protectedOn ? `${deploy} (asks, then switches protection off so the deploy can replace it)` : `${deploy} (replaces it)`,
      };
    }
    return { name, ok: false, detail, fix: /IN_PROGRESS$/.test(status) ? 'wait for it to finish: chatshyld status' : deploy };
  } catch (error) {
    if (missing(error)) return { name, ok: false, detail: `${stackName(target.stage)} is not deployed`, fix: deploy };
    return { name, ok: false, detail: (error as Error).message, fix: 'check your AWS credentials and region' };
  }
}

/**
 * Whether a stack's resource still exists in the account: everything but DELETE_COMPLETE. A
 * DELETE_FAILED or DELETE_SKIPPED (retained) resource is still there, and a stack holding one is not
 * safe to delete and create again.
 */
export function stillExists(resourceStatus: string | undefined): boolean {
  return resourceStatus !== 'DELETE_COMPLETE';
}
