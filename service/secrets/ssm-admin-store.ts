import {
  GetParameterHistoryCommand,
  ParameterMaxVersionLimitExceeded,
  ParameterNotFound,
  PutParameterCommand,
  type ParameterHistory,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { secretParameterName, secrets, type SecretName } from '../manifest.js';
import type { SecretAdminStore, SecretRecord } from './admin-store.js';

/** SSM's limits: 4 KB for a standard parameter, 8 KB for an advanced one. */
const standardTierBytes = 4096;
const advancedTierBytes = 8192;

export class SecretTooLargeError extends Error {}
export class VersionLimitError extends Error {}

/** A stage's secrets as SecureString parameters under `/chatshyld/<stage>/`. */
export class SsmSecretAdminStore implements SecretAdminStore {
  constructor(
    private readonly client: SSMClient,
    private readonly stage: string,
    private readonly kmsKeyId?: string,
  ) {}

  get location(): string {
    return `SSM ${secretParameterName(this.stage, 'jwt-secret').replace(/[^/]+$/, '')}`;
  }

  async get(name: SecretName): Promise<SecretRecord | undefined> {
    return (await this.history(name)).at(-1);
  }

  async put(name: SecretName, value: string): Promise<SecretRecord> {
    const bytes = Buffer.byteLength(value);
    if (bytes > advancedTierBytes) {
      throw new SecretTooLargeError(`${name} is ${bytes} bytes; SSM parameters hold at most ${advancedTierBytes}`);
    }
    const existing = await this.rawHistory(name);
    // An advanced parameter cannot go back to standard, so once advanced it stays advanced.
    const advanced = bytes > standardTierBytes || existing.at(-1)?.Tier === 'Advanced';
    try {
      const { Version } = await this.client.send(
        new PutParameterCommand({
          Name: secretParameterName(this.stage, name),
          Value: value,
          Type: 'SecureString',
          Overwrite: true,
          Tier: advanced ? 'Advanced' : 'Standard',
          Description: `ChatShyld ${this.stage}: ${secrets[name].description}`,
          ...(this.kmsKeyId && { KeyId: this.kmsKeyId }),
        }),
      );
      return {
        name,
        value,
        version: Version ?? (existing.at(-1)?.Version ?? 0) + 1,
        modifiedAt: new Date().toISOString(),
        modifiedBy: 'you',
      };
    } catch (error) {
      if (error instanceof ParameterMaxVersionLimitExceeded) {
        throw new VersionLimitError(
          `${secretParameterName(this.stage, name)} holds 100 versions and its oldest carries a label, so SSM will not drop it`,
        );
      }
      throw error;
    }
  }

  async history(name: SecretName): Promise<SecretRecord[]> {
    return (await this.rawHistory(name)).map((entry) => ({
      name,
      value: entry.Value ?? '',
      version: entry.Version ?? 0,
      modifiedAt: entry.LastModifiedDate?.toISOString() ?? 'unknown',
      modifiedBy: entry.LastModifiedUser ?? 'unknown',
    }));
  }

  private async rawHistory(name: SecretName): Promise<ParameterHistory[]> {
    const entries: ParameterHistory[] = [];
    let NextToken: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new GetParameterHistoryCommand({
            Name: secretParameterName(this.stage, name),
            WithDecryption: true,
            MaxResults: 50,
            NextToken,
          }),
        );
        entries.push(...(page.Parameters ?? []));
        NextToken = page.NextToken;
      } while (NextToken);
    } catch (error) {
      if (error instanceof ParameterNotFound) return [];
      throw error;
    }
    return entries.sort((a, b) => (a.Version ?? 0) - (b.Version ?? 0));
  }
}
