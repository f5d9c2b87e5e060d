/**
 * Test numbers: phones with a fixed code, kept in the `test-numbers` secret as
 * `[{ phone, code, expiresAt }]`. They never reach the OTP provider and skip the per-phone send
 * limits, but not the verify attempt limit, which for them holds across sends (their code never
 * changes, so a fresh count per send would let a caller guess without end). Their codes have at
 * least 6 digits for the same reason.
 */
import { MisconfigurationError } from './errors.js';
import { canonicalPhone } from './phone.js';
import type { Clock, Log, SecretSource } from './ports.js';

export interface TestNumber {
  readonly phone: string;
  readonly code: string;
  /** ISO 8601. */
  readonly expiresAt: string;
}

/** A code as a caller may send it (providers send 4-10 digits). */
export const otpCodePattern = /^\d{4,10}$/;
/** A test number's code: fixed for months, so it must resist guessing at 5 tries per window. */
export const testNumberCodePattern = /^\d{6,10}$/;

/** Parses the secret's value; throws naming the first bad entry. */
export function parseTestNumbers(text: string): TestNumber[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (cause) {
    throw new MisconfigurationError('test-numbers is not valid JSON', { cause });
  }
  if (!Array.isArray(list)) throw new MisconfigurationError('test-numbers must be a JSON array');
  const seen = new Map<string, number>();
  return list.map((entry, index) => {
    const where = `test-numbers[${index}]`;
    if (typeof entry !== 'object' || entry === null) {
      throw new MisconfigurationError(`${where} must be an object {phone, code, expiresAt}`);
    }
    const { phone, code, expiresAt, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0) {
      throw new MisconfigurationError(`${where} has unknown fields: ${Object.keys(rest).join(', ')}`);
    }
    if (typeof phone !== 'string') throw new MisconfigurationError(`${where}.phone must be a string`);
    const canonical = canonicalPhone(phone);
    if (canonical === undefined) throw new MisconfigurationError(`${where}.phone must be a valid E.164 number`);
    if (typeof code !== 'string' || !testNumberCodePattern.test(code)) {
      throw new MisconfigurationError(`${where}.code must be 6-10 digits`);
    }
    // Date.parse takes "1" or "Dec 25 2026" too; only a real ISO 8601 date-time is meant.
    if (typeof expiresAt !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(expiresAt) || Number.isNaN(Date.parse(expiresAt))) {
      throw new MisconfigurationError(`${where}.expiresAt must be an ISO 8601 date-time, such as 2026-12-31T00:00:00Z`);
    }
    // Two spellings of one number would be one number with two codes.
    const earlier = seen.get(canonical);
    if (earlier !== undefined) throw new MisconfigurationError(`${where}.phone is test-numbers[${earlier}].phone again (${canonical})`);
    seen.set(canonical, index);
    return { phone: canonical, code, expiresAt };
  });
}

export class TestNumberDirectory {
  private parsed: { text: string; numbers: TestNumber[] } | undefined;

  constructor(
    private readonly source: SecretSource,
    private readonly clock: Clock,
    private readonly enabled: boolean,
    private readonly log: Log,
  ) {}

  /** The unexpired test number for `phone`, if the stage allows test numbers. */
  async find(phone: string): Promise<TestNumber | undefined> {
    if (!this.enabled) return undefined;
    const numbers = await this.load();
    const now = this.clock.now();
    return numbers.find((entry) => entry.phone === phone && Date.parse(entry.expiresAt) > now);
  }

  private async load(): Promise<TestNumber[]> {
    const text = await this.source.get('test-numbers');
    if (text === undefined) return [];
    if (this.parsed?.text === text) return this.parsed.numbers;
    let numbers: TestNumber[] = [];
    try {
      numbers = parseTestNumbers(text);
    } catch (error) {
      // A broken list must not stop real users signing in; it is logged for the operator.
      this.log.error('test-numbers secret is malformed; ignoring it', { reason: (error as Error).message });
    }
    this.parsed = { text, numbers };
    return numbers;
  }
}
