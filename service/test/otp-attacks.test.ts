/**
 * The OTP login under attack, against dynalite: other spellings of one number, parallel guesses
 * against a slow provider, brute force of a test number, and a stranger trying to lock a phone out.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwilioVerifySender } from '../adapters/twilio/verify.js';
import type { OtpCheckResult, OtpSender } from '../core/ports.js';
import { FakeTwilio, twilioCredentials, type Answer, type Recorded } from '../testing/fake-twilio.js';
import { MemorySecretSource } from '../testing/fakes.js';
import { randomIp, RecordingLog, startTestService, testPhone, type TestService } from '../testing/harness.js';

const wrongCodeFor = (right: string) => (right === '000000' ? '111111' : '000000');

/** Starts the fake Twilio with `answer`, and the service sending through it with the real adapter. */
async function startWithTwilio(twilio: FakeTwilio, answer: (request: Recorded) => Answer): Promise<TestService> {
  await twilio.start();
  twilio.otherwise = answer;
  const secrets = new MemorySecretSource();
  secrets.set('twilio', twilioCredentials);
  return startTestService({
    otpSender: new TwilioVerifySender(secrets, new RecordingLog(), { baseUrl: twilio.url, timeoutMs: 5000 }),
  });
}

describe('one canonical phone', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  // [a spelling with a national trunk prefix after the country code, the canonical E.164]
  const spellings = [
    ['US', '+114155550330', '+14155550330'],
    ['UK', '+4407911123456', '+447911123456'],
    ['FR', '+330612345678', '+33612345678'],
    ['DE', '+4901701234567', '+491701234567'],
    ['AU', '+610412345678', '+61412345678'],
    ['JP', '+8109012345678', '+819012345678'],
    ['IN', '+9109876543210', '+919876543210'],
    ['BR', '+55011987654321', '+5511987654321'],
  ] as const;

  it.each(spellings)('%s: %s and %s are one user, answered in canonical form', async (_country, trunk, canonical) => {
    expect((await service.call('sendOtp', { body: { phone: trunk } })).status).toBe(200);
    // The code went to the canonical number, and a resend under the other spelling is the same phone's.
    const code = service.outbox.latest(canonical)?.code;
    expect(code).toMatch(/^\d{6}$/);
    const resend = await service.call('sendOtp', { body: { phone: canonical } });
    expect(resend.status).toBe(429);
    const first = await service.call('verifyOtp', { body: { phone: canonical, code } });
    expect(first.status).toBe(200);
    expect(first.body.user.phone).toBe(canonical);

    service.clock.advance(31_000);
    expect((await service.call('sendOtp', { body: { phone: canonical } })).status).toBe(200);
    const second = await service.call('verifyOtp', {
      body: { phone: trunk, code: service.outbox.latest(canonical)?.code },
    });
    expect(second.status).toBe(200);
    expect(second.body.user).toMatchObject({ id: first.body.user.id, phone: canonical });
    expect((await service.scanAll()).filter((item) => item.pk === `phone#${trunk}`)).toEqual([]);
  });

  it('refuses what does not normalise to a valid number', async () => {
    for (const phone of ['+1114155550330', '+15555550123', '+61040412345', '+440', '+4407911123456789']) {
      const response = await service.call('sendOtp', { body: { phone } });
      expect({ phone, status: response.status, code: response.body.error.code }).toEqual({
        phone,
        status: 400,
        code: 'invalid_phone',
      });
    }
  });
});

describe('wrong codes against a slow provider', () => {
  const twilio = new FakeTwilio();
  let service: TestService;
  const phone = '+14155550142';

  beforeAll(async () => {
    // Twilio Verify, slowly: every check takes 300 ms and finds the code wrong.
    service = await startWithTwilio(twilio, (request) =>
      request.url.endsWith('/VerificationCheck')
        ? { status: 200, body: { status: 'pending', valid: false }, delayMs: 300 }
        : { status: 201, body: { status: 'pending' } },
    );
  });
  afterAll(async () => {
    await service?.close();
    await twilio.stop();
  });

  it('checks at most 5 of 40 parallel guesses with the provider', async () => {
    expect((await service.call('sendOtp', { body: { phone } })).status).toBe(200);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, n) =>
        service.call('verifyOtp', { body: { phone, code: String(100000 + n) }, ip: randomIp() }),
      ),
    );
    const checks = twilio.requests.filter((request) => request.url.endsWith('/VerificationCheck'));
    expect(checks.length).toBeLessThanOrEqual(5);
    expect(answers.filter((answer) => answer.status === 401)).toHaveLength(checks.length);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(40 - checks.length);
    expect(new Set(answers.filter((a) => a.status === 429).map((a) => a.body.error.code))).toEqual(
      new Set(['too_many_attempts']),
    );
  });
});

describe('sends the provider refuses', () => {
  const twilio = new FakeTwilio();
  let service: TestService;
  let refuseSends = false;

  beforeAll(async () => {
    // Twilio Verify caps sends per verification at 5 (60203) and will not text some numbers (60205).
    service = await startWithTwilio(twilio, (request) => {
      if (request.url.endsWith('/Verifications') && refuseSends) {
        return { status: 429, body: { code: 60203, message: 'Max send attempts reached', status: 429 } };
      }
      if (request.url.endsWith('/Verifications') && request.form.get('To') === '+14155550143') {
        return { status: 400, body: { code: 60205, message: 'SMS is not supported by landline phone number', status: 400 } };
      }
      return { status: 201, body: { status: 'pending' } };
    });
  });
  afterAll(async () => {
    await service?.close();
    await twilio.stop();
  });

  const sendsToTwilio = (phone: string) =>
    twilio.requests.filter((request) => request.url.endsWith('/Verifications') && request.form.get('To') === phone).length;

  it('spend no share and fill no ceiling, but hold the cooldown, so Twilio is asked at most once per 30 s', async () => {
    const phone = testPhone();
    const attacker = '10.69.0.1';
    expect((await service.call('sendOtp', { body: { phone }, ip: attacker })).status).toBe(200);
    service.clock.advance(31_000);
    // Twilio's own cap is reached (two sources can reach its 5 before our 3 each).
    refuseSends = true;
    try {
      const refused = await Promise.all(Array.from({ length: 10 }, (_, i) => service.call('sendOtp', { body: { phone }, ip: `10.69.0.${i + 1}` })));
      expect(refused.map((answer) => answer.status)).toEqual(Array(10).fill(429));
      expect(sendsToTwilio(phone)).toBe(2);
      // An owner meets our cooldown for at most its 30 s; Twilio would refuse them too.
      const owner = await service.call('sendOtp', { body: { phone }, ip: '10.79.0.1' });
      expect(owner.status).toBe(429);
      expect(Number(owner.headers['retry-after'])).toBeLessThanOrEqual(30);
      expect(sendsToTwilio(phone)).toBe(2);
    } finally {
      refuseSends = false;
    }
    // Twilio's verification has ended: the owner's send goes through after the cooldown, and the
    // attacker kept its share of 3.
    service.clock.advance(31_000);
    expect((await service.call('sendOtp', { body: { phone }, ip: '10.79.0.1' })).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      service.clock.advance(31_000);
      expect((await service.call('sendOtp', { body: { phone }, ip: attacker })).status).toBe(200);
    }
    service.clock.advance(31_000);
    expect((await service.call('sendOtp', { body: { phone }, ip: attacker })).status).toBe(429);
  });

  it('a number Twilio will not text answers 400, asks Twilio once per cooldown, and never reaches the ceiling', async () => {
    const landline = '+14155550143';
    for (let round = 0; round < 12; round++) {
      const answers = await Promise.all(
        [1, 2, 3].map((n) => service.call('sendOtp', { body: { phone: landline }, ip: `10.69.${round + 1}.${n}` })),
      );
      // One of the three reaches Twilio and hears 400; the cooldown it holds refuses the other two.
      expect(answers.map((answer) => answer.status).sort()).toEqual([400, 429, 429]);
      expect(answers.find((answer) => answer.status === 400)!.body.error.code).toBe('invalid_phone');
      expect(sendsToTwilio(landline)).toBe(round + 1);
      service.clock.advance(31_000);
    }
  });
});

describe('a send during the owner\'s check', () => {
  const twilio = new FakeTwilio();
  let service: TestService;
  let checkStarted: () => void = () => {};

  beforeAll(async () => {
    // Twilio Verify resends the pending code; a check approves it after 300 ms.
    service = await startWithTwilio(twilio, (request) => {
      if (!request.url.endsWith('/VerificationCheck')) return { status: 201, body: { status: 'pending' } };
      checkStarted();
      return { status: 200, body: { status: 'approved', valid: true }, delayMs: 300 };
    });
  });
  afterAll(async () => {
    await service?.close();
    await twilio.stop();
  });

  it('leaves the owner\'s right code signing in', async () => {
    const phone = testPhone();
    expect((await service.call('sendOtp', { body: { phone }, ip: '10.68.0.1' })).status).toBe(200);
    service.clock.advance(31_000);
    const checking = new Promise<void>((resolve) => (checkStarted = resolve));
    const verified = service.call('verifyOtp', { body: { phone, code: '123456' }, ip: '10.78.0.9' });
    await checking;
    // A stranger's resend lands while Twilio checks the owner's code: the same verification, the same code.
    expect((await service.call('sendOtp', { body: { phone }, ip: '10.68.0.2' })).status).toBe(200);
    expect((await verified).status).toBe(200);
    // The code is used: it signs in once.
    expect((await service.call('verifyOtp', { body: { phone, code: '123456' }, ip: '10.78.0.9' })).status).toBe(401);
  });
});

describe('test numbers under brute force', () => {
  const phone = testPhone();
  const code = '482915';
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({
      settings: { allowTestNumbers: true },
      secrets: (generated) => ({
        ...generated,
        'test-numbers': [{ phone, code, expiresAt: '2099-01-01T00:00:00Z' }],
      }),
    });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('keep the wrong-code limit across sends: rounds of send + 40 parallel guesses check at most 5', async () => {
    let checked = 0;
    for (let round = 0; round < 4; round++) {
      expect((await service.call('sendOtp', { body: { phone } })).status).toBe(200);
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, n) =>
          service.call('verifyOtp', { body: { phone, code: String(100000 + round * 40 + n) }, ip: randomIp() }),
        ),
      );
      checked += answers.filter((answer) => answer.status === 401).length;
      expect(answers.every((answer) => answer.status === 401 || answer.status === 429)).toBe(true);
    }
    expect(checked).toBe(5);
    // Even the right code waits for the window to end; a new send does not reopen it.
    expect((await service.call('sendOtp', { body: { phone } })).status).toBe(200);
    expect((await service.call('verifyOtp', { body: { phone, code } })).status).toBe(429);
    service.clock.advance(10 * 60 * 1000 + 1);
    expect((await service.call('sendOtp', { body: { phone } })).status).toBe(200);
    expect((await service.call('verifyOtp', { body: { phone, code } })).status).toBe(200);
  });
});

describe('a stranger cannot lock a phone out', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('answers 200 or 429, never a 5xx, when many sources send first for one phone at the same moment', async () => {
    // Refused per-source updates read the counter to say why; the function's grants must allow it.
    const phone = testPhone();
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => service.call('sendOtp', { body: { phone }, ip: `10.88.0.${i + 1}` })),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
  });

  it('a resend after the cooldown gives one address no more than its share of attempts', async () => {
    const phone = testPhone();
    const attacker = '10.67.0.1';
    const guess = (code: string) => service.call('verifyOtp', { body: { phone, code }, ip: attacker });
    expect((await service.call('sendOtp', { body: { phone }, ip: attacker })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await guess(String(300000 + i))).status).toBe(401);
    service.clock.advance(31_000);
    expect((await service.call('sendOtp', { body: { phone }, ip: attacker })).status).toBe(200);
    // Before, the resend gave this address 3 more checks of the same Twilio verification.
    for (let i = 0; i < 3; i++) expect((await guess(String(310000 + i))).status).toBe(429);
    const owner = '10.78.0.1';
    const verified = await service.call('verifyOtp', { body: { phone, code: service.outbox.latest(phone)?.code }, ip: owner });
    expect(verified.status).toBe(200);
  });

  it('after 5 sends and 5 wrong codes from one address, the owner signs in from another within 30 s', async () => {
    const phone = testPhone();
    const attacker = '10.66.0.1';
    for (let send = 0; send < 5; send++) {
      await service.call('sendOtp', { body: { phone }, ip: attacker });
      service.clock.advance(31_000);
    }
    for (let guess = 0; guess < 5; guess++) {
      await service.call('verifyOtp', { body: { phone, code: String(200000 + guess) }, ip: attacker });
    }
    // The attacker's last refused attempts must not have opened a window the owner waits on.
    const owner = '10.77.0.1';
    const sent = await service.call('sendOtp', { body: { phone }, ip: owner });
    expect(sent.status).toBe(200);
    const verified = await service.call('verifyOtp', {
      body: { phone, code: service.outbox.latest(phone)?.code },
      ip: owner,
    });
    expect(verified.status).toBe(200);
  });

  it('waits out an attacker\'s fresh send for at most the 30-s cooldown, even under hammering', async () => {
    const phone = testPhone();
    const attacker = '10.66.0.2';
    for (let send = 0; send < 20; send++) await service.call('sendOtp', { body: { phone }, ip: attacker });
    const owner = '10.77.0.2';
    const early = await service.call('sendOtp', { body: { phone }, ip: owner });
    expect(early.status).toBe(429);
    expect(Number(early.headers['retry-after'])).toBeLessThanOrEqual(30);
    service.clock.advance(30_000);
    expect((await service.call('sendOtp', { body: { phone }, ip: owner })).status).toBe(200);
    const right = service.outbox.latest(phone)!.code;
    for (let guess = 0; guess < 20; guess++) {
      await service.call('verifyOtp', { body: { phone, code: wrongCodeFor(right) }, ip: attacker });
    }
    expect((await service.call('verifyOtp', { body: { phone, code: right }, ip: owner })).status).toBe(200);
  });

  it('an address over its per-IP limit, flooding a number, never holds its cooldown against the owner', async () => {
    const attacker = '10.66.0.3';
    for (let i = 0; i < 30; i++) expect((await service.call('sendOtp', { body: { phone: testPhone() }, ip: attacker })).status).toBe(200);
    // The flood follows whichever number the owner is about to use; every answer it gets is a 429.
    let victim = testPhone();
    let flooding = true;
    const floodAnswers: number[] = [];
    const flood = async () => {
      while (flooding) floodAnswers.push((await service.call('sendOtp', { body: { phone: victim }, ip: attacker })).status);
    };
    const floods = [flood(), flood(), flood(), flood()];
    await expect.poll(() => floodAnswers.length).toBeGreaterThan(0);
    const owner: number[] = [];
    try {
      for (let i = 0; i < 12; i++) {
        victim = testPhone();
        await new Promise((resolve) => setTimeout(resolve, 5));
        owner.push((await service.call('sendOtp', { body: { phone: victim }, ip: `10.77.1.${i + 1}` })).status);
      }
    } finally {
      flooding = false;
      await Promise.all(floods);
    }
    // Before, each refused send was counted on the number and then taken back: the owner, arriving
    // between the two writes, met the attacker's cooldown nearly every time.
    expect(owner).toEqual(Array(12).fill(200));
    expect(floodAnswers.length).toBeGreaterThan(12);
    expect(new Set(floodAnswers)).toEqual(new Set([429]));
  });

  it('counts the addresses of one IPv6 /64 as one source: its share of sends and of a code\'s attempts', async () => {
    const phone = testPhone();
    const address = (n: number) => `2001:db8:77:1::${n.toString(16)}`;
    for (let n = 1; n <= 3; n++) {
      expect((await service.call('sendOtp', { body: { phone }, ip: address(n) })).status).toBe(200);
      service.clock.advance(31_000);
    }
    expect((await service.call('sendOtp', { body: { phone }, ip: address(4) })).status).toBe(429);
    const guesses = [];
    for (let n = 10; n < 16; n++) guesses.push((await service.call('verifyOtp', { body: { phone, code: '000000' }, ip: address(n) })).status);
    expect(guesses).toEqual([401, 401, 401, 429, 429, 429]);
    const verified = await service.call('verifyOtp', { body: { phone, code: service.outbox.latest(phone)?.code }, ip: '2001:db8:78:1::1' });
    expect(verified.status).toBe(200);
  });

  it('holds sends from many addresses to the per-phone ceiling of 10 an hour', async () => {
    const phone = testPhone();
    const statuses: number[] = [];
    for (let address = 0; address < 5; address++) {
      for (let send = 0; send < 3; send++) {
        statuses.push((await service.call('sendOtp', { body: { phone }, ip: `10.88.0.${address}` })).status);
        service.clock.advance(31_000);
      }
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    const over = await service.call('sendOtp', { body: { phone }, ip: '10.88.1.1' });
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(2000);
  });
});

/** Approves the right code every time (not single use), so only our store can stop a second login. */
class SlowCountingSender implements OtpSender {
  checks = 0;
  readonly right = '314159';
  delays: number[] = [];
  async send(): Promise<void> {}
  async check(_phone: string, code: string): Promise<OtpCheckResult> {
    this.checks += 1;
    const delay = this.delays[this.checks % Math.max(this.delays.length, 1)] ?? 0;
    await new Promise((resolve) => setTimeout(resolve, delay));
    return code === this.right ? 'approved' : 'rejected';
  }
}

describe('any interleaving of concurrent verify calls on one challenge', () => {
  const sender = new SlowCountingSender();
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({ otpSender: sender });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('checks at most 5 codes and signs in at most once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ right: fc.boolean(), startAfterMs: fc.integer({ min: 0, max: 15 }) }), {
          minLength: 1,
          maxLength: 25,
        }),
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 8 }),
        async (callers, delays) => {
          const phone = testPhone();
          expect((await service.call('sendOtp', { body: { phone } })).status).toBe(200);
          sender.checks = 0;
          sender.delays = delays;
          const answers = await Promise.all(
            callers.map(async ({ right, startAfterMs }) => {
              await new Promise((resolve) => setTimeout(resolve, startAfterMs));
              return service.call('verifyOtp', {
                body: { phone, code: right ? sender.right : '271828' },
                ip: randomIp(),
              });
            }),
          );
          expect(sender.checks).toBeLessThanOrEqual(5);
          expect(answers.filter((answer) => answer.status === 200).length).toBeLessThanOrEqual(1);
          expect(answers.every((answer) => [200, 401, 429].includes(answer.status))).toBe(true);
        },
      ),
      { numRuns: 20 },
    );
  });
});
