/** In-memory fakes of the ports, for unit tests of the core. */
import type { SecretSource } from '../core/ports.js';
import type { SecretName } from '../manifest.js';

/** Holds secret values and counts the reads that bypassed a (simulated) cache. */
export class MemorySecretSource implements SecretSource {
  readonly values = new Map<SecretName, string>();
  forcedReads = 0;
  private cached = new Map<SecretName, string | undefined>();

  set(name: SecretName, value: unknown): void {
    this.values.set(name, typeof value === 'string' ? value : JSON.stringify(value));
  }

  /** Serves what was last read until a forced read, like a cache with a long max age. */
  async get(name: SecretName, options: { forceFetch?: boolean } = {}): Promise<string | undefined> {
    if (options.forceFetch) this.forcedReads += 1;
    if (options.forceFetch || !this.cached.has(name)) this.cached.set(name, this.values.get(name));
    return this.cached.get(name);
  }
}
