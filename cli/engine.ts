import { join } from 'node:path';
import type { CdkEngine } from '../infra/engine.js';
import { approvalPolicy, type RequireApproval, type StageTarget } from '../infra/lifecycle.js';
import type { CommandContext } from './command-context.js';
import { assertSourcesUnchanged } from './source-tree.js';

/** The CDK engine wired to this terminal: progress on stderr, approvals by policy. Loads aws-cdk-lib. */
export async function cliEngine(
  context: CommandContext,
  target: StageTarget,
  requireApproval: RequireApproval = 'broadening',
): Promise<CdkEngine> {
  const { ToolkitEngine } = await import('../infra/engine.js');
  const { out } = context;
  return new ToolkitEngine(
    {
      progress: (line) => out.info(line),
      debug: (line) => out.debug(line),
      approve: approvalPolicy({
        requireApproval,
        canPrompt: out.canPrompt(),
        show: (text) => out.info(text),
        confirm: async (question) => (await import('@inquirer/prompts')).confirm({ message: question, default: false }),
      }),
    },
    { ...(target.profile && { profile: target.profile }) },
  );
}

/**
 * Bundles the functions into the project's `.chatshyld/bundles` (reused while the code is unchanged),
 * refusing when the sources changed since the CLI started: nothing is deployed from two trees.
 */
export async function bundleForStage(target: StageTarget, context?: CommandContext): Promise<string> {
  const { bundleFunctions, packageRoot } = await import('../infra/bundle.js');
  const { outdir, repaired } = await bundleFunctions(packageRoot(), join(target.root, '.chatshyld', 'bundles'));
  if (repaired) context?.out.info(`the bundles of this tree in ${join(target.root, '.chatshyld', 'bundles')} had been changed since they were built: built them again`);
  assertSourcesUnchanged(context?.sources, 'the functions were bundled, so nothing was deployed');
  return outdir;
}
