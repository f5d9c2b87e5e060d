import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthStage } from '../../infra/testing/synth.js';
import { routes, type RouteId } from '../manifest.js';
import { functionEnvironment, stackFunctionEnvironment } from './functions.js';
import { startSandbox, type Sandbox } from './sandbox.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

async function filesOf(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((name) => !name.startsWith('.')).sort();
}

/** What you run is what you ship: the sandbox's functions are the cloud assembly's assets, byte for byte. */
describe('the bundles the sandbox runs', () => {
  let sandbox: Sandbox;
  let stateDir: string;
  let bundleDir: string;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-sandbox-bundles-'));
    // A bundle folder of its own, so the sandbox bundles this tree afresh rather than reuse synth's.
    // (Its depth under the temp folder is synth's, so even the source maps' relative paths agree.)
    bundleDir = join(await mkdtemp(join(tmpdir(), 'chatshyld-sandbox-b-')), 'b');
    sandbox = await startSandbox({ stateDir, bundleDir });
  }, 180_000);
  afterAll(async () => {
    await sandbox?.close();
    await rm(stateDir, { recursive: true, force: true });
    await rm(dirname(bundleDir), { recursive: true, force: true });
  });

  it('are byte-identical to the assets of the cloud assembly synthesized from the same tree', async () => {
    // The sandbox serves from them.
    expect(await (await fetch(`${sandbox.url}/health`)).json()).toEqual({ ok: true, stage: 'local', version: 'local' });
    const ran = sandbox.functions();

    const { app, stack } = await synthStage('dev');
    const assembly = app.synth();
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    const compared: RouteId[] = [];
    for (const route of routes) {
      const resource = Object.values(functions).find((candidate) => candidate.Properties.FunctionName === `ChatShyld-dev-${route.id}`)!;
      const key = resource.Properties.Code.S3Key as string;
      const asset = join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
      const sandboxFolder = dirname(ran[route.id]);
      // Not the same folder: two builds of one tree.
      expect(sandboxFolder.startsWith(bundleDir), route.id).toBe(true);
      expect(await filesOf(sandboxFolder), route.id).toEqual(await filesOf(asset));
      for (const file of await filesOf(asset)) {
        const shipped = await readFile(join(asset, file));
        const run = await readFile(join(sandboxFolder, file));
        expect(run.equals(shipped), `${route.id}/${file}`).toBe(true);
      }
      compared.push(route.id);
    }
    expect(compared).toEqual(routes.map((route) => route.id));
  }, 300_000);

  it('run with the environment variables the stack gives each function, and what Lambda itself sets', async () => {
    const { stack } = await synthStage('dev');
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    const lambdaSets = /^(AWS_|TWILIO_VERIFY_BASE_URL$)/;
    for (const route of routes) {
      const resource = Object.values(functions).find((candidate) => candidate.Properties.FunctionName === `ChatShyld-dev-${route.id}`)!;
      const shipped = resource.Properties.Environment.Variables as Record<string, unknown>;
      const env = functionEnvironment(
        route,
        { stage: 'local', version: 'local', settings: '{}', tableNames: { users: 'u', refreshTokens: 'r', rateLimits: 'l' }, bucketName: 'b', allowTestNumbers: true },
        { dynamodb: 'http://127.0.0.1:1', s3: 'http://127.0.0.1:2', ssm: 'http://127.0.0.1:3', twilio: 'http://127.0.0.1:4' },
        { accessKeyId: 'k', secretAccessKey: 's' },
        'us-east-1',
      );
      // A worker cannot take NODE_OPTIONS (it turns source maps on itself).
      const { NODE_OPTIONS: _nodeOptions, ...shippedNames } = shipped;
      expect(Object.keys(env).filter((name) => !lambdaSets.test(name)).sort(), route.id).toEqual(Object.keys(shippedNames).sort());
      for (const [name, value] of Object.entries(stackFunctionEnvironment)) expect(shipped[name], `${route.id} ${name}`).toBe(value);
    }
  }, 300_000);
});
