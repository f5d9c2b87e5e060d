import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsCallRecorder } from '../local/aws-calls.js';
import type { RouteId } from '../manifest.js';
import { startTestService, type CallOptions, type TestService } from '../testing/harness.js';

/**
 * DynamoDB calls per route, recorded by a middleware on the clients the route handlers use. A
 * "round" is a call that starts while no other is in flight: the sequential round trips a request
 * waits for. (`aws-calls.test.ts` holds the finer measure, the sequential depth, for every route.)
 */
class CallCounter {
  calls: string[] = [];
  rounds = 0;

  constructor(private readonly recorder: AwsCallRecorder) {}

  reset(): void {
    this.recorder.take();
    this.calls = [];
    this.rounds = 0;
  }

  /** Reads what the recorder saw since the last reset. */
  collect(): void {
    const taken = this.recorder.take();
    let lastEnd = -Infinity;
    for (const call of taken) {
      this.calls.push(`${call.command}Command`);
      if (call.start >= lastEnd) this.rounds += 1;
      lastEnd = Math.max(lastEnd, call.end);
    }
  }
}

describe('DynamoDB calls per route', () => {
  let service: TestService;
  let counter: CallCounter;
  const seen: Record<string, { calls: number; rounds: number; commands: string[] }> = {};

  beforeAll(async () => {
    const recorder = new AwsCallRecorder({ delayMs: 2 });
    service = await startTestService({ awsCalls: recorder });
    counter = new CallCounter(recorder);
  });
  afterAll(async () => {
    if (process.env.DEBUG_DYNAMO_CALLS) console.log(JSON.stringify(seen, null, 1));
    await service?.close();
  });

  const measure = async (label: string, routeId: RouteId, options: CallOptions) => {
    counter.reset();
    const response = await service.call(routeId, options);
    counter.collect();
    seen[label] = { calls: counter.calls.length, rounds: counter.rounds, commands: counter.calls };
    return { response, ...seen[label]! };
  };

  /**
   * Budgets in sequential rounds (calls). Each call here comes from a new IP, so every rate-limit hit
   * opens a window: UpdateItem, then PutItem (one round more than a hit in an open window).
   * Issue 9 measured, before → after:
   *   refresh 6 (6) → 6 (7): the account read runs beside the family read;
   *   refresh retry in the grace window 6 (6) → 4 (5): the retry writes nothing;
   *   getMe 1 (1) → 1 (1), patchMe 2 (2) → 2 (2): the user read they did anyway checks the status;
   *   presign 0 → 2 (3): account read beside the per-user counter;
   *   logout 2 (2) → 4 (4): the per-IP counter, first, before any read;
   *   deleteMe 7 (8) → 7 (10): the status write replaces the read; the presign counter and the
   *   per-source send counter of the phone are forgotten too (in the same round as the others).
   */
  const budgets: Record<string, { rounds: number; calls: number }> = {
    refresh: { rounds: 6, calls: 7 },
    'refresh (retry in grace)': { rounds: 4, calls: 5 },
    getMe: { rounds: 1, calls: 1 },
    patchMe: { rounds: 2, calls: 2 },
    presign: { rounds: 2, calls: 3 },
    logout: { rounds: 4, calls: 4 },
    deleteMe: { rounds: 7, calls: 10 },
  };
  /**
   * Issue 15 measured, before → after: refresh 6 (7) → 3 (6); its retry 4 (5) → 2 (5); presign
   * 2 (3) → 1 (2); logout 4 (4) → 2 (3); deleteMe 7 (10) → 4 (10). These tighter budgets hold too.
   */
  const issue15: Record<string, { rounds: number; calls: number }> = {
    refresh: { rounds: 3, calls: 6 },
    'refresh (retry in grace)': { rounds: 2, calls: 5 },
    presign: { rounds: 1, calls: 2 },
    logout: { rounds: 2, calls: 3 },
    deleteMe: { rounds: 4, calls: 10 },
  };

  it('stays within each route budget', async () => {
    const session = await service.login();
    const token = session.token as string;
    const refreshed = await measure('refresh', 'refresh', { body: { refreshToken: session.refreshToken } });
    expect(refreshed.response.status).toBe(200);
    const retried = await measure('refresh (retry in grace)', 'refresh', { body: { refreshToken: session.refreshToken } });
    expect(retried.response.status).toBe(200);
    expect((await measure('getMe', 'getMe', { token })).response.status).toBe(200);
    expect((await measure('patchMe', 'patchMe', { token, body: { name: 'Ada' } })).response.status).toBe(200);
    expect((await measure('presign', 'presignAvatar', { token, body: { contentType: 'image/png' } })).response.status).toBe(200);
    expect((await measure('logout', 'logout', { body: { refreshToken: refreshed.response.body.refreshToken } })).response.status).toBe(204);
    expect((await measure('deleteMe', 'deleteMe', { token })).response.status).toBe(204);
    for (const [label, budget] of [...Object.entries(budgets), ...Object.entries(issue15)]) {
      expect({ label, rounds: seen[label]!.rounds }).toEqual({ label, rounds: expect.toSatisfy((n: number) => n <= budget.rounds) });
      expect({ label, calls: seen[label]!.calls }).toEqual({ label, calls: expect.toSatisfy((n: number) => n <= budget.calls) });
    }
  });
});
