/**
 * Twilio Verify v2 for the sandbox, as sendOtp's and verifyOtp's bundles call it
 * (service/adapters/twilio/verify.ts, base URL from TWILIO_VERIFY_BASE_URL): the two resources they
 * use, Basic auth with the `twilio` secret of the sandbox's secrets file, and answers in Twilio's
 * shapes, backed by the sandbox's OTP outbox (which makes the 6-digit code, keeps it for the console
 * and `/__sandbox/otp/<phone>`, and prints it).
 *
 * - `POST /v2/Services/{ServiceSid}/Verifications` (`To`, `Channel`): 201 with `status: pending`.
 *   A `To` that is not E.164, or an unknown channel, is 400 with Twilio's 60200.
 * - `POST /v2/Services/{ServiceSid}/VerificationCheck` (`To`, `Code`): 200 with `status: approved`
 *   for the right code (the verification is then gone), `pending` for a wrong one; 404 with 20404
 *   when the number has no pending verification (never sent, expired, already approved); after 5
 *   wrong codes, 429 with 60202, as Twilio limits checks.
 * - Credentials are read from the file on every call, so a changed secret is seen at once; other
 *   credentials (or none) are 401 with 20003, a service sid other than the secret's is 404 20404.
 *
 * Not modelled: Twilio's own send limits (60203) and resending the same code to a pending
 * verification (the outbox makes a new code each time); the service's own limits stand in front.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxOtpSender } from '../../adapters/otp/outbox.js';
import { parseTwilioCredentials, type TwilioCredentials } from '../../adapters/twilio/verify.js';
import { systemClock, type Clock } from '../../core/ports.js';
import { parseSecretsDocument } from '../secrets-file.js';
import { announceCall, type OnFrontCall } from './front-call.js';
import { readBody, startLoopbackServer } from './loopback.js';

export interface TwilioFrontOptions {
  /** The sandbox's outbox: it makes, keeps, prints and checks the codes. */
  readonly sender: SandboxOtpSender;
  /** The sandbox's secrets file, whose `twilio` secret holds the credentials this Twilio accepts. */
  readonly secretsPath: string;
  readonly onCall?: OnFrontCall;
  /** For the resources' dates (the outbox keeps its own clock for expiry). */
  readonly clock?: Clock;
}

export interface TwilioFront {
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Twilio checks at most this many codes against one verification. */
export const maxCheckAttempts = 5;

const channels = new Set(['sms', 'call', 'whatsapp', 'email', 'sna']);

class TwilioRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (path: string) => new TwilioRefusal(404, 20404, `The requested resource ${path.replace(/^\/v2/, '')} was not found`);

interface Verification {
  readonly sid: string;
  readonly channel: string;
  readonly createdAt: string;
  readonly attempt: string;
  wrongCodes: number;
}

export async function startTwilioFront(options: TwilioFrontOptions): Promise<TwilioFront> {
  const clock = options.clock ?? systemClock;
  /** The verification each number was last sent, for its sid and its count of wrong codes. */
  const verifications = new Map<string, Verification>();

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request, 64 * 1024);
    const path = (request.url ?? '/').split('?')[0]!;
    const route = /^\/v2\/Services\/([^/]+)\/(Verifications|VerificationCheck)$/.exec(path);
    const credentials = readCredentials(options.secretsPath);
    if (!authenticated(request, credentials)) throw new TwilioRefusal(401, 20003, 'Authenticate');
    if (!route || request.method !== 'POST' || route[1] !== credentials.verifyServiceSid) throw notFound(path);
    const resource = route[2] as 'Verifications' | 'VerificationCheck';
    const form = new URLSearchParams(body.toString('utf8'));
    const to = form.get('To') ?? '';
    if (!/^\+[1-9]\d{1,14}$/.test(to)) throw new TwilioRefusal(400, 60200, `Invalid parameter \`To\`: ${to}`);
    const now = new Date(clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const common = { service_sid: credentials.verifyServiceSid, account_sid: credentials.accountSid, to, amount: null, payee: null };

    if (resource === 'Verifications') {
      const channel = form.get('Channel') ?? '';
      if (!channels.has(channel)) throw new TwilioRefusal(400, 60200, `Invalid parameter \`Channel\`: ${channel}`);
      await announceCall(options.onCall, { service: 'twilio', action: resource }, response);
      await options.sender.send(to);
      const verification: Verification = { sid: sid('VE'), channel, createdAt: now, attempt: sid('VL'), wrongCodes: 0 };
      verifications.set(to, verification);
      return writeJson(response, 201, {
        sid: verification.sid,
        ...common,
        channel,
        status: 'pending',
        valid: false,
        lookup: {},
        send_code_attempts: [{ attempt_sid: verification.attempt, channel, time: now }],
        date_created: now,
        date_updated: now,
        sna: null,
        url: `https://verify.twilio.com/v2/Services/${credentials.verifyServiceSid}/Verifications/${verification.sid}`,
      });
    }

    const code = form.get('Code');
    if (!code) throw new TwilioRefusal(400, 60200, 'Invalid parameter `Code`: ');
    await announceCall(options.onCall, { service: 'twilio', action: resource }, response);
    const verification = verifications.get(to);
    if (!verification || !options.sender.latest(to)) throw notFound(path);
    if (verification.wrongCodes >= maxCheckAttempts) throw new TwilioRefusal(429, 60202, `Max check attempts reached for ${to}`);
    // The outbox checks and forgets a code with no await in between: of parallel checks of the right
    // code one is approved, and the others find the verification gone above.
    const result = await options.sender.check(to, code);
    if (result === 'approved') verifications.delete(to);
    else verification.wrongCodes += 1;
    return writeJson(response, 200, {
      sid: verification.sid,
      ...common,
      channel: verification.channel,
      status: result === 'approved' ? 'approved' : 'pending',
      valid: result === 'approved',
      date_created: verification.createdAt,
      date_updated: now,
      sna_attempts_error_codes: [],
    });
  }

  const server = await startLoopbackServer(
    (request, response) =>
      handle(request, response).catch((error: unknown) => {
        if (response.headersSent) throw error;
        if (error instanceof TwilioRefusal) return writeError(response, error);
        writeError(response, new TwilioRefusal(500, 20500, `the sandbox's Twilio Verify failed: ${(error as Error).message}`));
      }),
    (response, _request, reason) => writeError(response, new TwilioRefusal(403, 20403, `The sandbox's Twilio Verify refused this request: ${reason}.`)),
  );
  return { endpoint: server.endpoint, close: () => server.close() };
}

/** The `twilio` secret as the file holds it now; an error (a 500 to the caller) when it cannot be used. */
function readCredentials(path: string): TwilioCredentials {
  const document = parseSecretsDocument(readFileSync(path, 'utf8'), path);
  const secret = document.secrets.twilio;
  if (secret === undefined) throw new Error(`the sandbox secrets file ${path} holds no twilio secret`);
  return parseTwilioCredentials(JSON.stringify(secret));
}

function authenticated(request: IncomingMessage, credentials: TwilioCredentials): boolean {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(request.headers.authorization ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!, 'base64');
  const expected = Buffer.from(`${credentials.accountSid}:${credentials.authToken}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const sid = (prefix: string) => `${prefix}${randomBytes(16).toString('hex')}`;

function writeJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = Buffer.from(JSON.stringify(body));
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': String(text.length), ...headers });
  response.end(text);
}

function writeError(response: ServerResponse, refusal: TwilioRefusal): void {
  writeJson(
    response,
    refusal.status,
    { code: refusal.code, message: refusal.message, more_info: `https://www.twilio.com/docs/errors/${refusal.code}`, status: refusal.status },
    refusal.status === 401 ? { 'www-authenticate': 'Basic realm="Twilio API"' } : {},
  );
}
