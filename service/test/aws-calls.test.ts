import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsCallRecorder, depthTargets, sequentialDepth, type AwsCall } from '../local/aws-calls.js';
import { startSandbox, type Sandbox } from '../local/sandbox.js';
import { journeyAddress, journeyLabels, runRouteJourney, type JourneyStep } from '../testing/route-journey.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

const call = (start: number, end: number): AwsCall => ({ service: 'dynamodb', command: 'GetItem', start, end });

describe('sequential depth', () => {
  it('is the longest chain of calls each waiting on the call that finished last before it started', () => {
    expect(sequentialDepth([])).toBe(0);
    expect(sequentialDepth([call(0, 5)])).toBe(1);
    // Three calls issued together, then one that waits for them: 2.
    expect(sequentialDepth([call(0, 5), call(0.1, 6), call(0.2, 5.5), call(6.1, 11)])).toBe(2);
    // One after the other: 3, in whatever order they are given.
    expect(sequentialDepth([call(12, 17), call(0, 5), call(6, 11)])).toBe(3);
    // A long call beside a chain of two: the chain decides.
    expect(sequentialDepth([call(0, 20), call(0.1, 5), call(5.2, 10)])).toBe(2);
    // A call starting exactly when another ends waited for it.
    expect(sequentialDepth([call(0, 5), call(5, 10)])).toBe(2);
    // A fork after R: a query and its batch delete beside a listing and its delete, then a last
    // call after both. The object delete starts after the batch delete ended, but waited on the
    // listing: 4 (R, listing, its delete, the last), not the 5 of the longest non-overlapping chain.
    const forked = [call(0, 5), call(5.1, 10), call(10.1, 15), call(5.2, 16), call(16.1, 20), call(20.1, 22)];
    expect(sequentialDepth(forked)).toBe(4);
  });
});

/**
 * The DynamoDB and S3 calls of every route, measured through the sandbox where its functions' calls
 * arrive: at the DynamoDB and S3 fronts (their `onCall`). The snapshot (`aws-calls.snapshot.md`)
 * changes only on purpose: after a change that adds a call or a round trip, or removes one, review
 * the new table and update it with `npx vitest run service/test/aws-calls.test.ts -u`. The delay
 * held before each call makes calls issued together overlap however loaded the machine is (they
 * travel over HTTP from the function's thread, so they reach the front a few ms apart, and a new
 * connection takes longer); no time is asserted.
 */
describe('DynamoDB and S3 calls per route', () => {
  let sandbox: Sandbox;
  let stateDir: string;
  const recorder = new AwsCallRecorder({ delayMs: 25 });
  let steps: JourneyStep[];

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-aws-calls-'));
    sandbox = await startSandbox({ stateDir, awsCalls: recorder });
    // Each function reads its secrets on first use (as a Lambda reads SSM once per container): a
    // first journey warms them, so the one measured shows the calls of a warm function.
    await runRouteJourney(sandbox, recorder, journeyAddress(1));
    steps = await runRouteJourney(sandbox, recorder, journeyAddress(2));
  }, 180_000);
  afterAll(async () => {
    await sandbox?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('match the reviewed snapshot', async () => {
    expect(steps.map((step) => step.label)).toEqual([...journeyLabels]);
    const table = [
      '| request | DynamoDB calls | S3 calls | sequential depth | calls in order |',
      '|---|---|---|---|---|',
      ...steps.map((step) => `| ${step.label} | ${step.dynamodb} | ${step.s3} | ${step.depth} | ${step.commands.join(' ')} |`),
      '',
    ].join('\n');
    await expect(table).toMatchFileSnapshot('./aws-calls.snapshot.md');
  });

  it('stay within the sequential-depth targets', () => {
    const checked = steps.filter((step) => depthTargets[step.routeId] !== undefined);
    expect(new Set(checked.map((step) => step.routeId))).toEqual(new Set(['sendOtp', 'verifyOtp', 'refresh', 'getMe', 'logout', 'deleteMe']));
    for (const step of checked) {
      expect({ request: step.label, depth: step.depth }).toEqual({
        request: step.label,
        depth: expect.toSatisfy((depth: number) => depth <= depthTargets[step.routeId]!),
      });
    }
  });

  it('are the same on a second journey (the counts do not depend on what ran before)', async () => {
    const again = await runRouteJourney(sandbox, recorder, journeyAddress(3));
    const figures = (list: JourneyStep[]) => list.map(({ label, dynamodb, s3, depth, commands }) => ({ label, dynamodb, s3, depth, commands }));
    expect(figures(again)).toEqual(figures(steps));
  });
});
