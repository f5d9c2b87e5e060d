/**
 * Keeps secrets out of every report: values the run learned (codes, tokens, signatures) are replaced
 * wherever they appear, and anything shaped like a JWT, a bearer header or a presigned signature is
 * replaced even if the run never saw it as a secret.
 */
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
    return result;
  }

  /** A deep copy with every string redacted. */
  value<T>(value: T): T {
    return JSON.parse(this.text(JSON.stringify(value ?? null))) as T;
  }
}
