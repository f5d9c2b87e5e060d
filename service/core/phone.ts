import { isValidPhoneNumber } from 'libphonenumber-js/min';
import { BadRequestError } from './errors.js';

const e164 = /^\+[1-9]\d{6,14}$/;

/** Accepts only a valid E.164 number, exactly as written (no spaces, no national format). */
export function parsePhone(value: string): string {
  if (!e164.test(value) || !isValidPhoneNumber(value)) {
    throw new BadRequestError(
      'phone must be a valid number in E.164 format, for example +14155550123.',
      'invalid_phone',
    );
  }
  return value;
}

/** For logs: enough to correlate, not enough to identify. */
export function maskPhone(phone: string): string {
  return `${phone.slice(0, 3)}…${phone.slice(-2)}`;
}
