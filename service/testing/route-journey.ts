/**
 * One user's whole journey through a running sandbox, over HTTP, request by request: every route
 * of the API, each with the DynamoDB and S3 calls its function made (from an `AwsCallRecorder` the
 * sandbox was started with). The call-count test and `npm run bench` both run it, so the snapshot
 * and the benchmark describe the same requests.
 *
 * Every journey uses a number of its own and a source address of its own (any of 127/8 reaches the
 * sandbox), so each starts with no open rate-limit window: the first send and the first refresh of
 * a journey open theirs, the later requests count in them. The counts are the same on every run.
 */
import { Agent, FormData, request } from 'undici';
import { callFigures, type AwsCallRecorder, type CallFigures } from '../local/aws-calls.js';
import type { RouteId } from '../manifest.js';
import { testPhone } from './harness.js';

export interface JourneyStep extends CallFigures {
  readonly label: string;
  readonly routeId: RouteId;
  readonly status: number;
  /** The whole request as the client saw it. */
  readonly ms: number;
}

export interface JourneySandbox {
  readonly url: string;
  readonly outbox: { latest(phone: string): { code: string } | undefined };
}

/** The labels in the order a journey makes them; what the snapshot and the bench list. */
export const journeyLabels = [
  'send-otp, first of the number',
  'verify-otp, wrong code',
  'verify-otp, right code, new user',
  'GET /profile/me',
  'PATCH /profile/me (name)',
  'POST /profile/avatar/presign',
  'PATCH /profile/me (photoKey)',
  'refresh',
  'refresh, retry in the grace window',
  'logout',
  'send-otp, windows open',
  'verify-otp, right code, known user',
  'DELETE /profile/me (with a photo)',
] as const;
export type JourneyLabel = (typeof journeyLabels)[number];

// The smallest PNG S3 and the route accept as an image/png upload.
const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

/** `127.a.b.c` for the n-th journey: distinct for the first 16 million. */
export function journeyAddress(n: number): string {
  return `127.${(n >> 16) & 255 || 1}.${(n >> 8) & 255}.${n & 255 || 1}`;
}

export async function runRouteJourney(
  sandbox: JourneySandbox,
  recorder: AwsCallRecorder,
  sourceAddress: string,
): Promise<JourneyStep[]> {
  const agent = new Agent({ localAddress: sourceAddress });
  const steps: JourneyStep[] = [];
  const send = async (label: JourneyLabel, routeId: RouteId, method: string, path: string, init: { json?: unknown; token?: string } = {}) => {
    const headers: Record<string, string> = {};
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    recorder.take();
    const started = performance.now();
    const answer = await request(`${sandbox.url}${path}`, {
      method: method as 'GET',
      headers,
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      dispatcher: agent,
    });
    const text = await answer.body.text();
    const ms = performance.now() - started;
    steps.push({ label, routeId, status: answer.statusCode, ms, ...callFigures(recorder.take()) });
    return { status: answer.statusCode, body: text ? JSON.parse(text) : undefined };
  };
  const expectStatus = (answer: { status: number; body: unknown }, status: number, what: string) => {
    if (answer.status !== status) throw new Error(`${what} answered ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body as any;
  };
  const codeFor = (phone: string) => {
    const code = sandbox.outbox.latest(phone)?.code;
    if (!code) throw new Error('the sandbox sent no code');
    return code;
  };

  try {
    const phone = testPhone();
    expectStatus(await send('send-otp, first of the number', 'sendOtp', 'POST', '/auth/send-otp', { json: { phone } }), 200, 'send-otp');
    const code = codeFor(phone);
    const wrong = code === '000000' ? '111111' : '000000';
    expectStatus(await send('verify-otp, wrong code', 'verifyOtp', 'POST', '/auth/verify-otp', { json: { phone, code: wrong } }), 401, 'a wrong code');
    const session = expectStatus(
      await send('verify-otp, right code, new user', 'verifyOtp', 'POST', '/auth/verify-otp', { json: { phone, code } }),
      200,
      'verify-otp',
    );
    const token = session.token as string;
    expectStatus(await send('GET /profile/me', 'getMe', 'GET', '/profile/me', { token }), 200, 'GET /profile/me');
    expectStatus(await send('PATCH /profile/me (name)', 'patchMe', 'PATCH', '/profile/me', { token, json: { name: 'Ada' } }), 200, 'PATCH name');
    const upload = expectStatus(
      await send('POST /profile/avatar/presign', 'presignAvatar', 'POST', '/profile/avatar/presign', { token, json: { contentType: 'image/png' } }),
      200,
      'presign',
    );
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields as Record<string, string>)) form.append(name, value);
    form.append('file', new Blob([png], { type: 'image/png' }), 'avatar.png');
    const uploaded = await request(upload.url, { method: 'POST', body: form, dispatcher: agent });
    await uploaded.body.dump();
    if (uploaded.statusCode >= 300) throw new Error(`the upload answered ${uploaded.statusCode}`);
    expectStatus(
      await send('PATCH /profile/me (photoKey)', 'patchMe', 'PATCH', '/profile/me', { token, json: { photoKey: upload.key } }),
      200,
      'PATCH photoKey',
    );
    const refreshed = expectStatus(
      await send('refresh', 'refresh', 'POST', '/auth/refresh', { json: { refreshToken: session.refreshToken } }),
      200,
      'refresh',
    );
    expectStatus(
      await send('refresh, retry in the grace window', 'refresh', 'POST', '/auth/refresh', { json: { refreshToken: session.refreshToken } }),
      200,
      'a retried refresh',
    );
    expectStatus(await send('logout', 'logout', 'POST', '/auth/logout', { json: { refreshToken: refreshed.refreshToken } }), 204, 'logout');
    expectStatus(await send('send-otp, windows open', 'sendOtp', 'POST', '/auth/send-otp', { json: { phone } }), 200, 'send-otp again');
    const again = expectStatus(
      await send('verify-otp, right code, known user', 'verifyOtp', 'POST', '/auth/verify-otp', { json: { phone, code: codeFor(phone) } }),
      200,
      'verify-otp again',
    );
    expectStatus(await send('DELETE /profile/me (with a photo)', 'deleteMe', 'DELETE', '/profile/me', { token: again.token }), 204, 'DELETE /profile/me');
    return steps;
  } finally {
    await agent.close();
  }
}
