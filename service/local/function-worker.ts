/**
 * One route's function in the sandbox: its bundle (the `index.mjs` deploy ships) loaded in a worker
 * thread of its own, with exactly the environment its Lambda gets, as a Lambda execution
 * environment holds one function. The sandbox sends it payload-2.0 events and reads back results.
 *
 * What the function prints (Powertools' JSON lines on stdout and stderr) comes back to the sandbox
 * tagged with the invocation that printed it: the host runs each invocation in an
 * AsyncLocalStorage scope and tags every write to stdout or stderr with it, so overlapping requests
 * keep their own lines.
 *
 * Like Lambda, a function that does not answer within its timeout is stopped (its worker ends) and
 * the next invocation starts a fresh one; a worker that dies fails what it was running.
 */
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { RouteId } from '../manifest.js';

/** The host each worker runs: imports the bundle, answers `{id, event}`, forwards what it prints. */
const host = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { AsyncLocalStorage } = require('node:async_hooks');
process.setSourceMapsEnabled?.(true);
const scope = new AsyncLocalStorage();
for (const stream of [process.stdout, process.stderr]) {
  stream.write = (chunk, encoding, callback) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(typeof encoding === 'string' ? encoding : 'utf8');
    parentPort.postMessage({ type: 'output', id: scope.getStore(), text });
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') process.nextTick(done);
    return true;
  };
}
const describe = (error) => {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  return { name: error.name, message: error.message, stack: error.stack, ...(error.cause !== undefined && { cause: describe(error.cause) }) };
};
const loaded = import(workerData.bundleUrl).then((module) => {
  if (typeof module.handler !== 'function') throw new Error(workerData.bundleUrl + ' exports no handler function');
  return module.handler;
});
loaded.then(() => parentPort.postMessage({ type: 'ready' }), (error) => parentPort.postMessage({ type: 'failed', error: describe(error) }));
parentPort.on('message', async ({ id, event }) => {
  try {
    const handler = await loaded;
    const context = {
      functionName: workerData.functionName,
      awsRequestId: event.requestContext?.requestId ?? String(id),
      getRemainingTimeInMillis: () => workerData.timeoutMs,
    };
    const result = await scope.run(id, () => handler(event, context));
    parentPort.postMessage({ type: 'result', id, result });
  } catch (error) {
    parentPort.postMessage({ type: 'error', id, error: describe(error) });
  }
});
`;

export interface FunctionSpec {
  readonly routeId: RouteId;
  /** The bundle's `index.mjs`. */
  readonly bundle: string;
  /** The function's whole environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Lambda's timeout for the function (the stack's 10 s). */
  readonly timeoutMs?: number;
}

/** What an invocation printed: one chunk of text as the function wrote it. */
export type FunctionOutput = (text: string) => void;

interface ErrorDescription {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly cause?: ErrorDescription;
}

type HostMessage =
  | { type: 'ready' }
  | { type: 'failed'; error: ErrorDescription }
  | { type: 'output'; id?: number; text: string }
  | { type: 'result'; id: number; result: APIGatewayProxyStructuredResultV2 }
  | { type: 'error'; id: number; error: ErrorDescription };

/** A function that failed to load or to answer, with the error it threw as `cause`. */
export class FunctionError extends Error {
  constructor(
    readonly routeId: RouteId,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'FunctionError';
  }
}

function revive(description: ErrorDescription): Error {
  const error = new Error(description.message, description.cause ? { cause: revive(description.cause) } : undefined);
  error.name = description.name;
  if (description.stack) error.stack = description.stack;
  return error;
}

interface Pending {
  resolve(result: APIGatewayProxyStructuredResultV2): void;
  reject(error: Error): void;
  output: FunctionOutput;
  timer: NodeJS.Timeout;
}

export class FunctionWorker {
  private worker: Worker | undefined;
  private readyPromise: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private retiring = false;
  private drained: (() => void) | undefined;

  /** `outside` receives what the function prints outside any invocation (loading, timers). */
  constructor(
    readonly spec: FunctionSpec,
    private readonly outside: FunctionOutput = () => {},
  ) {}

  /** Loads the bundle (once); resolves when its handler is there, rejects when the module throws. */
  start(): Promise<void> {
    this.readyPromise ??= new Promise<void>((resolve, reject) => {
      const worker = new Worker(host, {
        eval: true,
        env: { ...this.spec.env },
        workerData: {
          bundleUrl: pathToFileURL(this.spec.bundle).href,
          functionName: this.spec.env.AWS_LAMBDA_FUNCTION_NAME ?? this.spec.routeId,
          timeoutMs: this.timeoutMs,
        },
        stdout: false,
        stderr: false,
      });
      this.worker = worker;
      let loaded = false;
      worker.on('message', (message: HostMessage) => {
        if (message.type === 'ready') {
          loaded = true;
          resolve();
        } else if (message.type === 'failed') {
          reject(new FunctionError(this.spec.routeId, `the ${this.spec.routeId} function failed to load: ${message.error.message}`, { cause: revive(message.error) }));
          void this.stop();
        } else if (message.type === 'output') {
          const owner = message.id !== undefined ? this.pending.get(message.id) : undefined;
          (owner?.output ?? this.outside)(message.text);
        } else {
          const waiting = this.pending.get(message.id);
          if (!waiting) return;
          this.settle(message.id);
          if (message.type === 'result') waiting.resolve(message.result);
          else waiting.reject(revive(message.error));
        }
      });
      const ended = (error: Error) => {
        if (!loaded) reject(error);
        for (const [id, waiting] of this.pending) {
          this.settle(id);
          waiting.reject(error);
        }
        // The next invocation starts a fresh worker, as Lambda starts a fresh environment.
        if (this.worker === worker) {
          this.worker = undefined;
          this.readyPromise = undefined;
        }
      };
      worker.on('error', (error) => ended(new FunctionError(this.spec.routeId, `the ${this.spec.routeId} function crashed: ${error.message}`, { cause: error })));
      worker.on('exit', (code) => ended(new FunctionError(this.spec.routeId, `the ${this.spec.routeId} function exited (code ${code})`)));
    });
    return this.readyPromise;
  }

  /** Runs one invocation; `output` receives what it prints. */
  async invoke(event: APIGatewayProxyEventV2, output: FunctionOutput = this.outside): Promise<APIGatewayProxyStructuredResultV2> {
    await this.start();
    const worker = this.worker!;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const waiting = this.pending.get(id);
        if (!waiting) return;
        this.settle(id);
        waiting.reject(new FunctionError(this.spec.routeId, `the ${this.spec.routeId} function timed out after ${this.timeoutMs} ms`));
        // Lambda ends the environment of a function that timed out.
        if (this.worker === worker) {
          this.worker = undefined;
          this.readyPromise = undefined;
        }
        void worker.terminate();
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, output, timer });
      worker.postMessage({ id, event });
    });
  }

  /** Ends the worker once the invocations it is running have answered (a swap lets them finish). */
  async retire(): Promise<void> {
    this.retiring = true;
    if (this.pending.size > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await this.stop();
  }

  /** Ends the worker now. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.readyPromise = undefined;
    await worker?.terminate();
  }

  private get timeoutMs(): number {
    return this.spec.timeoutMs ?? 10_000;
  }

  private settle(id: number): void {
    const waiting = this.pending.get(id);
    if (waiting) clearTimeout(waiting.timer);
    this.pending.delete(id);
    if (this.retiring && this.pending.size === 0) this.drained?.();
  }
}
