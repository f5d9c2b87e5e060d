import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SandboxOtpSender, type OutboxMessage } from '../../adapters/otp/outbox.js';
import { FileSecretSource } from '../../adapters/secrets/file.js';
import { TwilioVerifySender } from '../../adapters/twilio/verify.js';
import { systemClock } from '../../core/ports.js';
import { MemorySecretSource } from '../../testing/fakes.js';
import { RecordingLog } from '../../testing/harness.js';
import { initialDocument, writeSecretsDocument, type SecretsDocument } from '../secrets-file.js';
import type { FrontCall } from './front-call.js';
import { rawRequest } from './raw-http.js';
import { maxCheckAttempts, startTwilioFront, type TwilioFront } from './twilio-front.js';

interface TwilioSecret {
  readonly accountSid: string;
  readonly authToken: string;
  readonly verifyServiceSid: string;
}

describe('the sandbox Twilio Verify answers the adapter as Twilio does', () => {
  let directory: string;
  let secretsPath: string;
  let front: TwilioFront;
  let document: SecretsDocument;
  let credentials: TwilioSecret;
  const printed: OutboxMessage[] = [];
  const outbox = new SandboxOtpSender(systemClock, { onSend: (message) => printed.push(message) });
  const calls: FrontCall[] = [];
  let log: RecordingLog;
  let sender: TwilioVerifySender;
  let phoneCounter = 100;
  const newPhone = () => `+1415555${String(phoneCounter++).padStart(4, '0')}`;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'chatshyld-twilio-front-'));
    secretsPath = join(directory, 'secrets.json');
    front = await startTwilioFront({ sender: outbox, secretsPath, onCall: (call) => void calls.push(call) });
  });
  beforeEach(async () => {
    document = initialDocument(new Date());
    credentials = document.secrets.twilio as TwilioSecret;
    await writeSecretsDocument(secretsPath, document);
    log = new RecordingLog();
    // The function's reader of the same file (in the sandbox, through the SSM front), never cached here.
    sender = new TwilioVerifySender(new FileSecretSource(secretsPath, systemClock, 0), log, { baseUrl: front.endpoint, timeoutMs: 5000 });
  });
  afterAll(async () => {
    await front?.close();
    await rm(directory, { recursive: true, force: true });
  });

  const post = (resource: string, form: Record<string, string>, secret: Partial<TwilioSecret> = {}, headers: Record<string, string> = {}) => {
    const { accountSid, authToken, verifyServiceSid } = { ...credentials, ...secret };
    return rawRequest(
      front.endpoint,
      {
        host: new URL(front.endpoint).host,
        authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        ...headers,
      },
      new URLSearchParams(form).toString(),
      'POST',
      `/v2/Services/${verifyServiceSid}/${resource}`,
    );
  };

  it('sends a code through the outbox and approves it once, with the first file’s own credentials', async () => {
    const phone = newPhone();
    await sender.send(phone);
    const message = outbox.latest(phone)!;
    expect(message.code).toMatch(/^\d{6}$/);
    expect(printed.at(-1)).toEqual(message);
    expect(calls.at(-1)).toEqual({ service: 'twilio', action: 'Verifications' });
    expect(await sender.check(phone, message.code)).toBe('approved');
    expect(calls.at(-1)).toEqual({ service: 'twilio', action: 'VerificationCheck' });
    // Single use: the verification is gone, and Twilio answers 404, which the adapter reads as a wrong code.
    expect(await sender.check(phone, message.code)).toBe('rejected');
    expect(outbox.latest(phone)).toBeUndefined();
  });

  it('answers in Twilio’s shapes: 201 pending, 200 pending for a wrong code, 200 approved, then 404 20404', async () => {
    const phone = newPhone();
    const started = await post('Verifications', { To: phone, Channel: 'sms' });
    expect(started.status).toBe(201);
    expect(JSON.parse(started.body)).toMatchObject({
      sid: expect.stringMatching(/^VE[0-9a-f]{32}$/),
      service_sid: credentials.verifyServiceSid,
      account_sid: credentials.accountSid,
      to: phone,
      channel: 'sms',
      status: 'pending',
      valid: false,
    });
    const { code } = outbox.latest(phone)!;
    const wrong = await post('VerificationCheck', { To: phone, Code: code === '000000' ? '111111' : '000000' });
    expect([wrong.status, JSON.parse(wrong.body)]).toEqual([200, expect.objectContaining({ status: 'pending', valid: false, sid: JSON.parse(started.body).sid })]);
    const right = await post('VerificationCheck', { To: phone, Code: code });
    expect([right.status, JSON.parse(right.body)]).toEqual([200, expect.objectContaining({ status: 'approved', valid: true, to: phone })]);
    const again = await post('VerificationCheck', { To: phone, Code: code });
    expect(again.status).toBe(404);
    expect(JSON.parse(again.body)).toEqual({
      code: 20404,
      message: `The requested resource /Services/${credentials.verifyServiceSid}/VerificationCheck was not found`,
      more_info: 'https://www.twilio.com/docs/errors/20404',
      status: 404,
    });
    // A number that was never sent a code.
    expect((await post('VerificationCheck', { To: newPhone(), Code: '123456' })).status).toBe(404);
  });

  it(`stops checking after ${maxCheckAttempts} wrong codes with 60202, which the adapter maps to too_many_attempts`, async () => {
    const phone = newPhone();
    await sender.send(phone);
    const { code } = outbox.latest(phone)!;
    const wrongCode = code === '000000' ? '111111' : '000000';
    for (let attempt = 1; attempt <= maxCheckAttempts; attempt++) expect(await sender.check(phone, wrongCode)).toBe('rejected');
    await expect(sender.check(phone, code)).rejects.toMatchObject({ statusCode: 429, code: 'too_many_attempts' });
    // A new send starts a new verification.
    await sender.send(phone);
    expect(await sender.check(phone, outbox.latest(phone)!.code)).toBe('approved');
  });

  it('refuses other credentials, or none, with Twilio’s 401 20003, and sends nothing', async () => {
    const phone = newPhone();
    const wrongToken = await post('Verifications', { To: phone, Channel: 'sms' }, { authToken: 'f'.repeat(32) });
    expect(wrongToken.status).toBe(401);
    expect(JSON.parse(wrongToken.body)).toEqual({ code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
    expect(wrongToken.headers['www-authenticate']).toBe('Basic realm="Twilio API"');
    expect((await post('Verifications', { To: phone, Channel: 'sms' }, { accountSid: `AC${'0'.repeat(32)}` })).status).toBe(401);
    expect((await post('Verifications', { To: phone, Channel: 'sms' }, {}, { authorization: '' })).status).toBe(401);
    // Through the adapter, with the test fixture's credentials rather than the file's: a 502 for the caller.
    const elsewhere = new MemorySecretSource();
    elsewhere.set('twilio', { accountSid: `AC${'a'.repeat(32)}`, authToken: 'b'.repeat(32), verifyServiceSid: credentials.verifyServiceSid });
    await expect(new TwilioVerifySender(elsewhere, log, { baseUrl: front.endpoint }).send(phone)).rejects.toMatchObject({ statusCode: 502 });
    expect(outbox.latest(phone)).toBeUndefined();
    expect(JSON.stringify(log.lines)).toContain('20003');
  });

  it('sees a changed twilio secret at once: the old token is refused, the new one accepted', async () => {
    const phone = newPhone();
    const old = credentials;
    const rotated = { ...old, authToken: 'e'.repeat(32) };
    await writeSecretsDocument(secretsPath, { ...document, secrets: { ...document.secrets, twilio: rotated } });
    expect((await post('Verifications', { To: phone, Channel: 'sms' }, old)).status).toBe(401);
    await sender.send(phone);
    expect(outbox.latest(phone)).toBeDefined();
  });

  it('answers 404 20404 for another service sid, and 60200 for a number or channel Twilio would not take', async () => {
    const phone = newPhone();
    const otherService = await post('Verifications', { To: phone, Channel: 'sms' }, { verifyServiceSid: `VA${'d'.repeat(32)}` });
    expect([otherService.status, JSON.parse(otherService.body).code]).toEqual([404, 20404]);
    const badNumber = await post('Verifications', { To: '4155550100', Channel: 'sms' });
    expect([badNumber.status, JSON.parse(badNumber.body)]).toEqual([400, expect.objectContaining({ code: 60200, message: 'Invalid parameter `To`: 4155550100' })]);
    expect([(await post('Verifications', { To: phone, Channel: 'pigeon' })).status]).toEqual([400]);
    await expect(sender.send('+0155')).rejects.toMatchObject({ statusCode: 400, code: 'invalid_phone' });
    expect(outbox.latest(phone)).toBeUndefined();
  });

  it('fails as a Twilio outage (500 20500; 502 for the caller) when the file is damaged or holds no twilio secret', async () => {
    const phone = newPhone();
    await writeFile(secretsPath, '{"secrets": ');
    const damaged = await post('Verifications', { To: phone, Channel: 'sms' });
    expect([damaged.status, JSON.parse(damaged.body).code]).toEqual([500, 20500]);
    const { twilio: _dropped, ...rest } = document.secrets;
    await writeSecretsDocument(secretsPath, { secrets: rest });
    expect((await post('Verifications', { To: phone, Channel: 'sms' })).status).toBe(500);
    const fixture = new MemorySecretSource();
    fixture.set('twilio', credentials);
    await expect(new TwilioVerifySender(fixture, log, { baseUrl: front.endpoint }).send(phone)).rejects.toMatchObject({ statusCode: 502 });
    expect(outbox.latest(phone)).toBeUndefined();
  });

  it('serves parallel sends to many numbers, and approves exactly one of parallel checks of one code', async () => {
    const phones = Array.from({ length: 12 }, newPhone);
    await Promise.all(phones.map((phone) => sender.send(phone)));
    const codes = phones.map((phone) => outbox.latest(phone)!.code);
    expect(codes.every((code) => /^\d{6}$/.test(code))).toBe(true);
    const results = await Promise.all(phones.map((phone, n) => sender.check(phone, codes[n]!)));
    expect(results).toEqual(phones.map(() => 'approved'));

    const phone = newPhone();
    await sender.send(phone);
    const { code } = outbox.latest(phone)!;
    const raced = await Promise.all(Array.from({ length: 10 }, () => post('VerificationCheck', { To: phone, Code: code })));
    expect(raced.filter((answer) => answer.status === 200 && JSON.parse(answer.body).status === 'approved')).toHaveLength(1);
    expect(raced.filter((answer) => answer.status === 404)).toHaveLength(9);
  });

  it('refuses, with 403, a request from a web page (Origin) or for another host name', async () => {
    const phone = newPhone();
    const fromPage = await post('Verifications', { To: phone, Channel: 'sms' }, {}, { origin: 'http://127.0.0.1:3000' });
    expect(fromPage.status).toBe(403);
    const rebound = await post('Verifications', { To: phone, Channel: 'sms' }, {}, { host: `twilio.rebind.example:${new URL(front.endpoint).port}` });
    expect(rebound.status).toBe(403);
    expect(outbox.latest(phone)).toBeUndefined();
    expect((await post('Verifications', { To: phone, Channel: 'sms' }, {}, { host: `localhost:${new URL(front.endpoint).port}` })).status).toBe(201);
  });
});
