/**
 * `chatshyld synth`: the stage's cloud assembly, written by the app in this process with the context
 * toolkit-lib gives an assembly builder by default, so the template is the one `deploy` synthesizes
 * through toolkit-lib. Synth is offline, so it skips what only a deploy needs: loading toolkit-lib
 * and its AWS clients, and looking up a default account through the credential chain. That was where
 * `chatshyld synth` spent its time beyond `cdk synth` spawning the same app (see BENCHMARKS.md).
 */
import { rm } from 'node:fs/promises';
import {
  ANALYTICS_REPORTING_ENABLED_CONTEXT,
  ASSET_RESOURCE_METADATA_ENABLED_CONTEXT,
  BUNDLING_STACKS,
  FAIL_SYNTH_ON_VALIDATION_ERRORS_CONTEXT,
  PATH_METADATA_ENABLE_CONTEXT,
} from 'aws-cdk-lib/cx-api';
import { buildStageApp, type StageAppInputs } from './app.js';
import { assertReplaceableAssembly } from './assembly-folder.js';
import type { SynthSummary } from './engine.js';
import { LifecycleRefused } from './lifecycle.js';
import { stackName } from './names.js';

/** toolkit-lib's default synthesis context (its `contextFromSettings` with no settings). */
export const toolkitDefaultContext: Readonly<Record<string, unknown>> = {
  [PATH_METADATA_ENABLE_CONTEXT]: true,
  [ASSET_RESOURCE_METADATA_ENABLED_CONTEXT]: true,
  [ANALYTICS_REPORTING_ENABLED_CONTEXT]: true,
  [BUNDLING_STACKS]: ['**'],
  [FAIL_SYNTH_ON_VALIDATION_ERRORS_CONTEXT]: false,
};

export async function synthesizeOffline(inputs: Omit<StageAppInputs, 'outdir' | 'context'>, outdir: string): Promise<SynthSummary> {
  await assertReplaceableAssembly(outdir);
  await rm(outdir, { recursive: true, force: true });
  const assembly = buildStageApp({ ...inputs, outdir, context: { ...toolkitDefaultContext } }).app.synth();
  const stack = assembly.getStackByName(stackName(inputs.stage));
  // What toolkit-lib refuses after synthesis: a stack that carries error annotations.
  const errors = stack.messages.filter((message) => message.level === 'error');
  if (errors.length > 0) {
    throw new LifecycleRefused(
      'synth_errors',
      `the stack ${stack.stackName} has errors: ${errors.map((message) => `${message.id}: ${String(message.entry.data)}`).join('; ')}`,
      'fix the stage config or the stack, then synthesize again',
    );
  }
  return {
    directory: assembly.directory,
    stackName: stack.stackName,
    resourceCount: Object.keys((stack.template as { Resources?: object }).Resources ?? {}).length,
  };
}
