/**
 * Twilio Verify over its REST API with plain fetch: the twilio SDK would add megabytes to every
 * bundle and ~120 ms to each cold start for two POSTs.
 *
 * Twilio's answers map onto ours so that no outcome becomes a 500: a bad number is the caller's 400,
 * Twilio's per-number limits are the caller's 429, and anything that is Twilio's or our account's
 * trouble (outage, timeout, rejected credentials, account throttling) is a 502.
 */
import { BadRequestError, MisconfigurationError, OtpProviderUnavailableError, TooManyRequestsError } from '../../core/errors.js';
import { maskPhone, redactPhone } from '../../core/phone.js';
import type { Log, OtpCheckResult, OtpSender, SecretSource } from '../../core/ports.js';

export const twilioVerifyBaseUrl = 'https://verify.twilio.com';

export interface TwilioCredentials {
  readonly accountSid: string;
  readonly authToken: string;
  readonly verifyServiceSid: string;
}

const sid = (prefix: string) => new RegExp(`^${prefix}[0-9a-fA-F]{32}$`);

/** Parses the `twilio` secret; throws naming the bad field. */
export function parseTwilioCredentials(text: string): TwilioCredentials {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new MisconfigurationError('twilio is not valid JSON', { cause });
  }
  const { accountSid, authToken, verifyServiceSid } = (value ?? {}) as Record<string, unknown>;
  if (typeof accountSid !== 'string' || !sid('AC').test(accountSid)) {
    throw new MisconfigurationError('twilio.accountSid must look like AC followed by 32 hex digits');
  }
  if (typeof authToken !== 'string' || !/^[0-9a-fA-F]{32}$/.test(authToken)) {
    throw new MisconfigurationError('twilio.authToken must be 32 hex digits');
  }
  if (typeof verifyServiceSid !== 'string' || !sid('VA').test(verifyServiceSid)) {
    throw new MisconfigurationError('twilio.verifyServiceSid must look like VA followed by 32 hex digits');
  }
  return { accountSid, authToken, verifyServiceSid };
}

export interface TwilioVerifyOptions {
  readonly baseUrl?: string;
  readonly timeoutMs?: number;
}

interface TwilioErrorBody {
  readonly code?: number;
  readonly message?: string;
}

export class TwilioVerifySender implements OtpSender {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(
    private readonly secrets: SecretSource,
    private readonly log: Log,
    options: TwilioVerifyOptions = {},
  ) {
    this.baseUrl = (options.baseUrl ?? twilioVerifyBaseUrl).replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  async send(phone: string): Promise<void> {
    const response = await this.post('Verifications', { To: phone, Channel: 'sms' });
    if (response.ok) return;
    throw this.failure(response.status, await readError(response), phone);
  }

  async check(phone: string, code: string): Promise<OtpCheckResult> {
    const response = await this.post('VerificationCheck', { To: phone, Code: code });
    if (response.ok) {
      const body = (await response.json().catch(() => ({}))) as { status?: string };
      return body.status === 'approved' ? 'approved' : 'rejected';
    }
    // Expired, already approved, or out of attempts: Twilio forgets the verification and answers 404.
    if (response.status === 404) return 'rejected';
    throw this.failure(response.status, await readError(response), phone);
  }

  private async post(resource: string, form: Record<string, string>): Promise<Response> {
    const text = await this.secrets.get('twilio');
    if (text === undefined) throw new OtpProviderUnavailableError(new MisconfigurationError('secret twilio is missing'));
    let credentials: TwilioCredentials;
    try {
      credentials = parseTwilioCredentials(text);
    } catch (error) {
      throw new OtpProviderUnavailableError(error);
    }
    const url = `${this.baseUrl}/v2/Services/${credentials.verifyServiceSid}/${resource}`;
    const authorization = Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64');
    try {
      return await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Basic ${authorization}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams(form).toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw new OtpProviderUnavailableError(cause);
    }
  }

  private failure(status: number, body: TwilioErrorBody, phone: string): Error {
    // Twilio's messages quote the number ("... the 'To' number: +1415..."): only a redacted copy is logged.
    const fields = {
      status,
      twilioCode: body.code,
      phone: maskPhone(phone),
      ...(typeof body.message === 'string' && { twilioMessage: redactPhone(body.message, phone).slice(0, 300) }),
    };
    switch (body.code) {
      case 60200: // invalid parameter: the number
      case 21211: // invalid 'To' number
      case 21614: // 'To' number is not a valid mobile number
      case 60205: // SMS is not supported by landline
        this.log.info('twilio refused the number', fields);
        return new BadRequestError('This number cannot receive verification codes.', 'invalid_phone');
      case 21408: // SMS to this number's region is not enabled on the account
      case 21612: // the number cannot be reached from the sender
      case 60410: // delivery blocked by fraud protection
      case 60605: // delivery to this country is not allowed
        this.log.warn('twilio refused delivery to this number', fields);
        return new BadRequestError('Verification codes cannot be sent to this number.', 'invalid_phone');
      case 60203: // max send attempts for this number (Twilio's window is 10 minutes)
      case 60212: // too many concurrent requests for this number
        return new TooManyRequestsError('rate_limited', 'Too many codes requested. Try again later.', 600);
      case 60202: // max check attempts
        return new TooManyRequestsError('too_many_attempts', 'Too many wrong codes. Request a new code.');
      default:
        // 20003 rejected credentials, 20404 unknown service, 20429 account throttled, 5xx outages.
        this.log.error('twilio verify failed', fields);
        return new OtpProviderUnavailableError(new Error(`Twilio answered ${status} (${body.code ?? 'no code'})`));
    }
  }
}

async function readError(response: Response): Promise<TwilioErrorBody> {
  try {
    return (await response.json()) as TwilioErrorBody;
  } catch {
    return {};
  }
}
