/**
 * The sandbox's functions: one worker per route, each running its route's bundle with the
 * environment its Lambda gets. A worker starts on its route's first request (or ahead of it, with
 * `prewarm`); a new bundle is swapped in once its worker has loaded, while requests already running
 * finish on the old one.
 */
import { routeEnvironment, routes, type DeployedNames, type RouteDefinition, type RouteId } from '../manifest.js';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { FunctionWorker, type FunctionOutput } from './function-worker.js';
import { sandboxSessionToken } from './s3-front.js';

/** Where each AWS service (and Twilio Verify) answers the functions in the sandbox. */
export interface FunctionEndpoints {
  readonly dynamodb: string;
  readonly s3: string;
  readonly ssm: string;
  readonly twilio: string;
}

/**
 * What the stack sets on every function besides `routeEnvironment` (infra/stack.ts; the bundle test
 * compares the two). NODE_OPTIONS is not among them: a worker cannot take it, and turns source
 * maps on itself.
 */
export const stackFunctionEnvironment: Readonly<Record<string, string>> = {
  POWERTOOLS_SERVICE_NAME: 'chatshyld',
  POWERTOOLS_METRICS_NAMESPACE: 'ChatShyld',
  POWERTOOLS_LOG_LEVEL: 'INFO',
};

/**
 * A route's whole environment in the sandbox: what infra gives its function, what Lambda itself
 * sets (region, the role's credentials, the function's name), and where the SDK and the Twilio
 * adapter find the sandbox's stand-ins. The session token names the route, as a role session names
 * its role: the fronts read it to hold each function to its grants.
 */
export function functionEnvironment(
  route: RouteDefinition,
  names: DeployedNames,
  endpoints: FunctionEndpoints,
  credentials: { readonly accessKeyId: string; readonly secretAccessKey: string },
  region: string,
): Record<string, string> {
  return {
    ...routeEnvironment(route, names),
    ...stackFunctionEnvironment,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_SESSION_TOKEN: sandboxSessionToken(route.id),
    AWS_LAMBDA_FUNCTION_NAME: `ChatShyld-${names.stage}-${route.id}`,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SSM: endpoints.ssm,
    TWILIO_VERIFY_BASE_URL: endpoints.twilio,
  };
}

export interface SandboxFunctionsOptions {
  /** Each route's `index.mjs`. */
  readonly bundles: Readonly<Record<RouteId, string>>;
  readonly environment: (route: RouteDefinition) => Record<string, string>;
  /** What a function prints outside any invocation. */
  readonly outside?: FunctionOutput;
  readonly timeoutMs?: number;
}

export class SandboxFunctions {
  private readonly workers = new Map<RouteId, FunctionWorker>();
  private readonly bundles = new Map<RouteId, string>();
  private closed = false;

  constructor(private readonly options: SandboxFunctionsOptions) {
    for (const route of routes) this.bundles.set(route.id, options.bundles[route.id]);
  }

  /** The bundle each route runs now. */
  current(): Record<RouteId, string> {
    return Object.fromEntries(this.bundles) as Record<RouteId, string>;
  }

  invoke(routeId: RouteId, event: APIGatewayProxyEventV2, output?: FunctionOutput): Promise<APIGatewayProxyStructuredResultV2> {
    return this.worker(routeId).invoke(event, output);
  }

  /** Starts every route's worker in the background; a failure shows on the route's first request. */
  prewarm(): void {
    for (const route of routes) this.worker(route.id).start().catch(() => {});
  }

  /**
   * Loads each new bundle in a worker of its own and swaps them all in once every one has loaded;
   * if one fails to load, nothing is swapped (no half of a change is served) and the error says why.
   */
  async swap(bundles: Partial<Record<RouteId, string>>): Promise<void> {
    const fresh = new Map<RouteId, FunctionWorker>();
    for (const [routeId, bundle] of Object.entries(bundles) as [RouteId, string][]) {
      fresh.set(routeId, this.create(routeId, bundle));
    }
    try {
      await Promise.all([...fresh.values()].map((worker) => worker.start()));
    } catch (error) {
      await Promise.all([...fresh.values()].map((worker) => worker.stop()));
      throw error;
    }
    if (this.closed) {
      await Promise.all([...fresh.values()].map((worker) => worker.stop()));
      return;
    }
    for (const [routeId, worker] of fresh) {
      const old = this.workers.get(routeId);
      this.workers.set(routeId, worker);
      this.bundles.set(routeId, worker.spec.bundle);
      void old?.retire();
    }
  }

  /** Ends every worker once its requests have answered; the next request starts afresh (what a redeploy does). */
  restart(): void {
    for (const [routeId, worker] of this.workers) {
      this.workers.delete(routeId);
      void worker.retire();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(workers.map((worker) => worker.stop()));
  }

  private worker(routeId: RouteId): FunctionWorker {
    let worker = this.workers.get(routeId);
    if (!worker) {
      worker = this.create(routeId, this.bundles.get(routeId)!);
      this.workers.set(routeId, worker);
    }
    return worker;
  }

  private create(routeId: RouteId, bundle: string): FunctionWorker {
    const route = routes.find((candidate) => candidate.id === routeId)!;
    return new FunctionWorker(
      { routeId, bundle, env: this.options.environment(route), ...(this.options.timeoutMs !== undefined && { timeoutMs: this.options.timeoutMs }) },
      this.options.outside,
    );
  }
}
