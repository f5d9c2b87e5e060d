/**
 * Creating a Twilio Verify service for a stage, with the twilio SDK. Only `init` loads this: the
 * SDK is megabytes, and the deployed functions speak Verify's REST API over fetch instead.
 */
import type { RequestClient } from 'twilio';

export interface TwilioAccount {
  readonly accountSid: string;
  readonly authToken: string;
}

export async function createVerifyService(
  account: TwilioAccount,
  friendlyName: string,
  options: { httpClient?: RequestClient } = {},
): Promise<string> {
  const { default: twilio } = await import('twilio');
  const client = twilio(account.accountSid, account.authToken, { ...(options.httpClient && { httpClient: options.httpClient }) });
  const service = await client.verify.v2.services.create({ friendlyName });
  return service.sid;
}
