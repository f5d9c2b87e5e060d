import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemorySecretSource } from '../../testing/fakes.js';
import { FakeTwilio, twilioCredentials as credentials } from '../../testing/fake-twilio.js';
import { RecordingLog } from '../../testing/harness.js';
import { parseTwilioCredentials, TwilioVerifySender } from './verify.js';


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
    ['send', 21211, 400, 400, 'invalid_phone'],
    ['send', 21408, 400, 400, 'invalid_phone'],
    ['send', 21614, 400, 400, 'invalid_phone'],
    ['check', 60200, 400, 400, 'invalid_phone'],
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

  // Twilio's own wording, which quotes the number in several spellings.
  const mappedAnswers = [
    [400, 60200, "Invalid parameter `To`: +14155550177"],
    [400, 21211, "The 'To' number +14155550177 is not a valid phone number."],
    [400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +14155550177."],
    [400, 21614, "'To' number 14155550177 is not a valid mobile number"],
    [400, 60205, 'SMS is not supported by landline phone number +1 415 555 0177'],
    [403, 60410, 'Verification delivery attempt blocked for +1-415-555-0177'],
    [403, 60605, 'Verification delivery to +14155550177 is not allowed'],
    [429, 60203, 'Max send attempts reached for +14155550177'],
    [429, 60212, 'Too many concurrent requests for phone number +14155550177'],
    [429, 60202, 'Max check attempts reached for +14155550177'],
    [401, 20003, 'Authenticate +14155550177'],
    [429, 20429, 'Too Many Requests +14155550177'],
    [500, 20500, 'Internal Server Error for To=%2B14155550177'],
    [503, 20503, 'Service unavailable +14155550177'],
  ] as const;

  it('logs no answer with the full number, whichever way Twilio spells it, nor the code', async () => {
    const phone = '+14155550177';
    for (const [status, code, message] of mappedAnswers) {
      twilio.answers.push(twilioError(status, code, message), twilioError(status, code, message));
      await sender.send(phone).catch(() => undefined);
      await sender.check(phone, '246810').catch(() => undefined);
    }
    const logged = JSON.stringify(log.lines);
    expect(logged).toContain('+1415•••0177');
    for (const spelling of ['14155550177', '415 555 0177', '415-555-0177', '4155550177', '246810', credentials.authToken]) {
      expect(logged).not.toContain(spelling);
    }
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
