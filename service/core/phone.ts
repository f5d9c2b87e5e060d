import { parsePhoneNumberWithError } from 'libphonenumber-js/min';
import { BadRequestError } from './errors.js';

/** Only `+` and digits: anything else (spaces, dashes, national formats) is refused, not tidied. */
const e164Shape = /^\+[1-9]\d{6,14}$/;

/**
 * The one canonical spelling of a phone number, in E.164 as libphonenumber writes it. Every key,
 * limit, log field and answer uses this spelling, so `+114155550330` (a NANP trunk `1` after the
 * country code) and `+14155550330`, or `+4407911123456` (the UK trunk `0`) and `+447911123456`, are
 * one number. A number that is not valid for its country is refused.
 *
 * The `min` metadata is enough: it strips national trunk prefixes exactly as `max` does (checked for
 * NANP, UK, FR, DE, AU, JP, IN, BR in the tests), and `max` would add 73 kB (15 %) to each OTP
 * bundle; what `min` cannot tell (a valid length that no operator has assigned) the provider
 * refuses, mapped to `invalid_phone`.
 */
export function canonicalPhone(value: string): string | undefined {
  if (!e164Shape.test(value)) return undefined;
  try {
    const parsed = parsePhoneNumberWithError(value);
    if (!parsed.isValid()) return undefined;
    // Normalising twice must be a no-op; a number that keeps changing is not one we can key on.
    const canonical = parsed.number;
    return e164Shape.test(canonical) ? canonical : undefined;
  } catch {
    return undefined;
  }
}

/** `canonicalPhone` for request bodies: a 400 `invalid_phone` when the value does not normalise. */
export function parsePhone(value: string): string {
  const canonical = canonicalPhone(value);
  if (canonical === undefined) {
    throw new BadRequestError(
      'phone must be a valid number in E.164 format, for example +14155550123.',
      'invalid_phone',
    );
  }
  return canonical;
}

/**
 * For logs: the country code and area (the first 5 characters) and the last 4 digits, as
 * `+1415•••0777`; enough to correlate a support ticket, not enough to dial. Short numbers show less.
 */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/^\+/, '');
  // At least 3 digits hidden, whatever the length (a short Nordic number once kept only 1 hidden),
  // and at most 4 shown at either end: `+1415•••0777`.
  const shown = Math.max(0, Math.min(8, digits.length - 3));
  const tail = Math.min(4, Math.floor(shown / 2));
  return `+${digits.slice(0, shown - tail)}•••${tail ? digits.slice(-tail) : ''}`;
}

/** Replaces every spelling of `phone` in free text (a provider's message) with its mask. */
export function redactPhone(text: string, phone: string): string {
  const digits = phone.replace(/^\+/, '');
  // Providers echo the number with or without `+`, sometimes with spaces or dashes between digits.
  const spaced = digits.split('').join('[\\s().-]*');
  return text.replace(new RegExp(`\\+?${spaced}`, 'g'), maskPhone(phone)).replace(/\+?\d[\d\s().-]{6,}\d/g, '[number]');
}
