import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stageSettings } from '../service/stage.js';
import { ToolkitEngine } from './engine.js';
import { synthesizeOffline } from './offline-synth.js';
import { shippedStage, testBundles } from './testing/synth.js';

const folders: string[] = [];
afterAll(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});
const scratch = async () => {
  const folder = await mkdtemp(join(tmpdir(), 'chatshyld-offline-synth-'));
  folders.push(folder);
  return folder;
};

describe('offline synth (chatshyld synth)', () => {
  it('writes the assembly toolkit-lib synthesizes for deploy: the same template, manifest, assets and tree', async () => {
    const stageConfig = await shippedStage('prod');
    const inputs = { stage: 'prod', stageConfig, settings: stageSettings(stageConfig), version: 'test', bundleDir: await testBundles() };
    const offline = join(await scratch(), 'cdk.out');
    const toolkit = join(await scratch(), 'cdk.out');
    const summary = await synthesizeOffline(inputs, offline);
    await new ToolkitEngine({ progress: () => {}, debug: () => {}, approve: async () => false }).synth(inputs, toolkit);
    expect(summary).toMatchObject({ stackName: 'ChatShyld-prod', directory: offline });
    expect(summary.resourceCount).toBeGreaterThan(50);
    for (const file of ['ChatShyld-prod.template.json', 'manifest.json', 'ChatShyld-prod.assets.json', 'tree.json']) {
      expect(await readFile(join(offline, file), 'utf8'), file).toBe(await readFile(join(toolkit, file), 'utf8'));
    }
  }, 240_000);

  it('refuses a folder that is not a cloud assembly before writing anything', async () => {
    expect.assertions(2);
    const folder = await scratch();
    await mkdir(join(folder, 'src'));
    await writeFile(join(folder, 'notes.txt'), 'mine');
    const stageConfig = await shippedStage('dev');
    await synthesizeOffline({ stage: 'dev', stageConfig, settings: stageSettings(stageConfig), version: 'test', bundleDir: '/nonexistent' }, folder).catch((error: Error & { code?: string }) => {
      expect(error.code).toBe('out_not_assembly');
    });
    expect(await readFile(join(folder, 'notes.txt'), 'utf8')).toBe('mine');
  });
});
