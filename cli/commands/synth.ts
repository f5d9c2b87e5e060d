import { resolve } from 'node:path';
import { appInputs } from '../../infra/lifecycle.js';
import { exitCodes } from '../errors.js';
import { assertSourcesUnchanged } from '../source-tree.js';
import type { CommandContext } from '../command-context.js';
import { deployableStage, lifecycleError } from '../stage-target.js';

/** `chatshyld synth`: the stage's cloud assembly, offline, into --out. */
export async function synth(options: { out: string }, context: CommandContext): Promise<number> {
  const { out, streams } = context;
  const target = await deployableStage(context);
  const outdir = resolve(streams.cwd, options.out);
  const started = performance.now();
  const { bundleFunctions, packageRoot } = await import('../../infra/bundle.js');
  const { join } = await import('node:path');
  let summary;
  let sizes;
  try {
    // Synth replaces --out: refused before the slow part when that would delete anything else.
    const { assertReplaceableAssembly } = await import('../../infra/assembly-folder.js');
    await assertReplaceableAssembly(outdir);
    // Its parents now, before the bundling: the synthesizer's own mkdir spins where a parent refuses.
    const { makeDirectory } = await import('../directories.js');
    await makeDirectory(outdir);
    const bundle = await bundleFunctions(packageRoot(), join(target.root, '.chatshyld', 'bundles'));
    if (bundle.repaired) out.info(`the bundles of this tree in ${join(target.root, '.chatshyld', 'bundles')} had been changed since they were built: built them again`);
    sizes = bundle.sizes;
    // Offline: the app writes the assembly itself, with toolkit-lib's context, without loading toolkit-lib.
    const { synthesizeOffline } = await import('../../infra/offline-synth.js');
    summary = await synthesizeOffline(appInputs(target, bundle.outdir), outdir);
    assertSourcesUnchanged(context.sources, `synth ran, so the cloud assembly in ${outdir} is not to be deployed`);
  } catch (error) {
    lifecycleError(error);
  }
  const ms = Math.round(performance.now() - started);
  out.resultJson({ ...summary, functionBundleBytes: sizes, ms });
  out.result(
    [
      `synthesized ${summary.stackName}: ${summary.resourceCount} resources in ${ms} ms`,
      `  cloud assembly  ${summary.directory}`,
      ...Object.entries(sizes).map(([id, bytes]) => `  ${id.padEnd(14)}  ${(bytes / 1024).toFixed(0)} KB`),
    ].join('\n'),
  );
  return exitCodes.ok;
}
