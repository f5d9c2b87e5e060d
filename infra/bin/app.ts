/**
 * The CDK app as a program, for tools that spawn one (`cdk synth --app "node dist/infra/bin/app.js"`,
 * toolkit-lib's fromCdkApp). The CLI itself builds the same app in-process, which is faster.
 * Reads CHATSHYLD_STAGE, and CHATSHYLD_BUNDLE_DIR if the functions are bundled already.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { version } from '../version.js';
import { stageSettings, type ProjectConfig } from '../../service/stage.js';
import { buildStageApp } from '../app.js';
import { bundleFunctions, packageRoot } from '../bundle.js';

const stage = process.env.CHATSHYLD_STAGE;
if (!stage) throw new Error('set CHATSHYLD_STAGE to the stage to synthesize');
// Run from the project root, as cdk does; `chatshyld synth` validates the file and is the checked path.
const root = process.cwd();
const config = (JSON.parse(await readFile(join(root, 'chatshyld.config.json'), 'utf8')) as ProjectConfig).stages[stage];
if (!config) throw new Error(`stage ${stage} has no config`);
const bundleDir =
  process.env.CHATSHYLD_BUNDLE_DIR ?? (await bundleFunctions(packageRoot(), join(root, '.chatshyld', 'bundles'))).outdir;
buildStageApp({
  stage,
  stageConfig: config,
  settings: stageSettings(config),
  version,
  bundleDir,
  ...(process.env.CDK_OUTDIR && { outdir: process.env.CDK_OUTDIR }),
  context: JSON.parse(process.env.CDK_CONTEXT_JSON ?? '{}'),
}).app.synth();
