import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteId } from '../manifest.js';
import { startTestService, testPhone, type CallOptions, type TestService } from '../testing/harness.js';

/**
 * DynamoDB calls per route, counted by a middleware on the very client the adapters use. A "round"
 * is a call that starts while no other is in flight: the sequential round trips a request waits for.
 */
class CallCounter {
  calls: string[] = [];
  rounds = 0;
  private inFlight = 0;

  constructor(clients: readonly DynamoDBClient[]) {
    for (const client of clients) this.watch(client);
  }

  private watch(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        this.calls.push(context.commandName ?? 'unknown');
        if (this.inFlight === 0) this.rounds += 1;
        this.inFlight += 1;
        try {
          return await next(args);
        } finally {
          this.inFlight -= 1;
        }
      },
      { step: 'initialize', name: 'countDynamoCalls' },
    );
  }

  reset(): void {
    this.calls = [];
    this.rounds = 0;
  }
}

describe('DynamoDB calls per route', () => {
  let service: TestService;
  let counter: CallCounter;
  const seen: Record<string, { calls: number; rounds: number; commands: string[] }> = {};

  beforeAll(async () => {
    service = await startTestService();
    // The handlers' own clients: each route has one, held to its grants (not `emulators.dynamo`).
    counter = new CallCounter(Object.values(service.routeDynamo));
  });
  afterAll(async () => {
    if (process.env.DEBUG_DYNAMO_CALLS) console.log(JSON.stringify(seen, null, 1));
    await service?.close();
  });

  const measure = async (label: string, routeId: RouteId, options: CallOptions) => {
    counter.reset();
    const response = await service.call(routeId, options);
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
   * Until issue 14 the counter watched `emulators.dynamo`, which no handler uses since each route got
   * its own client held to its grants: it counted 0 everywhere. Counted again on the handlers' clients,
   * the figures above held, and send-otp (first, new IP) 7 (10) and verify-otp (new user) 10 (10)
   * were added.
   * Issue 14 (blocks and the revocation marker): send-otp 7 (10) → 7 (11), the phone's block read
   * beside the counters; verify-otp 10 (10) → 10 (12), the block read beside the per-IP counter and
   * again beside the account read once the session is written (a block racing the login); refresh
   * and the bearer routes unchanged: the marker is an attribute of the user item they read anyway.
   */
  const budgets: Record<string, { rounds: number; calls: number }> = {
    sendOtp: { rounds: 7, calls: 11 },
    'verifyOtp (new user)': { rounds: 10, calls: 12 },
    refresh: { rounds: 6, calls: 7 },
    'refresh (retry in grace)': { rounds: 4, calls: 5 },
    getMe: { rounds: 1, calls: 1 },
    patchMe: { rounds: 2, calls: 2 },
    presign: { rounds: 2, calls: 3 },
    logout: { rounds: 4, calls: 4 },
    deleteMe: { rounds: 7, calls: 10 },
  };

  it('stays within each route budget', async () => {
    const phone = testPhone();
    expect((await measure('sendOtp', 'sendOtp', { body: { phone } })).response.status).toBe(200);
    const code = service.outbox.latest(phone)!.code;
    expect((await measure('verifyOtp (new user)', 'verifyOtp', { body: { phone, code } })).response.status).toBe(200);
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
    for (const [label, budget] of Object.entries(budgets)) {
      // A counter that sees nothing would pass every budget.
      expect({ label, calls: seen[label]!.calls }).toEqual({ label, calls: expect.toSatisfy((n: number) => n > 0) });
      expect({ label, rounds: seen[label]!.rounds }).toEqual({ label, rounds: expect.toSatisfy((n: number) => n <= budget.rounds) });
      expect({ label, calls: seen[label]!.calls }).toEqual({ label, calls: expect.toSatisfy((n: number) => n <= budget.calls) });
    }
  });
});
