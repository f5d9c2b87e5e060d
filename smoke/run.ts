/**
 * The smoke flow of DESIGN §7: the checks the team used to click through in Postman, scripted. Each
 * step is timed; the first failure skips the rest, except the cleanup, which still deletes the smoke
 * user if the run got far enough to have one.
 */
import { FormData, request } from 'undici';
import { Redactor } from './redact.js';
import type { Exchange, SmokeReport, StepResult } from './types.js';

/** A 1×1 transparent PNG: the avatar the smoke uploads. */
export const smokePng = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
    '1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082',
  'hex',
);

export interface SmokeOptions {
  readonly baseUrl: string;
  readonly phone: string;
  /** How the code is found: from the sandbox's outbox, or a test number's fixed code. */
  readonly code: { readonly from: 'sandbox' } | { readonly from: 'fixed'; readonly value: string };
  /** Keep the smoke user instead of deleting it at the end. */
  readonly keep?: boolean;
  readonly stepTimeoutMs?: number;
  readonly onStep?: (result: StepResult) => void;
  /** Stops the run between steps; the cleanup still runs when there is a user to delete. */
  readonly signal?: AbortSignal;
}

/** Milliseconds to two decimals: reports say 20.97, not 20.972486000000004. */
const roundMs = (ms: number) => Math.round(ms * 100) / 100;

class StepFailure extends Error {}

interface Response {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: any;
  readonly bytes: Buffer;
}

interface Session {
  token: string;
  refreshToken: string;
  userId: string;
}

interface Step {
  readonly name: string;
  readonly title: string;
  run(): Promise<void>;
}

export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.stepTimeoutMs ?? 10_000;
  const redactor = new Redactor();
  let exchange: Exchange | undefined;

  const call = async (
    method: string,
    url: string,
    init: { json?: unknown; token?: string; form?: FormData } = {},
  ): Promise<Response> => {
    const headers: Record<string, string> = {};
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    exchange = { request: { method, url, headers, ...(init.json !== undefined && { body: init.json }) } };
    const signal = AbortSignal.timeout(timeoutMs);
    let answer;
    try {
      answer = await request(url, {
        method: method as 'GET',
        headers,
        body: init.form ?? (init.json === undefined ? undefined : JSON.stringify(init.json)),
        signal,
      });
    } catch (error) {
      throw new StepFailure(describeNetworkError(error, url, timeoutMs));
    }
    const bytes = Buffer.from(await answer.body.arrayBuffer());
    const responseHeaders = Object.fromEntries(
      Object.entries(answer.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)]),
    );
    let body: unknown = undefined;
    const text = bytes.toString('utf8');
    if (responseHeaders['content-type']?.includes('json') && text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    } else if (text && !responseHeaders['content-type']?.startsWith('image/')) {
      body = text.slice(0, 2000);
    }
    exchange = { ...exchange, response: { status: answer.statusCode, headers: responseHeaders, body } };
    return { status: answer.statusCode, headers: responseHeaders, body, bytes };
  };
  const api = (method: string, path: string, init?: { json?: unknown; token?: string }) =>
    call(method, `${base}${path}`, init);
  const expectStatus = (response: Response, status: number, what: string) => {
    if (response.status !== status) {
      const code = response.body?.error?.code ? ` (${response.body.error.code})` : '';
      throw new StepFailure(`${what}: expected ${status}, got ${response.status}${code}`);
    }
  };
  const check = (condition: unknown, message: string) => {
    if (!condition) throw new StepFailure(message);
  };

  const phone = options.phone;
  let session: Session | undefined;
  const tokensSeen: string[] = [];
  let avatar: { key: string; url: string; fields: Record<string, string> } | undefined;

  /** Finds the pending code and signs in with it. */
  const verify = async () => {
    const code = await findCode();
    const verified = await api('POST', '/auth/verify-otp', { json: { phone, code } });
    expectStatus(verified, 200, 'verify-otp');
    const { token, refreshToken, user, expiresIn } = verified.body ?? {};
    check(typeof token === 'string' && typeof refreshToken === 'string', 'verify-otp answered without tokens');
    check(typeof expiresIn === 'number' && expiresIn > 0, 'verify-otp answered without expiresIn');
    redactor.add(token);
    redactor.add(refreshToken);
    check(user?.phone === phone, `verify-otp answered a user with phone ${user?.phone}, expected ${phone}`);
    session = { token, refreshToken, userId: user.id };
    tokensSeen.push(refreshToken);
  };
  const findCode = async (): Promise<string> => {
    if (options.code.from === 'fixed') {
      redactor.add(options.code.value);
      return options.code.value;
    }
    const pending = await call('GET', `${base}/__sandbox/otp/${encodeURIComponent(phone)}`);
    expectStatus(pending, 200, 'the sandbox outbox');
    redactor.add(pending.body.code);
    return pending.body.code;
  };
  const refresh = async () => {
    const response = await api('POST', '/auth/refresh', { json: { refreshToken: session!.refreshToken } });
    expectStatus(response, 200, 'refresh');
    check(response.body.refreshToken !== session!.refreshToken, 'refresh returned the same refresh token');
    redactor.add(response.body.token);
    redactor.add(response.body.refreshToken);
    session = { ...session!, token: response.body.token, refreshToken: response.body.refreshToken };
    tokensSeen.push(session.refreshToken);
  };

  const steps: Step[] = [
    {
      name: 'health',
      title: 'GET /health answers ok',
      run: async () => {
        const response = await api('GET', '/health');
        expectStatus(response, 200, 'health');
        check(response.body?.ok === true, 'health did not say ok: true');
      },
    },
    {
      name: 'send-otp',
      title: 'POST /auth/send-otp accepts the number',
      run: async () => expectStatus(await api('POST', '/auth/send-otp', { json: { phone } }), 200, 'send-otp'),
    },
    {
      name: 'verify-otp',
      title: 'POST /auth/verify-otp signs in with the code',
      run: verify,
    },
    {
      name: 'me',
      title: 'GET /profile/me with the access token',
      run: async () => {
        const me = await api('GET', '/profile/me', { token: session!.token });
        expectStatus(me, 200, 'profile');
        check(me.body.id === session!.userId && me.body.phone === phone, 'profile is not the signed-in user');
      },
    },
    {
      name: 'unauthorized',
      title: 'no token and a tampered token are refused',
      run: async () => {
        expectStatus(await api('GET', '/profile/me'), 401, 'profile without a token');
        const [header, payload, signature] = session!.token.split('.');
        const flipped = `${signature!.slice(0, -2)}${signature!.endsWith('AA') ? 'BB' : 'AA'}`;
        expectStatus(
          await api('GET', '/profile/me', { token: `${header}.${payload}.${flipped}` }),
          401,
          'profile with a tampered token',
        );
      },
    },
    {
      name: 'refresh',
      title: 'POST /auth/refresh rotates the token, twice',
      run: async () => {
        await refresh();
        await refresh();
        expectStatus(await api('GET', '/profile/me', { token: session!.token }), 200, 'profile with the new token');
      },
    },
    {
      name: 'reuse-detection',
      title: 'replaying the oldest refresh token revokes the family',
      run: async () => {
        const replay = await api('POST', '/auth/refresh', { json: { refreshToken: tokensSeen[0] } });
        expectStatus(replay, 401, 'refresh with the oldest token');
        const latest = await api('POST', '/auth/refresh', { json: { refreshToken: session!.refreshToken } });
        expectStatus(latest, 401, 'refresh with the latest token after reuse');
      },
    },
    {
      name: 'login-again',
      title: 'the same number signs in again',
      run: async () => {
        const before = session!.userId;
        expectStatus(await api('POST', '/auth/send-otp', { json: { phone } }), 200, 'send-otp');
        await verify();
        check(session!.userId === before, 'signing in again made a different user');
      },
    },
    {
      name: 'presign',
      title: 'POST /profile/avatar/presign returns a bounded upload',
      run: async () => {
        const response = await api('POST', '/profile/avatar/presign', {
          json: { contentType: 'image/png' },
          token: session!.token,
        });
        expectStatus(response, 200, 'presign');
        const { key, url, fields, maxBytes } = response.body;
        check(typeof key === 'string' && key.startsWith(`avatar/${session!.userId}/`), `unexpected key ${key}`);
        check(typeof url === 'string' && fields && typeof fields === 'object', 'presign answered without url and fields');
        check(maxBytes === 5 * 1024 * 1024, `maxBytes is ${maxBytes}`);
        for (const name of ['Policy', 'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token']) {
          redactor.add(fields[name]);
        }
        avatar = { key, url, fields };
      },
    },
    {
      name: 'upload',
      title: 'the avatar uploads to S3 with the presigned POST',
      run: async () => {
        const form = new FormData();
        for (const [name, value] of Object.entries(avatar!.fields)) form.append(name, value);
        form.append('file', new Blob([smokePng], { type: 'image/png' }), 'smoke.png');
        const response = await call('POST', avatar!.url, { form });
        check(response.status === 204 || response.status === 201 || response.status === 200, `S3 answered ${response.status}`);
      },
    },
    {
      name: 'patch-photo',
      title: 'PATCH /profile/me sets photoKey',
      run: async () => {
        const response = await api('PATCH', '/profile/me', { json: { photoKey: avatar!.key }, token: session!.token });
        expectStatus(response, 200, 'patch');
        check(response.body.photoKey === avatar!.key, 'the profile did not take the photo key');
      },
    },
    {
      name: 'photo-served',
      title: 'the profile shows the photo and photoUrl serves its bytes',
      run: async () => {
        const me = await api('GET', '/profile/me', { token: session!.token });
        expectStatus(me, 200, 'profile');
        check(me.body.photoKey === avatar!.key, 'the profile lost the photo key');
        check(typeof me.body.photoUrl === 'string', 'the profile has no photoUrl');
        const photo = await call('GET', me.body.photoUrl);
        check(photo.status === 200, `photoUrl answered ${photo.status}`);
        check(photo.bytes.equals(smokePng), `photoUrl served ${photo.bytes.length} bytes that are not the upload`);
      },
    },
    {
      name: 'forbidden-key',
      title: "another user's photo key is refused with 403",
      run: async () => {
        const foreign = `avatar/00000000-0000-4000-8000-000000000000/${avatar!.key.split('/').pop()}`;
        const response = await api('PATCH', '/profile/me', { json: { photoKey: foreign }, token: session!.token });
        expectStatus(response, 403, 'patch with a foreign key');
        check(response.body?.error?.code === 'forbidden_photo_key', `error code ${response.body?.error?.code}`);
      },
    },
  ];
  const cleanup: Step = {
    name: 'cleanup',
    title: options.keep ? 'the smoke user is kept (--keep)' : 'DELETE /profile/me removes the smoke user',
    run: async () => {
      if (options.keep) return;
      expectStatus(await api('DELETE', '/profile/me', { token: session!.token }), 204, 'delete');
      expectStatus(await api('GET', '/profile/me', { token: session!.token }), 401, 'profile after delete');
    },
  };

  const started = Date.now();
  const results: StepResult[] = [];
  const record = (result: StepResult) => {
    const rounded = { ...result, durationMs: roundMs(result.durationMs) };
    results.push(rounded);
    options.onStep?.(rounded);
  };
  const runStep = async (step: Step): Promise<boolean> => {
    exchange = undefined;
    const failedExchange = () => exchange as Exchange | undefined;
    const t0 = performance.now();
    try {
      await step.run();
      record({ name: step.name, title: step.title, status: 'passed', durationMs: performance.now() - t0 });
      return true;
    } catch (error) {
      const message = error instanceof StepFailure ? error.message : `unexpected error: ${(error as Error).message}`;
      record({
        name: step.name,
        title: step.title,
        status: 'failed',
        durationMs: performance.now() - t0,
        message: redactor.text(message),
        ...(failedExchange() && { exchange: redactor.value(failedExchange()) }),
      });
      return false;
    }
  };

  let failed = false;
  for (const step of steps) {
    if (failed || options.signal?.aborted) {
      record({ name: step.name, title: step.title, status: 'skipped', durationMs: 0, ...(!failed && { message: 'interrupted' }) });
      continue;
    }
    failed = !(await runStep(step));
  }
  if (session) {
    if (!(await runStep(cleanup))) failed = true;
  } else {
    record({ name: cleanup.name, title: cleanup.title, status: 'skipped', durationMs: 0 });
  }

  return {
    target: base,
    startedAt: new Date(started).toISOString(),
    durationMs: roundMs(Date.now() - started),
    passed: !failed && !options.signal?.aborted,
    ...(options.signal?.aborted && { interrupted: true }),
    steps: results,
  };
}

function describeNetworkError(error: unknown, url: string, timeoutMs: number): string {
  const origin = new URL(url).origin;
  const err = error as { name?: string; code?: string; cause?: { code?: string }; message?: string };
  const code = err.code ?? err.cause?.code;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer from ${origin} within ${timeoutMs} ms`;
  if (code === 'ECONNREFUSED') return `could not connect to ${origin}: connection refused (is the API running there?)`;
  if (code === 'ENOTFOUND') return `could not resolve ${new URL(url).hostname}`;
  return `request to ${origin} failed: ${code ?? err.message ?? String(error)}`;
}
