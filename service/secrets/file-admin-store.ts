import type { SecretName } from '../manifest.js';
import {
  localActor,
  readSecretsDocument,
  writeSecretsDocument,
  type LocalSecretVersion,
  type SecretsDocument,
} from '../local/secrets-file.js';
import type { SecretAdminStore, SecretRecord } from './admin-store.js';

/** The `local` stage's secrets: the sandbox's file, with its history standing in for SSM's. */
export class FileSecretAdminStore implements SecretAdminStore {
  constructor(
    private readonly path: string,
    private readonly actor: string = localActor(),
    private readonly now: () => Date = () => new Date(),
  ) {}

  get location(): string {
    return this.path;
  }

  async get(name: SecretName): Promise<SecretRecord | undefined> {
    return (await this.history(name)).at(-1);
  }

  async put(name: SecretName, value: string): Promise<SecretRecord> {
    const document = await this.read();
    const versions = this.versionsOf(document, name);
    const record: LocalSecretVersion = {
      version: (versions.at(-1)?.version ?? 0) + 1,
      value: JSON.parse(value) as unknown,
      modifiedAt: this.now().toISOString(),
      modifiedBy: this.actor,
    };
    await writeSecretsDocument(this.path, {
      secrets: { ...document.secrets, [name]: record.value },
      history: { ...document.history, [name]: [...versions, record] },
    });
    return toRecord(name, record);
  }

  async history(name: SecretName): Promise<SecretRecord[]> {
    return this.versionsOf(await this.read(), name).map((version) => toRecord(name, version));
  }

  /** The versions of a secret; a value written without history (an older file) counts as version 1. */
  private versionsOf(document: SecretsDocument, name: SecretName): readonly LocalSecretVersion[] {
    const versions = document.history?.[name] ?? [];
    const current = document.secrets[name];
    if (current === undefined) return versions;
    const latest = versions.at(-1);
    if (latest && JSON.stringify(latest.value) === JSON.stringify(current)) return versions;
    // The file was edited by hand (or by an older sandbox): that value is the newest version.
    return [
      ...versions,
      { version: (latest?.version ?? 0) + 1, value: current, modifiedAt: 'unknown', modifiedBy: 'edited in the file' },
    ];
  }

  private async read(): Promise<SecretsDocument> {
    try {
      return await readSecretsDocument(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { secrets: {}, history: {} };
      throw error;
    }
  }
}

function toRecord(name: SecretName, version: LocalSecretVersion): SecretRecord {
  return {
    name,
    value: JSON.stringify(version.value),
    version: version.version,
    modifiedAt: version.modifiedAt,
    modifiedBy: version.modifiedBy,
  };
}
