/** Synthesizes a stage's stack in-process for tests, bundling the functions once per run. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stageSettings, type ProjectConfig, type StageConfig } from '../../service/stage.js';
import { buildStageApp } from '../app.js';
import { bundleFunctions } from '../bundle.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
let bundles: Promise<string> | undefined;

/** One bundle folder for the whole test process (bundling is the slow part of synthesis). */
export function testBundles(): Promise<string> {
  bundles ??= (async () => (await bundleFunctions(repoRoot, join(await mkdtemp(join(tmpdir(), 'chatshyld-bundles-')), 'b'))).outdir)();
  return bundles;
}

export async function shippedStage(stage: string): Promise<StageConfig> {
  const { readFile } = await import('node:fs/promises');
  // The CLI validates the shipped config (cli tests); here it is only read.
  const config = JSON.parse(await readFile(join(repoRoot, 'chatshyld.config.json'), 'utf8')) as ProjectConfig;
  return config.stages[stage]!;
}

export async function synthStage(stage: string, options: { nag?: boolean; stageConfig?: StageConfig } = {}) {
  const stageConfig = options.stageConfig ?? (await shippedStage(stage));
  const { app, stack } = buildStageApp({
    stage,
    stageConfig,
    settings: stageSettings(stageConfig),
    version: 'test',
    bundleDir: await testBundles(),
    outdir: await mkdtemp(join(tmpdir(), 'chatshyld-cdk-out-')),
  });
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
