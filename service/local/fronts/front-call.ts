/**
 * What every sandbox front (S3, DynamoDB, SSM, Twilio Verify) reports about a request it is about to
 * forward or answer: which service, which route's function sent it (when the credentials say), and
 * the API action. The hook is awaited first, so a test or the bench can hold a call back (to model a
 * network round trip, or to order two calls); the function it returns, if any, is called once the
 * answer has been sent, so the caller can time each call and the depth of a route's calls.
 */
import type { ServerResponse } from 'node:http';
import type { RouteId } from '../../manifest.js';

export interface FrontCall {
  readonly service: 'dynamodb' | 's3' | 'ssm' | 'twilio';
  readonly routeId?: RouteId;
  /** The API action: `PutItem`, `GetObject`, `GetParameter`, `Verifications`… */
  readonly action: string;
}

export type OnFrontCall = (call: FrontCall) => void | Promise<void | (() => void)>;

/** Runs the hook before a call, and arranges for its returned function to run once `response` is sent. */
export async function announceCall(onCall: OnFrontCall | undefined, call: FrontCall, response: ServerResponse): Promise<void> {
  if (!onCall) return;
  const done = await onCall(call);
  if (typeof done !== 'function') return;
  let called = false;
  const finish = () => {
    if (called) return;
    called = true;
    done();
  };
  // 'finish' when the whole answer was handed to the socket; 'close' too if the client went away first.
  response.once('finish', finish);
  response.once('close', finish);
}
