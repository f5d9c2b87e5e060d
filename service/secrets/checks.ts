/** Whether each secret of a stage is present and well-formed: for `list`, `doctor` and deploy preflight. */
import { keysOf, parseKeyRing, weakKeyReason } from '../core/key-ring.js';
import { parseTestNumbers } from '../core/test-numbers.js';
import { parseTwilioCredentials } from '../adapters/twilio/verify.js';
import { secrets, type SecretName } from '../manifest.js';
import type { SecretAdminStore, SecretRecord } from './admin-store.js';
import { fingerprint } from './admin-store.js';

/** Test numbers may not be valid further ahead than this: a forgotten test number is a back door. */
export const maxTestNumberDays = 90;

export type Validation = { readonly ok: true; readonly summary: string } | { readonly ok: false; readonly reason: string };

/** Checks a value for `name`; the summary says what it holds without revealing it. */
export function validateSecret(name: SecretName, value: string, now: Date): Validation {
  try {
    switch (name) {
      case 'jwt-secret':
      case 'refresh-pepper': {
        const ring = parseKeyRing(name, value);
        for (const key of keysOf(ring)) {
          const weak = weakKeyReason(key.bytes);
          if (weak) return { ok: false, reason: `key ${key.kid} is too predictable (${weak}); generate keys with \`secrets init\` or \`secrets rotate\`` };
        }
        const others = keysOf(ring).slice(1).map((key) => key.kid);
        return {
          ok: true,
          summary: `${keysOf(ring).length} key(s): signing ${ring.current.kid}${others.length ? `, verify-only ${others.join(', ')}` : ''}`,
        };
      }
      case 'twilio': {
        const credentials = parseTwilioCredentials(value);
        return { ok: true, summary: `account …${credentials.accountSid.slice(-4)}, service …${credentials.verifyServiceSid.slice(-4)}` };
      }
      case 'test-numbers': {
        const numbers = parseTestNumbers(value);
        const limit = now.getTime() + maxTestNumberDays * 24 * 3600 * 1000;
        const tooLate = numbers.find((entry) => Date.parse(entry.expiresAt) > limit);
        if (tooLate) {
          return {
            ok: false,
            reason: `test number ${tooLate.phone} expires ${tooLate.expiresAt}, more than ${maxTestNumberDays} days ahead`,
          };
        }
        const live = numbers.filter((entry) => Date.parse(entry.expiresAt) > now.getTime());
        return { ok: true, summary: `${numbers.length} number(s), ${live.length} unexpired` };
      }
    }
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

export interface SecretStatus {
  readonly name: SecretName;
  readonly record: SecretRecord | undefined;
  readonly fingerprint: string | undefined;
  readonly validation: Validation | undefined;
}

export async function checkSecrets(store: SecretAdminStore, now: Date): Promise<SecretStatus[]> {
  return Promise.all(
    (Object.keys(secrets) as SecretName[]).map(async (name) => {
      const record = await store.get(name);
      return {
        name,
        record,
        fingerprint: record && fingerprint(record.value),
        validation: record && validateSecret(name, record.value, now),
      };
    }),
  );
}
