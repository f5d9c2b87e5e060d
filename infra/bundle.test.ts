import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFunctionSources } from './testing/function-sources.js';
import { buildStageApp } from './app.js';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { emulatorCredentials, startEmulators } from '../service/local/emulators.js';
import { routes } from '../service/manifest.js';
import { bundleFunctions, functionBuildOptions } from './bundle.js';
import { repoRoot, shippedStage } from './testing/synth.js';

/**
 * A copy of the sources (no `dist/`, as in a checkout where `npm run build` was forgotten), so the
 * test can edit one without touching the tree other tests read.
 */
const sourceCopy = () => copyFunctionSources(repoRoot, 'chatshyld-bundle-src-');

/** Each route bundle's inputs (the files esbuild put in it), from the metafile of one build of them all. */
async function routeInputs(): Promise<(routeId: string) => string[]> {
  const { metafile } = await build({
    ...functionBuildOptions(repoRoot),
    entryPoints: routes.map((route) => ({ in: join(repoRoot, route.entry), out: `${route.id}/index` })),
    outdir: await mkdtemp(join(tmpdir(), 'chatshyld-bundle-meta-')),
    write: false,
    metafile: true,
  });
  return (routeId) => Object.keys(metafile.outputs[Object.keys(metafile.outputs).find((name) => name.endsWith(`${routeId}/index.mjs`))!]!.inputs);
}

describe('function bundles', () => {
  let root: string;
  beforeAll(async () => {
    root = await sourceCopy();
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const healthAsset = async (bundleDir: string) => {
    const { stack } = buildStageApp({
      stage: 'dev',
      stageConfig: await shippedStage('dev'),
      settings: {},
      version: 'test',
      bundleDir,
      outdir: await mkdtemp(join(tmpdir(), 'chatshyld-cdk-out-')),
    });
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function', {
      Properties: { FunctionName: 'ChatShyld-dev-health' },
    });
    return JSON.stringify(Object.values(functions)[0]!.Properties.Code);
  };

  it('are made from the TypeScript sources: an edit changes the asset with no build step', async () => {
    const out = join(root, '.chatshyld', 'bundles');
    const first = await bundleFunctions(root, out);
    expect(first.reused).toBe(false);
    const before = await healthAsset(first.outdir);
    // Unchanged sources: the bundles are reused, and the asset stays the same.
    const again = await bundleFunctions(root, out);
    expect(again.reused).toBe(true);
    expect(await healthAsset(again.outdir)).toBe(before);

    const routesFile = join(root, 'service', 'http', 'routes.ts');
    const source = await readFile(routesFile, 'utf8');
    expect(source).toContain('ok({ ok: true, stage, version })');
    await writeFile(routesFile, source.replace('ok({ ok: true, stage, version })', 'ok({ ok: true, stage, version, edited: true })'));
    const firstHealth = await readFile(join(first.outdir, 'health', 'index.mjs'));
    const edited = await bundleFunctions(root, out);
    expect(edited.reused).toBe(false);
    expect(await readFile(join(edited.outdir, 'health', 'index.mjs'), 'utf8')).toContain('edited');
    expect(await healthAsset(edited.outdir)).not.toBe(before);
    // A new tree gets a folder of its own: the bundles a running sandbox loads from stay as they were.
    expect(edited.outdir).not.toBe(first.outdir);
    expect((await readFile(join(first.outdir, 'health', 'index.mjs'))).equals(firstHealth)).toBe(true);
  }, 120_000);

  it('are trusted only while their files are the bytes they were built with, and an edit of the pipeline makes new ones', async () => {
    const out = join(root, '.chatshyld', 'bundles-trust');
    const built = await bundleFunctions(root, out);
    const getMe = join(built.outdir, 'getMe', 'index.mjs');
    const shipped = await readFile(getMe);
    // A bundle changed after it was built (by hand, by a bad disk): built again, not reused or shipped.
    await writeFile(getMe, 'throw new Error("not what was built");\n');
    const repaired = await bundleFunctions(root, out);
    expect(repaired).toMatchObject({ outdir: built.outdir, reused: false, repaired: true });
    expect(await readFile(getMe)).toEqual(shipped);
    expect(await bundleFunctions(root, out)).toMatchObject({ reused: true, repaired: false });

    // How functions are bundled (a plugin's code, not its name) is part of what a folder is made from.
    const pipeline = join(root, 'infra', 'bundle.ts');
    const original = await readFile(pipeline, 'utf8');
    try {
      await writeFile(pipeline, `${original}\n// another way to bundle\n`);
      const rebundled = await bundleFunctions(root, out);
      expect(rebundled.reused).toBe(false);
      expect(rebundled.outdir).not.toBe(built.outdir);
    } finally {
      await writeFile(pipeline, original);
    }
  }, 180_000);

  it('come out whole when two processes bundle the same tree into one folder at once', async () => {
    const out = join(root, '.chatshyld', 'bundles-race');
    const [a, b] = await Promise.all([bundleFunctions(root, out), bundleFunctions(root, out)]);
    expect(a.outdir).toBe(b.outdir);
    for (const route of routes) expect((await readFile(join(a.outdir, route.id, 'index.mjs'))).length, route.id).toBe(a.sizes[route.id]);
    // No half-built folder is left beside it.
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(out)).filter((name) => name.startsWith('.building-'))).toEqual([]);
  }, 120_000);

  it('carry one copy of each AWS SDK package, though npm nests a second copy under a dependent', async () => {
    const inputsOf = await routeInputs();
    // A package inside another package's node_modules: a second copy, when the SDK has it at the top.
    const nested = /node_modules\/(?:@[^/]+\/)?[^/]+\/node_modules\/@(?:aws-sdk|smithy)\//;
    for (const route of routes) expect(inputsOf(route.id).filter((input) => nested.test(input)), route.id).toEqual([]);
  }, 120_000);

  it('leave the S3 client out of presignAvatar, which signs its POST with SigV4 alone', async () => {
    const inputsOf = await routeInputs();
    const presign = inputsOf('presignAvatar');
    expect(presign.some((input) => input.includes('service/adapters/s3/post-signer.ts'))).toBe(true);
    expect(presign.filter((input) => /@aws-sdk\/(client-s3|s3-presigned-post)\//.test(input))).toEqual([]);
  }, 120_000);

  it('leave the S3 client out of patchMe and deleteMe, which send their object calls as signed fetch requests', async () => {
    const inputsOf = await routeInputs();
    for (const route of ['patchMe', 'deleteMe'] as const) {
      const inputs = inputsOf(route);
      expect(inputs.some((input) => input.includes('service/adapters/s3/object-store.ts')), route).toBe(true);
      expect(inputs.filter((input) => /@aws-sdk\/(client-s3|s3-request-presigner|s3-presigned-post)\//.test(input)), route).toEqual([]);
    }
    // The check sees the client where it is: the S3-client adapter, bundled the same way, carries it.
    const { metafile } = await build({
      ...functionBuildOptions(repoRoot),
      stdin: { resolveDir: repoRoot, loader: 'ts', contents: "export { S3AvatarStore } from './service/adapters/s3/avatars.js';" },
      outfile: join(await mkdtemp(join(tmpdir(), 'chatshyld-bundle-s3-client-')), 'store.mjs'),
      write: false,
      metafile: true,
    });
    expect(Object.keys(metafile.inputs).some((input) => input.includes('@aws-sdk/client-s3/'))).toBe(true);
  }, 120_000);

  it('leave the S3 client out of getMe and verifyOtp, which sign photoUrl with SigV4 and the shared endpoint rules alone', async () => {
    const inputsOf = await routeInputs();
    for (const route of ['getMe', 'verifyOtp'] as const) {
      const inputs = inputsOf(route);
      expect(inputs.some((input) => input.includes('service/adapters/s3/url-signer.ts')), route).toBe(true);
      expect(inputs.some((input) => input.includes('service/adapters/s3/s3-endpoints.ts')), route).toBe(true);
      expect(inputs.filter((input) => /@aws-sdk\/(client-s3|s3-request-presigner)\//.test(input)), route).toEqual([]);
    }
  }, 120_000);

  it('presign a POST upload that S3 accepts, from a bundle of the S3-client signer whose presigner takes the top-level S3 client', async () => {
    const emulators = await startEmulators({ namePrefix: 'bundle-presign' });
    try {
      const outfile = join(await mkdtemp(join(tmpdir(), 'chatshyld-bundle-presign-')), 'presign.mjs');
      const bundled = await build({
        ...functionBuildOptions(repoRoot),
        stdin: {
          resolveDir: repoRoot,
          loader: 'ts',
          contents: [
            "import { S3Client } from '@aws-sdk/client-s3';",
            "import { S3AvatarUploadSigner } from './service/adapters/s3/upload-signer.js';",
            'export const presign = (endpoint: string, bucket: string, credentials: { accessKeyId: string; secretAccessKey: string }) =>',
            "  new S3AvatarUploadSigner(new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials }), bucket).presignUpload('avatars/u1/a.png', 'image/png', 1024, 60);",
          ].join('\n'),
        },
        outfile,
        sourcemap: false,
        metafile: true,
      });
      // The presigned POST comes from its own package, with the S3 commands of the top-level client
      // (npm nests a second copy of the client under it).
      const inputs = Object.keys(bundled.metafile.inputs);
      expect(inputs.some((input) => input.includes('@aws-sdk/s3-presigned-post/dist-es/createPresignedPost'))).toBe(true);
      expect(inputs.filter((input) => /@aws-sdk\/client-s3\/dist-es\/commands\/PutObjectCommand/.test(input))).toHaveLength(1);
      expect(inputs.filter((input) => /node_modules\/(?:@[^/]+\/)?[^/]+\/node_modules\/@(?:aws-sdk|smithy)\//.test(input))).toEqual([]);
      const { presign } = (await import(/* @vite-ignore */ pathToFileURL(outfile).href)) as {
        presign(endpoint: string, bucket: string, credentials: object): Promise<{ url: string; fields: Record<string, string> }>;
      };
      const signed = await presign(emulators.s3Endpoint, emulators.bucket, emulatorCredentials);
      const form = new FormData();
      for (const [name, value] of Object.entries(signed.fields)) form.append(name, value);
      form.append('file', new Blob([Buffer.from('89504e470d0a1a0a', 'hex')], { type: 'image/png' }), 'avatar');
      const response = await fetch(signed.url, { method: 'POST', body: form });
      expect(response.status, await response.text()).toBeLessThan(300);
      const head = await emulators.s3.send(new HeadObjectCommand({ Bucket: emulators.bucket, Key: 'avatars/u1/a.png' }));
      expect(head.ContentType).toBe('image/png');
      expect(head.ContentLength).toBe(8);
    } finally {
      await emulators.close();
    }
  }, 120_000);
});
