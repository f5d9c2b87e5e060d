import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsCallRecorder } from '../local/aws-calls.js';
import type { RouteId } from '../manifest.js';
import { startTestService, testPhone, type CallOptions, type TestService } from '../testing/harness.js';

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
    // On the handlers' own clients: each route has one, held to its grants (not `emulators.dynamo`).
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
  /**
   * Issue 15 measured, before → after (with issue 14 merged): send-otp 7 (11) → 5 (7): a counter's
   * first hit opens its window in the same write; verify-otp (new user) 10 (12) → 4 (10); refresh
   * 6 (7) → 3 (6); its retry 4 (5) → 2 (5); presign 2 (3) → 1 (2); logout 4 (4) → 2 (3); deleteMe
   * 7 (10) → 4 (10) (rounds undercount a fork of unequal branches; aws-calls.test.ts holds the
   * depth). These tighter budgets hold too. Then send-otp 5 (7) → 2 (4): the phone's cooldown, its
   * hourly ceiling and each source's share are one item, counted by one conditional write.
   */
  const issue15: Record<string, { rounds: number; calls: number }> = {
    sendOtp: { rounds: 2, calls: 4 },
    'verifyOtp (new user)': { rounds: 4, calls: 10 },
    refresh: { rounds: 3, calls: 6 },
    'refresh (retry in grace)': { rounds: 2, calls: 5 },
    presign: { rounds: 1, calls: 2 },
    logout: { rounds: 2, calls: 3 },
    deleteMe: { rounds: 4, calls: 10 },
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
    for (const [label, budget] of [...Object.entries(budgets), ...Object.entries(issue15)]) {
      // A counter that sees nothing would pass every budget.
      expect({ label, calls: seen[label]!.calls }).toEqual({ label, calls: expect.toSatisfy((n: number) => n > 0) });
      expect({ label, rounds: seen[label]!.rounds }).toEqual({ label, rounds: expect.toSatisfy((n: number) => n <= budget.rounds) });
      expect({ label, calls: seen[label]!.calls }).toEqual({ label, calls: expect.toSatisfy((n: number) => n <= budget.calls) });
    }
  });

  it('sends a code in 2 rounds under the deployed limits: a first send, a resend after the cooldown, a send from a new source', async () => {
    const phone = testPhone();
    const ip = '10.93.0.1';
    const first = await measure('sendOtp first', 'sendOtp', { body: { phone }, ip });
    service.clock.advance(31_000);
    const resend = await measure('sendOtp resend', 'sendOtp', { body: { phone }, ip });
    service.clock.advance(31_000);
    const elsewhere = await measure('sendOtp elsewhere', 'sendOtp', { body: { phone }, ip: '10.93.0.2' });
    for (const sent of [first, resend, elsewhere]) {
      expect(sent.response.status).toBe(200);
      // The block read, the per-IP counter and the phone's limits; then the challenge.
      expect({ rounds: sent.rounds, calls: sent.calls }).toEqual({ rounds: 2, calls: 4 });
    }
    // A day later, from the same address, with a code never used: every window has ended, but
    // DynamoDB's TTL may not have removed the items yet. The per-IP counter and the phone's limits
    // (together) and then the challenge each write their new window after a refused write: 4 rounds.
    service.clock.advance(24 * 3600_000);
    const later = await measure('sendOtp a day later', 'sendOtp', { body: { phone }, ip });
    expect(later.response.status).toBe(200);
    expect(later.rounds).toBeLessThanOrEqual(4);
    // Refused inside the cooldown: the refused write is read back to say why; nothing is put over it.
    const refused = await measure('sendOtp refused', 'sendOtp', { body: { phone }, ip: '10.93.0.3' });
    expect(refused.response.status).toBe(429);
    expect(refused.commands.filter((command) => command !== 'GetItemCommand' && command !== 'UpdateItemCommand')).toEqual([]);
  });
});
