/**
 * The CDK app as a program, for tools that spawn one (`cdk synth --app "node dist/infra/bin/app.js"`,
 * toolkit-lib's fromCdkApp). The CLI itself builds the same app in-process, which is faster.
 * Reads CHATSHYLD_STAGE, and CHATSHYLD_BUNDLE_DIR if the functions are bundled already.
 */
import { join } from 'node:path';
import { loadConfig, resolveStage, stageSettings } from '../../cli/config.js';
import { version } from '../../cli/version.js';
import { buildStageApp } from '../app.js';
import { bundleFunctions, packageRoot } from '../bundle.js';

const stage = process.env.CHATSHYLD_STAGE;
if (!stage) throw new Error('set CHATSHYLD_STAGE to the stage to synthesize');
const loaded = await loadConfig(process.cwd());
const { config } = resolveStage(loaded, stage);
if (!config) throw new Error(`stage ${stage} has no config`);
const bundleDir =
  process.env.CHATSHYLD_BUNDLE_DIR ?? (await bundleFunctions(packageRoot(), join(loaded.root, '.chatshyld', 'bundles'))).outdir;
buildStageApp({
  stage,
  stageConfig: config,
  settings: stageSettings(config),
  version,
  bundleDir,
  ...(process.env.CDK_OUTDIR && { outdir: process.env.CDK_OUTDIR }),
  context: JSON.parse(process.env.CDK_CONTEXT_JSON ?? '{}'),
}).app.synth();
