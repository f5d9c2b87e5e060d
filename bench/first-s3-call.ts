/**
 * `npx tsx bench/first-s3-call.ts [runs]`: what a cold function pays for its first S3 object call,
 * with the S3 client (`S3AvatarStore`) and without it (`SigV4AvatarStore`, as patchMe and deleteMe
 * now ship). Each store is bundled as the functions are, then in a fresh `node` per run: import
 * (init), the first HeadObject of an object on s3rver (first), and ten more (their median: warm).
 * The two run interleaved, after one warm-up each; medians and minima are printed. Module init alone
 * is the `bundles` section of bench/run.ts; this adds the part of a cold start that init leaves out.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { functionBuildOptions } from '../infra/bundle.js';
import { emulatorCredentials, startEmulators } from '../service/local/emulators.js';
import { summarize } from './stats.js';

// The emulators' SDK clients run in this process too: quiet their Node 20 notice, as run.ts does.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const root = fileURLToPath(new URL('../', import.meta.url));
const runs = Number(process.argv[2] ?? process.env.BENCH_RUNS ?? 11);
const stores = {
  's3 client': [
    "import { S3Client } from '@aws-sdk/client-s3';",
    "import { S3AvatarStore } from './service/adapters/s3/avatars.js';",
    "export const make = (endpoint, bucket) => new S3AvatarStore(new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true }), bucket);",
  ],
  sigv4: [
    "import { fromEnv } from '@aws-sdk/credential-provider-env';",
    "import { SigV4AvatarStore } from './service/adapters/s3/object-store.js';",
    "export const make = (endpoint, bucket) => new SigV4AvatarStore({ region: 'us-east-1', endpoint, bucket, credentials: fromEnv() });",
  ],
};

const dir = await mkdtemp(join(tmpdir(), 'chatshyld-bench-first-call-'));
const emulators = await startEmulators({ namePrefix: 'bench-first-call' });
try {
  for (const [name, lines] of Object.entries(stores)) {
    await build({ ...functionBuildOptions(root), stdin: { resolveDir: root, loader: 'ts', contents: lines.join('\n') }, outfile: join(dir, `${name}.mjs`), sourcemap: false });
  }
  const key = 'avatar/bench/a.png';
  await emulators.s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key: key, Body: 'png', ContentType: 'image/png' }));

  const once = (name: string) =>
    new Promise<{ init: number; first: number; warm: number }>((resolve, reject) => {
      const script = `
        let t = performance.now();
        const { make } = await import(${JSON.stringify(join(dir, `${name}.mjs`))});
        const init = performance.now() - t;
        const store = make(${JSON.stringify(emulators.s3Endpoint)}, ${JSON.stringify(emulators.bucket)});
        t = performance.now();
        if (!(await store.describe(${JSON.stringify(key)}))) throw new Error('the object is missing');
        const first = performance.now() - t;
        const laps = [];
        for (let i = 0; i < 10; i++) { t = performance.now(); await store.describe(${JSON.stringify(key)}); laps.push(performance.now() - t); }
        laps.sort((a, b) => a - b);
        console.log(JSON.stringify({ init, first, warm: laps[5] }));`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (chunk) => (text += chunk));
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`${name} exited ${code}`))));
    });

  const load = [loadavg()[0]!];
  const samples: Record<string, { init: number[]; first: number[]; initAndFirst: number[]; warm: number[] }> = {};
  for (let run = 0; run <= runs; run++) {
    for (const name of Object.keys(stores)) {
      const { init, first, warm } = await once(name);
      if (run === 0) continue; // the warm-up
      const figures = (samples[name] ??= { init: [], first: [], initAndFirst: [], warm: [] });
      figures.init.push(init);
      figures.first.push(first);
      figures.initAndFirst.push(init + first);
      figures.warm.push(warm);
    }
  }
  load.push(loadavg()[0]!);
  process.stdout.write(`first S3 object call, fresh node per run, ${runs} runs interleaved, load ${load.map((l) => l.toFixed(2)).join(' → ')}\n`);
  for (const [name, figures] of Object.entries(samples)) {
    const text = Object.entries(figures).map(([part, values]) => {
      const { median, min } = summarize(values);
      return `${part} ${median.toFixed(1)} (min ${min.toFixed(1)})`;
    });
    process.stdout.write(`${name.padEnd(10)} ${text.join(' · ')} ms\n`);
  }
} finally {
  await emulators.close();
  await rm(dir, { recursive: true, force: true });
}
