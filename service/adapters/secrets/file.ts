import { MisconfigurationError } from '../../core/errors.js';
import type { Clock, SecretSource } from '../../core/ports.js';
import { readSecretsDocument } from '../../local/secrets-file.js';
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
      this.cache = { readAt: now, values: await this.load() };
    }
    return this.cache.values[name];
  }

  private async load(): Promise<Partial<Record<SecretName, string>>> {
    let document;
    try {
      document = await readSecretsDocument(this.path);
    } catch (error) {
      // The message names the file and what is wrong with it: the sandbox prints it under the 500.
      throw new MisconfigurationError((error as Error).message, { cause: error });
    }
    const values: Partial<Record<SecretName, string>> = {};
    for (const [name, value] of Object.entries(document.secrets)) {
      values[name as SecretName] = JSON.stringify(value);
    }
    return values;
  }
}
