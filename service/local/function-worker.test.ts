import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiGatewayEvent } from './events.js';
import { FunctionWorker } from './function-worker.js';
import { functionLogLines } from './function-output.js';
import { SandboxFunctions } from './functions.js';
import { routes, type RouteId } from '../manifest.js';

/** A function module written for the test: what a bundle is to the worker, an ESM file exporting `handler`. */
const echo = `
const log = (level, message, fields = {}) =>
  process.stdout.write(JSON.stringify({ level, message, timestamp: new Date().toISOString(), service: 'chatshyld', sampling_rate: 0, ...fields }) + '\\n');
log('INFO', 'loaded');
export const handler = async (event) => {
  const { n, wait = 0, hang = false } = JSON.parse(event.body ?? '{}');
  log('WARN', 'starts ' + n, { n });
  if (hang) await new Promise(() => {});
  await new Promise((resolve) => setTimeout(resolve, wait));
  process.stdout.write(JSON.stringify({ _aws: { CloudWatchMetrics: [] }, OtpSent: 1 }) + '\\n');
  console.error('plain text ' + n);
  log('ERROR', 'ends ' + n, { error: { name: 'Error', message: 'm' + n } });
  return { statusCode: 200, body: JSON.stringify({ n, env: process.env }) };
};
`;

const event = (body: unknown) => apiGatewayEvent({ method: 'POST', path: '/x', body: JSON.stringify(body), sourceIp: '127.0.0.1', routeKey: 'POST /x' });

describe('a function in a worker thread', () => {
  let folder: string;
  let echoFile: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'chatshyld-function-worker-'));
    echoFile = join(folder, 'echo.mjs');
    await writeFile(echoFile, echo);
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('sees exactly the environment it was given, none of the sandbox process', async () => {
    process.env.CHATSHYLD_WORKER_TEST_SECRET = 'parent-only';
    const worker = new FunctionWorker({ routeId: 'health', bundle: echoFile, env: { ONLY: 'this' } });
    try {
      const result = await worker.invoke(event({ n: 1 }));
      expect(JSON.parse(result.body!).env).toEqual({ ONLY: 'this' });
    } finally {
      delete process.env.CHATSHYLD_WORKER_TEST_SECRET;
      await worker.stop();
    }
  });

  it('files what each invocation prints with that invocation, though they overlap', async () => {
    const outside: string[] = [];
    const worker = new FunctionWorker({ routeId: 'health', bundle: echoFile, env: {} }, (text) => outside.push(text));
    try {
      const printed: Record<number, string[]> = { 1: [], 2: [] };
      const record = (n: 1 | 2) => (text: string) => printed[n]!.push(...functionLogLines(text).map((line) => `${line.level} ${line.message}`));
      // The first starts first and ends last.
      const [first, second] = await Promise.all([worker.invoke(event({ n: 1, wait: 60 }), record(1)), worker.invoke(event({ n: 2, wait: 5 }), record(2))]);
      expect([JSON.parse(first.body!).n, JSON.parse(second.body!).n]).toEqual([1, 2]);
      // Metrics (EMF) are dropped; plain text is an info line.
      expect(printed[1]).toEqual(['warn starts 1', 'info plain text 1', 'error ends 1']);
      expect(printed[2]).toEqual(['warn starts 2', 'info plain text 2', 'error ends 2']);
      expect(outside.flatMap((text) => functionLogLines(text).map((line) => line.message))).toEqual(['loaded']);
    } finally {
      await worker.stop();
    }
  });

  it('keeps the fields a line carries and drops the keys Powertools adds to every line', () => {
    const [line] = functionLogLines(
      `${JSON.stringify({ level: 'WARN', message: 'odd', timestamp: 't', service: 'chatshyld', sampling_rate: 0, xray_trace_id: 'x', phone: '+1415', error: { message: 'e' } })}\n`,
    );
    expect(line).toEqual({ level: 'warn', message: 'odd', fields: { phone: '+1415', error: { message: 'e' } } });
  });

  it('stops a function that does not answer within its timeout, and starts a fresh one for the next request', async () => {
    expect.assertions(2);
    const worker = new FunctionWorker({ routeId: 'health', bundle: echoFile, env: {}, timeoutMs: 300 });
    try {
      await expect(worker.invoke(event({ n: 1, hang: true }))).rejects.toThrow(/timed out after 300 ms/);
      expect(JSON.parse((await worker.invoke(event({ n: 2 }))).body!).n).toBe(2);
    } finally {
      await worker.stop();
    }
  });

  it('fails an invocation of a module that throws as it loads, with the module\'s own message', async () => {
    expect.assertions(2);
    const broken = join(folder, 'broken.mjs');
    await writeFile(broken, "throw new Error('environment variable USERS_TABLE is not set');\nexport const handler = async () => ({});\n");
    const worker = new FunctionWorker({ routeId: 'getMe', bundle: broken, env: {} });
    try {
      await expect(worker.invoke(event({}))).rejects.toThrow(/getMe function failed to load: environment variable USERS_TABLE is not set/);
      await expect(worker.start()).rejects.toThrow(/USERS_TABLE/);
    } finally {
      await worker.stop();
    }
  });
});

describe('swapping a function', () => {
  let folder: string;
  const bundles = {} as Record<RouteId, string>;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'chatshyld-function-swap-'));
    for (const route of routes) {
      bundles[route.id] = join(folder, `${route.id}-1.mjs`);
      await writeFile(bundles[route.id], `export const handler = async (event) => { await new Promise((r) => setTimeout(r, Number(event.body ?? 0))); return { statusCode: 200, body: '${route.id} v1' }; };\n`);
    }
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('lets a request in flight finish on the old code, serves the next on the new, and keeps the old when the new fails to load', async () => {
    expect.assertions(5);
    const functions = new SandboxFunctions({ bundles, environment: () => ({}) });
    try {
      const call = (wait: number) =>
        functions.invoke('sendOtp', apiGatewayEvent({ method: 'POST', path: '/x', body: String(wait), sourceIp: '127.0.0.1', routeKey: 'POST /x' }));
      const inFlight = call(300);
      const v2 = join(folder, 'sendOtp-2.mjs');
      await writeFile(v2, "export const handler = async () => ({ statusCode: 200, body: 'sendOtp v2' });\n");
      await functions.swap({ sendOtp: v2 });
      expect((await call(0)).body).toBe('sendOtp v2');
      expect((await inFlight).body).toBe('sendOtp v1');

      const v3 = join(folder, 'sendOtp-3.mjs');
      await writeFile(v3, "throw new Error('boom at load');\n");
      await expect(functions.swap({ health: v2, sendOtp: v3 })).rejects.toThrow(/boom at load/);
      // Neither route changed: no half of a change is served.
      expect((await call(0)).body).toBe('sendOtp v2');
      expect((await functions.invoke('health', apiGatewayEvent({ method: 'GET', path: '/health', sourceIp: '127.0.0.1', routeKey: 'GET /health' }))).body).toBe('health v1');
    } finally {
      await functions.close();
    }
  });
});
