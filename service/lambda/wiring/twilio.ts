import { TwilioVerifySender } from '../../adapters/twilio/verify.js';
import { log } from '../runtime.js';
import { secrets } from './ssm.js';

export const otpSender = () =>
  new TwilioVerifySender(secrets(), log, {
    ...(process.env.TWILIO_VERIFY_BASE_URL && { baseUrl: process.env.TWILIO_VERIFY_BASE_URL }),
  });
