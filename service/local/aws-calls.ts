/**
 * Every DynamoDB and S3 request a function sends over the network, recorded as an interval, and the
 * figures a route's latency follows from: how many calls, and how many of them it waits for one
 * after another. The sandbox's functions run their own bundles in worker threads, so there the
 * calls are recorded where they arrive, by the fronts (`onCall`: from the request reaching the front
 * to its answer being sent); the in-process test harness records them by SDK middleware (`watch`).
 *
 * The middleware sits in the `deserialize` step, around the reading of the answer: it sees each
 * attempt that goes on the wire (a retry is a call), after the grants check and the signing, and
 * never a presigned URL or POST, which are signed locally. It can hold every call back by a fixed delay first, to model the
 * round trip to DynamoDB or S3 in the same region (single-digit ms) on an emulator that answers in
 * well under one.
 *
 * **Sequential depth** is the length of the longest chain of calls that wait on each other, where a
 * call is taken to have waited on the call that finished last before it started (if any): code
 * that awaits an answer sends its next call right after that answer, and calls issued together
 * overlap, so none of them finished before another started. The depth of a call is one more than
 * the depth of the call it waited on, and a request's depth is the greatest depth of its calls.
 * (The longest chain of merely non-overlapping calls would over-count: after a fork, a call of one
 * branch often starts after an unrelated, shorter call of the other branch has ended.) With every
 * call taking about the same time t, a request spends about depth × t waiting for DynamoDB and S3,
 * whatever its total number of calls.
 */
import type { RouteId } from '../manifest.js';

export type AwsService = 'dynamodb' | 's3';

export interface AwsCall {
  readonly service: AwsService;
  readonly command: string;
  /** performance.now() when the request reached the wire step (before any injected delay). */
  readonly start: number;
  /** performance.now() when its answer had been read. */
  readonly end: number;
}

export interface CallFigures {
  readonly dynamodb: number;
  readonly s3: number;
  readonly depth: number;
  /** Command names in the order they started, `S3:` before an S3 one. */
  readonly commands: readonly string[];
}

/** The part of an SDK client the recorder needs: both DynamoDBClient and S3Client have it. */
interface WatchableClient {
  readonly middlewareStack: {
    add(
      middleware: (next: (args: any) => Promise<any>, context: { commandName?: string }) => (args: any) => Promise<any>,
      options: { step: 'deserialize'; priority: 'high'; name: string },
    ): void;
  };
}

export interface AwsCallRecorderOptions {
  /** Held before each call, in ms (0: none). */
  readonly delayMs?: number;
}

export class AwsCallRecorder {
  private calls: AwsCall[] = [];
  readonly delayMs: number;

  constructor(options: AwsCallRecorderOptions = {}) {
    this.delayMs = options.delayMs ?? 0;
  }

  /** Records (and delays) every call `client` sends from now on. */
  watch(client: WatchableClient, service: AwsService): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const start = performance.now();
        if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
        try {
          return await next(args);
        } finally {
          const command = String(context.commandName ?? 'unknown').replace(/Command$/, '');
          this.calls.push({ service, command, start, end: performance.now() });
        }
      },
      { step: 'deserialize', priority: 'high', name: 'chatshyldRecordAwsCalls' },
    );
  }

  /**
   * The fronts' `onCall`: records (and delays) each DynamoDB and S3 call a function sends, from when
   * it reached the front to when its answer was sent. SSM and Twilio calls are not counted.
   */
  readonly onCall = async (call: { readonly service: string; readonly action: string }): Promise<(() => void) | undefined> => {
    if (call.service !== 'dynamodb' && call.service !== 's3') return undefined;
    const service: AwsService = call.service;
    const start = performance.now();
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return () => {
      this.calls.push({ service, command: call.action, start, end: performance.now() });
    };
  };

  /** The calls recorded since the last `take`, in the order they started; clears them. */
  take(): AwsCall[] {
    const taken = this.calls.sort((a, b) => a.start - b.start);
    this.calls = [];
    return taken;
  }
}

/** The sequential depth of a request's calls (see above). */
export function sequentialDepth(calls: readonly AwsCall[]): number {
  const byStart = [...calls].sort((a, b) => a.start - b.start);
  const depths: number[] = [];
  byStart.forEach((call, index) => {
    let waitedOn = -1;
    for (let earlier = 0; earlier < index; earlier++) {
      const candidate = byStart[earlier]!;
      if (candidate.end <= call.start && (waitedOn < 0 || candidate.end > byStart[waitedOn]!.end)) waitedOn = earlier;
    }
    depths[index] = waitedOn < 0 ? 1 : depths[waitedOn]! + 1;
  });
  return Math.max(0, ...depths);
}

export function callFigures(calls: readonly AwsCall[]): CallFigures {
  const byStart = [...calls].sort((a, b) => a.start - b.start);
  return {
    dynamodb: byStart.filter((call) => call.service === 'dynamodb').length,
    s3: byStart.filter((call) => call.service === 's3').length,
    depth: sequentialDepth(byStart),
    commands: byStart.map((call) => (call.service === 's3' ? `S3:${call.command}` : call.command)),
  };
}

/** The sequential-depth targets of the round-trip work (issue 15), per route. */
export const depthTargets: Partial<Record<RouteId, number>> = {
  sendOtp: 2,
  verifyOtp: 4,
  refresh: 3,
  getMe: 1,
  logout: 2,
  deleteMe: 4,
};
