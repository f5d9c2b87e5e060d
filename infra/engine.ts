/**
 * The CDK, through its programmatic toolkit (`@aws-cdk/toolkit-lib`), behind a small interface so the
 * orchestration in `lifecycle.ts` can be tested without AWS. Synthesis runs in-process
 * (`fromAssemblyBuilder`); the IoHost renders stack activity as progress lines and hands every
 * approval request to the caller's policy.
 */
import { rm } from 'node:fs/promises';
import {
  AbortError,
  BaseCredentials,
  BootstrapEnvironments,
  StackSelectionStrategy,
  Toolkit,
  type IIoHost,
  type IoMessage,
  type IoRequest,
} from '@aws-cdk/toolkit-lib';
import { buildStageApp, type StageAppInputs } from './app.js';
import { assertReplaceableAssembly } from './assembly-folder.js';
import { LifecycleRefused } from './lifecycle-refused.js';
import { stackName } from './names.js';

export { assertReplaceableAssembly };

export interface ApprovalRequest {
  /** 'broadening' when IAM or security-group changes widen access. */
  readonly permissionChangeType: 'broadening' | 'non-broadening' | 'none';
  /** The diff the toolkit would show, formatted. */
  readonly question: string;
}

export interface EngineEvents {
  progress(line: string): void;
  debug(line: string): void;
  /** Decides a deploy's approval; may throw to stop the deploy. */
  approve(request: ApprovalRequest): Promise<boolean>;
}

export interface SynthSummary {
  readonly directory: string;
  readonly stackName: string;
  readonly resourceCount: number;
}

export interface DiffSummary {
  readonly changes: number;
  readonly text: string;
}

export interface EngineDeployOptions {
  readonly hotswap: boolean;
  /**
   * A drift-aware change set (CloudFormation's `REVERT_DRIFT` mode, toolkit-lib's `revertDrift`): it
   * compares the template with the resources as they are, not with the last template, so it puts back
   * what a hotswap or a console edit changed, even when the template itself is unchanged.
   */
  readonly revertDrift?: boolean;
  /**
   * The changes were approved already: the second deploy of a protected stage's first create only
   * switches deletion protection on, and asking again would let a "no" leave the stage half-protected.
   */
  readonly preApproved?: boolean;
}

export interface CdkEngine {
  synth(inputs: Omit<StageAppInputs, 'outdir' | 'context'>, outdir: string): Promise<SynthSummary>;
  diff(inputs: Omit<StageAppInputs, 'outdir' | 'context'>): Promise<DiffSummary>;
  deploy(inputs: Omit<StageAppInputs, 'outdir' | 'context'>, options: EngineDeployOptions): Promise<Record<string, string>>;
  destroy(inputs: Omit<StageAppInputs, 'outdir' | 'context'>): Promise<void>;
  bootstrap(account: string, region: string): Promise<void>;
}

const declined = () =>
  new LifecycleRefused('approval_declined', 'the deploy was not approved: nothing was changed', 'review it with `chatshyld diff`, then deploy again');

export class ToolkitEngine implements CdkEngine {
  private readonly toolkit: Toolkit;
  private results: string[] = [];
  /** Why the last approval was refused; toolkit-lib then aborts the deploy, and this is the answer. */
  private refusal: Error | undefined;
  private preApproved = false;

  constructor(
    private readonly events: EngineEvents,
    options: { profile?: string } = {},
  ) {
    const ioHost: IIoHost = {
      notify: async (message: IoMessage<unknown>) => this.notify(message),
      requestResponse: async <T,>(request: IoRequest<unknown, T>) => this.request(request),
    };
    this.toolkit = new Toolkit({
      ioHost,
      color: false,
      emojis: false,
      ...(options.profile && { sdkConfig: { baseCredentials: BaseCredentials.awsCliCompatible({ profile: options.profile }) } }),
    });
  }

  async synth(inputs: Omit<StageAppInputs, 'outdir' | 'context'>, outdir: string): Promise<SynthSummary> {
    await assertReplaceableAssembly(outdir);
    await rm(outdir, { recursive: true, force: true });
    const source = await this.source(inputs, outdir);
    const assembly = await this.toolkit.synth(source, { stacks: this.selector(inputs.stage) });
    try {
      const stack = assembly.cloudAssembly.getStackByName(stackName(inputs.stage));
      return {
        directory: assembly.cloudAssembly.directory,
        stackName: stack.stackName,
        resourceCount: Object.keys((stack.template as { Resources?: object }).Resources ?? {}).length,
      };
    } finally {
      await assembly.dispose();
    }
  }

  async diff(inputs: Omit<StageAppInputs, 'outdir' | 'context'>): Promise<DiffSummary> {
    this.results = [];
    const diffs = await this.toolkit.diff(await this.source(inputs), { stacks: this.selector(inputs.stage) });
    const changes = Object.values(diffs).reduce((sum, diff) => sum + diff.differenceCount, 0);
    return { changes, text: this.results.join('\n') };
  }

  async deploy(inputs: Omit<StageAppInputs, 'outdir' | 'context'>, options: EngineDeployOptions): Promise<Record<string, string>> {
    this.refusal = undefined;
    this.preApproved = Boolean(options.preApproved);
    let result;
    try {
      result = await this.toolkit.deploy(await this.source(inputs), {
        stacks: this.selector(inputs.stage),
        deploymentMethod: options.hotswap
          ? { method: 'hotswap', fallback: { method: 'change-set' } }
          : { method: 'change-set', ...(options.revertDrift && { revertDrift: true }) },
      });
    } catch (error) {
      // The toolkit's abort after a refused approval becomes the refusal itself (exit 2, with its hint).
      if (this.refusal && AbortError.isAbortError(error)) throw this.refusal;
      throw error;
    }
    return result.stacks.find((stack) => stack.stackName === stackName(inputs.stage))?.outputs ?? {};
  }

  async destroy(inputs: Omit<StageAppInputs, 'outdir' | 'context'>): Promise<void> {
    await this.toolkit.destroy(await this.source(inputs), { stacks: this.selector(inputs.stage) });
  }

  async bootstrap(account: string, region: string): Promise<void> {
    await this.toolkit.bootstrap(BootstrapEnvironments.fromList([`aws://${account}/${region}`]));
  }

  private source(inputs: Omit<StageAppInputs, 'outdir' | 'context'>, outdir?: string) {
    return this.toolkit.fromAssemblyBuilder(
      async (props) => buildStageApp({ ...inputs, ...(props.outdir && { outdir: props.outdir }), context: props.context }).app.synth(),
      { ...(outdir && { outdir }) },
    );
  }

  private selector(stage: string) {
    return { strategy: StackSelectionStrategy.PATTERN_MUST_MATCH_SINGLE, patterns: [stackName(stage)] };
  }

  private notify(message: IoMessage<unknown>): void {
    if (message.code === 'CDK_TOOLKIT_I5502') {
      const { event, progress } = message.data as {
        event: { ResourceStatus?: string; ResourceType?: string; LogicalResourceId?: string; ResourceStatusReason?: string };
        progress?: { formatted?: string };
      };
      const reason = event.ResourceStatusReason && /FAILED/.test(event.ResourceStatus ?? '') ? ` — ${event.ResourceStatusReason}` : '';
      this.events.progress(
        `${progress?.formatted ? `${progress.formatted} ` : ''}${(event.ResourceStatus ?? '').padEnd(20)} ${event.ResourceType ?? ''} ${event.LogicalResourceId ?? ''}${reason}`,
      );
      return;
    }
    if (message.level === 'result') this.results.push(message.message);
    if (message.level === 'error' || message.level === 'warn') this.events.progress(message.message);
    else this.events.debug(message.message);
  }

  private async request<T>(request: IoRequest<unknown, T>): Promise<T> {
    if (request.code === 'CDK_TOOLKIT_I5060') {
      if (this.preApproved) return true as T;
      const data = request.data as { permissionChangeType: ApprovalRequest['permissionChangeType'] };
      // toolkit-lib deletes the change set it made (and a REVIEW_IN_PROGRESS stack) only when the
      // answer is `false`; an exception here would leave them behind. So a refusal answers false.
      try {
        const approved = await this.events.approve({ permissionChangeType: data.permissionChangeType, question: request.message });
        if (!approved) this.refusal = declined();
        return approved as T;
      } catch (error) {
        this.refusal = error as Error;
        return false as T;
      }
    }
    return request.defaultResponse;
  }
}
