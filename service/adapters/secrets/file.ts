import { readFileSync } from 'node:fs';
import { MisconfigurationError } from '../../core/errors.js';
import type { Clock, SecretSource } from '../../core/ports.js';
import { checkKeyRings, parseSecretsDocument } from '../../local/secrets-file.js';
import type { SecretName } from '../../manifest.js';

/**
 * The sandbox's secrets: `.chatshyld/local/secrets.json`, `{ "secrets": { "<name>": <value> } }`
 * with each value the same JSON document SSM would hold. Cached like SSM values are (max age,
 * forced re-read), so a rotation of the file is picked up the way a deployed function picks one up.
 */
export class FileSecretSource implements SecretSource {
  private cache: { readAt: number; values: Partial<Record<SecretName, string>> } | undefined;

  constructor(
    private readonly path: string,
    private readonly clock: Clock,
    private readonly maxAgeSeconds: number,
  ) {}

  async get(name: SecretName, options: { forceFetch?: boolean } = {}): Promise<string | undefined> {
    const now = this.clock.now();
    if (!this.cache || options.forceFetch || now - this.cache.readAt >= this.maxAgeSeconds * 1000) {
      this.cache = { readAt: now, values: this.load() };
    }
    return this.cache.values[name];
  }

  /**
   * Read synchronously: the file is a few hundred bytes, read in well under a millisecond, while an
   * asynchronous read takes several thread-pool hops whose timing under load let a request that
   * re-reads its keys fall behind others started after it (a deletion behind a login of its phone).
   */
  private load(): Partial<Record<SecretName, string>> {
    let document;
    try {
      document = parseSecretsDocument(readFileSync(this.path, 'utf8'), this.path);
      checkKeyRings(document, this.path, new Date(this.clock.now()));
    } catch (error) {
      // The message names the file, what is wrong with it and the fix: the sandbox prints it under the 500.
      const hint = (error as { hint?: unknown }).hint;
      throw new MisconfigurationError(`${(error as Error).message}${typeof hint === 'string' ? `; ${hint}` : ''}`, { cause: error });
    }
    const values: Partial<Record<SecretName, string>> = {};
    for (const [name, value] of Object.entries(document.secrets)) {
      values[name as SecretName] = JSON.stringify(value);
    }
    return values;
  }
}
