import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemorySecretSource } from '../../testing/fakes.js';
import { RecordingLog } from '../../testing/harness.js';
import { parseTwilioCredentials, TwilioVerifySender } from './verify.js';

const credentials = {
  accountSid: `AC${'a'.repeat(32)}`,
  authToken: 'b'.repeat(32),
  verifyServiceSid: `VA${'c'.repeat(32)}`,
};

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  form: URLSearchParams;
}

type Answer = { status: number; body?: unknown; delayMs?: number };

/** A local stand-in for verify.twilio.com: records requests, answers what the test queued. */
class FakeTwilio {
  readonly requests: Recorded[] = [];
  answers: Answer[] = [];
  private server: Server | undefined;
  url = '';

  async start() {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop() {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(request: IncomingMessage, response: ServerResponse) {
    let text = '';
    for await (const chunk of request) text += chunk;
    this.requests.push({
      method: request.method!,
      url: request.url!,
      authorization: request.headers.authorization,
      contentType: request.headers['content-type'],
      form: new URLSearchParams(text),
    });
    const answer = this.answers.shift() ?? { status: 500 };
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (response.destroyed) return;
    response.writeHead(answer.status, { 'content-type': 'application/json' });
    response.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
  }
}

const twilioError = (status: number, code: number, message: string) => ({
  status,
  body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
});

describe('Twilio Verify over fetch', () => {
  const twilio = new FakeTwilio();
  const secrets = new MemorySecretSource();
  let log: RecordingLog;
  let sender: TwilioVerifySender;

  beforeAll(async () => {
    await twilio.start();
    secrets.set('twilio', credentials);
  });
  afterAll(async () => {
    await twilio.stop();
  });
  beforeEach(() => {
    twilio.requests.length = 0;
    twilio.answers = [];
    log = new RecordingLog();
    sender = new TwilioVerifySender(secrets, log, { baseUrl: twilio.url, timeoutMs: 300 });
  });

  it('starts a verification with basic auth and a form body', async () => {
    twilio.answers.push({ status: 201, body: { sid: 'VE1', status: 'pending' } });
    await sender.send('+14155550123');
    const [request] = twilio.requests;
    expect(request).toMatchObject({
      method: 'POST',
      url: `/v2/Services/${credentials.verifyServiceSid}/Verifications`,
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(request!.authorization).toBe(
      `Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64')}`,
    );
    expect(Object.fromEntries(request!.form)).toEqual({ To: '+14155550123', Channel: 'sms' });
  });

  it('approves only on status "approved"', async () => {
    twilio.answers.push(
      { status: 200, body: { status: 'approved', valid: true } },
      { status: 200, body: { status: 'pending', valid: false } },
      { status: 200, body: { status: 'canceled', valid: false } },
      { status: 200, body: { valid: true } },
    );
    expect(await sender.check('+14155550123', '123456')).toBe('approved');
    expect(await sender.check('+14155550123', '000000')).toBe('rejected');
    expect(await sender.check('+14155550123', '000000')).toBe('rejected');
    expect(await sender.check('+14155550123', '000000')).toBe('rejected');
    expect(twilio.requests[0]!.url).toBe(`/v2/Services/${credentials.verifyServiceSid}/VerificationCheck`);
    expect(Object.fromEntries(twilio.requests[0]!.form)).toEqual({ To: '+14155550123', Code: '123456' });
  });

  it('treats a 404 check (expired, used or exhausted verification) as a wrong code', async () => {
    twilio.answers.push(twilioError(404, 20404, 'The requested resource was not found'));
    expect(await sender.check('+14155550123', '123456')).toBe('rejected');
  });

  it.each([
    ['send', 60200, 400, 400, 'invalid_phone'],
    ['send', 60205, 400, 400, 'invalid_phone'],
    ['send', 60605, 403, 400, 'invalid_phone'],
    ['send', 60410, 403, 400, 'invalid_phone'],
    ['send', 60203, 429, 429, 'rate_limited'],
    ['send', 60212, 429, 429, 'rate_limited'],
    ['check', 60202, 429, 429, 'too_many_attempts'],
    ['send', 20003, 401, 502, 'otp_provider_unavailable'],
    ['send', 20429, 429, 502, 'otp_provider_unavailable'],
    ['check', 20500, 500, 502, 'otp_provider_unavailable'],
    ['send', 20503, 503, 502, 'otp_provider_unavailable'],
  ] as const)('maps %s error %i (HTTP %i) to %i %s', async (operation, code, status, ourStatus, ourCode) => {
    twilio.answers.push(twilioError(status, code, 'from twilio'));
    const call = operation === 'send' ? sender.send('+14155550123') : sender.check('+14155550123', '123456');
    await expect(call).rejects.toMatchObject({ statusCode: ourStatus, code: ourCode });
  });

  it('gives Twilio\'s send limit a Retry-After', async () => {
    twilio.answers.push(twilioError(429, 60203, 'Max send attempts reached'));
    await expect(sender.send('+14155550123')).rejects.toMatchObject({ headers: { 'retry-after': '600' } });
  });

  it('answers 502 when Twilio returns a non-JSON error page', async () => {
    twilio.answers.push({ status: 502, body: undefined });
    await expect(sender.send('+14155550123')).rejects.toMatchObject({ statusCode: 502 });
  });

  it('answers 502 when Twilio is too slow', async () => {
    twilio.answers.push({ status: 201, body: {}, delayMs: 1000 });
    await expect(sender.send('+14155550123')).rejects.toMatchObject({ statusCode: 502, code: 'otp_provider_unavailable' });
  });

  it('answers 502 when nothing listens', async () => {
    const closed = new TwilioVerifySender(secrets, log, { baseUrl: 'http://127.0.0.1:9', timeoutMs: 300 });
    await expect(closed.send('+14155550123')).rejects.toMatchObject({ statusCode: 502 });
  });

  it('answers 502 when the credentials secret is missing or malformed', async () => {
    const empty = new MemorySecretSource();
    await expect(new TwilioVerifySender(empty, log, { baseUrl: twilio.url }).send('+14155550123')).rejects.toMatchObject({
      statusCode: 502,
    });
    empty.set('twilio', { ...credentials, accountSid: 'nope' });
    await expect(new TwilioVerifySender(empty, log, { baseUrl: twilio.url }).send('+14155550123')).rejects.toMatchObject({
      statusCode: 502,
    });
    expect(twilio.requests).toHaveLength(0);
  });

  it('never logs the auth token, the code or the full number', async () => {
    twilio.answers.push(twilioError(401, 20003, 'Authenticate'));
    await sender.check('+14155550123', '987654').catch(() => undefined);
    const logged = JSON.stringify(log.lines);
    expect(logged).toContain('20003');
    expect(logged).not.toContain(credentials.authToken);
    expect(logged).not.toContain('987654');
    expect(logged).not.toContain('+14155550123');
  });

  it('validates credentials field by field', () => {
    expect(parseTwilioCredentials(JSON.stringify(credentials))).toEqual(credentials);
    expect(() => parseTwilioCredentials('{')).toThrow(/not valid JSON/);
    expect(() => parseTwilioCredentials(JSON.stringify({ ...credentials, authToken: 'x' }))).toThrow(/authToken/);
    expect(() => parseTwilioCredentials(JSON.stringify({ ...credentials, verifyServiceSid: 'MG1' }))).toThrow(
      /verifyServiceSid/,
    );
  });
});

describe('the API with Twilio Verify behind it', () => {
  const twilio = new FakeTwilio();
  let service: import('../../testing/harness.js').TestService;

  beforeAll(async () => {
    await twilio.start();
    const secrets = new MemorySecretSource();
    secrets.set('twilio', credentials);
    const { startTestService } = await import('../../testing/harness.js');
    service = await startTestService({
      otpSender: new TwilioVerifySender(secrets, new RecordingLog(), { baseUrl: twilio.url, timeoutMs: 300 }),
    });
  });
  afterAll(async () => {
    await service?.close();
    await twilio.stop();
  });

  it('logs in when Twilio approves, and answers 502 (never 500) when it is down', async () => {
    twilio.answers.push({ status: 201, body: { status: 'pending' } }, { status: 200, body: { status: 'approved' } });
    expect((await service.call('sendOtp', { body: { phone: '+14155550111' } })).status).toBe(200);
    const login = await service.call('verifyOtp', { body: { phone: '+14155550111', code: '123456' } });
    expect(login.status).toBe(200);

    twilio.answers.push({ status: 503, body: { code: 20503, message: 'Service unavailable' } });
    const down = await service.call('sendOtp', { body: { phone: '+14155550112' } });
    expect(down.status).toBe(502);
    expect(down.body.error.code).toBe('otp_provider_unavailable');
    expect(JSON.stringify(down.body)).not.toContain('20503');
  });
});
