/**
 * Keeps secrets out of every report: values the run learned (codes, tokens, signatures) are replaced
 * wherever they appear, and anything shaped like a secret is replaced even if the run never saw it
 * as one (an answer shaped unexpectedly must not leak): a JWT, a bearer header, a presigned
 * signature, the value of a field named like a token or a code, and any long random-looking token.
 */
const secretFieldNames = 'token|accessToken|refreshToken|idToken|authToken|password|secret';
const secretFields = new RegExp(`("(?:${secretFieldNames})"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*")`, 'gi');
const secretField = new RegExp(`^(?:${secretFieldNames})$`, 'i');
const codeField = /^(?:code|otp|otpCode)$/i;
/** OTP-looking codes (4-10 digits) in fields named like a code; error codes such as "forbidden" stay. */
const codeFields = /("(?:code|otp|otpCode)"\s*:\s*)("?\d{4,10}"?)/gi;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** 32 or more URL-safe characters with letters and digits mixed: what random tokens look like. UUIDs are ids, not secrets. */
const longToken = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])/g;

const patterns: [RegExp, string][] = [
  [/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted-jwt]'],
  [/(Bearer )[^\s"']+/gi, '$1[redacted]'],
  [/(X-Amz-(?:Signature|Credential|Security-Token)=)[^&"'\s]+/g, '$1[redacted]'],
];

export class Redactor {
  private readonly secrets = new Set<string>();

  /** Registers a value that must never appear in a report. */
  add(value: unknown): void {
    if (typeof value === 'string' && value.length >= 4) this.secrets.add(value);
  }

  text(value: string): string {
    let result = value;
    // Longest first, so a secret containing another is replaced whole.
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) {
      result = result.split(secret).join('[redacted]');
    }
    for (const [pattern, replacement] of patterns) result = result.replace(pattern, replacement);
    result = result.replace(secretFields, (_match, field: string, value: string) => (value === '"[redacted]"' || value === '"[redacted-jwt]"' ? `${field}${value}` : `${field}"[redacted]"`));
    result = result.replace(codeFields, '$1"[redacted]"');
    result = result.replace(longToken, (token) => (uuid.test(token) || !/\d/.test(token) || !/[A-Za-z]/.test(token) ? token : '[redacted-token]'));
    return result;
  }

  /**
   * A deep copy with every string redacted, and the value of a field named like a token or a code
   * replaced. The copy is made value by value, never by rewriting serialised JSON: a pattern that
   * ends inside an escaped quote (`Bearer abc"def`) would leave text that no longer parses.
   */
  value<T>(value: T): T {
    return this.walk(JSON.parse(JSON.stringify(value ?? null)) as unknown) as T;
  }

  private walk(value: unknown, field = ''): unknown {
    if (typeof value === 'string') {
      if (codeField.test(field) && /^\d{4,10}$/.test(value)) return '[redacted]';
      const text = this.text(value);
      return secretField.test(field) && text !== '[redacted-jwt]' ? '[redacted]' : text;
    }
    if (typeof value === 'number' && codeField.test(field) && /^\d{4,10}$/.test(String(value))) return '[redacted]';
    if (Array.isArray(value)) return value.map((item) => this.walk(item));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [this.text(key), this.walk(item, key)]));
    }
    return value;
  }
}
