/**
 * The CDK app: one `ChatShyld-<stage>` stack for the stage asked for, from its config. Built
 * in-process by the CLI through toolkit-lib (`fromAssemblyBuilder`) and by the tests.
 */
import { App } from 'aws-cdk-lib';
import type { StageConfig } from '../service/stage.js';
import type { SettingsOverrides } from '../service/settings.js';
import { ChatShyldStack, stackName } from './stack.js';

export interface StageAppInputs {
  readonly stage: string;
  readonly stageConfig: StageConfig;
  readonly settings: SettingsOverrides;
  readonly version: string;
  readonly bundleDir: string;
  /** A protected stage's first create: no termination or table deletion protection yet. */
  readonly firstCreate?: boolean;
  /** What toolkit-lib hands an assembly builder: where to write, and its context. */
  readonly outdir?: string;
  readonly context?: Record<string, unknown>;
}

export function buildStageApp(inputs: StageAppInputs): { app: App; stack: ChatShyldStack } {
  const app = new App({
    ...(inputs.outdir && { outdir: inputs.outdir }),
    context: { ...inputs.context },
  });
  const stack = new ChatShyldStack(app, stackName(inputs.stage), {
    stackName: stackName(inputs.stage),
    description: `ChatShyld backend, stage ${inputs.stage}`,
    env: { account: inputs.stageConfig.account, region: inputs.stageConfig.region },
    stage: inputs.stage,
    stageConfig: inputs.stageConfig,
    settings: inputs.settings,
    version: inputs.version,
    bundleDir: inputs.bundleDir,
    ...(inputs.firstCreate && { firstCreate: true }),
  });
  return { app, stack };
}
