/**
 * Secrets as an operator sees them: versioned values with who changed them and when. SSM Parameter
 * Store for deployed stages, the sandbox's secrets file for `local`.
 */
import { createHash } from 'node:crypto';
import type { SecretName } from '../manifest.js';

export interface SecretRecord {
  readonly name: SecretName;
  /** The JSON text, as functions read it. */
  readonly value: string;
  readonly version: number;
  /** ISO 8601. */
  readonly modifiedAt: string;
  readonly modifiedBy: string;
}

export interface SecretAdminStore {
  /** Where the secrets live, for messages: an SSM path or a file. */
  readonly location: string;
  get(name: SecretName): Promise<SecretRecord | undefined>;
  /** Writes a new version; returns it. */
  put(name: SecretName, value: string): Promise<SecretRecord>;
  /** Every version kept, oldest first. */
  history(name: SecretName): Promise<SecretRecord[]>;
}

/** Identifies a value without revealing it. */
export function fingerprint(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 16)}`;
}
