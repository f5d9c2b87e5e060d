/**
 * The secrets file format: the sandbox keeps its stage's secrets in one, `.chatshyld/local/secrets.json`,
 * mode 0600, and the file admin store (`secrets … --stage local`) operates on it:
 * `{ "secrets": { "<name>": <value> }, "history": { "<name>": [{ version, value, modifiedAt, modifiedBy }] } }`.
 * Each value is the JSON document SSM would hold for the stage; `history` plays the part of SSM's
 * parameter history so that `chatshyld secrets … --stage local` can rehearse everything.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { newKey, type KeyRingDocument } from '../core/key-ring.js';
import type { TestNumber } from '../core/test-numbers.js';
import type { SecretName } from '../manifest.js';
import { validateSecret } from './checks.js';

export interface LocalSecrets {
  readonly 'jwt-secret'?: KeyRingDocument;
  readonly 'refresh-pepper'?: KeyRingDocument;
  readonly twilio?: unknown;
  readonly 'test-numbers'?: readonly TestNumber[];
}

export interface LocalSecretVersion {
  readonly version: number;
  readonly value: unknown;
  readonly modifiedAt: string;
  readonly modifiedBy: string;
}

export interface SecretsDocument {
  readonly secrets: LocalSecrets;
  readonly history?: Partial<Record<SecretName, readonly LocalSecretVersion[]>>;
}

export function initialSecrets(now: Date): LocalSecrets {
  return {
    'jwt-secret': { current: newKey(now) },
    'refresh-pepper': { current: newKey(now) },
    // The sandbox's own Twilio Verify (service/local/fronts/twilio-front.ts) accepts these, and only these.
    twilio: {
      accountSid: `AC${randomBytes(16).toString('hex')}`,
      authToken: randomBytes(16).toString('hex'),
      verifyServiceSid: `VA${randomBytes(16).toString('hex')}`,
    },
    'test-numbers': [],
  };
}

export function localActor(): string {
  try {
    return `${userInfo().username} (local)`;
  } catch {
    return 'local';
  }
}

/** A new document whose history starts at version 1 of each secret. */
export function initialDocument(now: Date, modifiedBy = localActor()): SecretsDocument {
  const secrets = initialSecrets(now);
  const history: Partial<Record<SecretName, LocalSecretVersion[]>> = {};
  for (const [name, value] of Object.entries(secrets)) {
    history[name as SecretName] = [{ version: 1, value, modifiedAt: now.toISOString(), modifiedBy }];
  }
  return { secrets, history };
}

/** The sandbox's own files are damaged or in use: a user can fix it, the message says how. */
export class LocalStateError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'LocalStateError';
  }
}

export async function readSecretsDocument(path: string): Promise<SecretsDocument> {
  return parseSecretsDocument(await readFile(path, 'utf8'), path);
}

/** The document in `text`, read from `path`; a damaged one is a LocalStateError naming the file. */
export function parseSecretsDocument(text: string, path: string): SecretsDocument {
  let document: Partial<SecretsDocument>;
  try {
    document = JSON.parse(text) as Partial<SecretsDocument>;
    if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new Error('not a JSON object');
  } catch (error) {
    throw new LocalStateError(
      `the sandbox secrets file ${path} is ${text.trim() === '' ? 'empty' : `damaged (${(error as Error).message})`}`,
      replaceFileHint,
    );
  }
  return { secrets: document.secrets ?? {}, history: document.history ?? {} };
}

const replaceFileHint =
  'restore it from a copy, or delete it: the next `chatshyld dev` (or `chatshyld secrets init --stage local`) writes a new one with new keys, which signs everyone out of the sandbox';

/**
 * Refuses a document whose key rings the handlers cannot use — missing, of the wrong shape, or with a
 * weak key — with the check `chatshyld secrets list` makes, so that the sandbox says so at start
 * (and under a 500 when the file changes while it runs) instead of failing every sign-in.
 */
export function checkKeyRings(document: SecretsDocument, path: string, now: Date): void {
  for (const name of ['jwt-secret', 'refresh-pepper'] as const) {
    const value = document.secrets[name];
    const validation = value === undefined ? { ok: false as const, reason: 'it is missing' } : validateSecret(name, JSON.stringify(value), now);
    if (!validation.ok) {
      throw new LocalStateError(`the sandbox secrets file ${path} has no usable ${name}: ${validation.reason}`, `fix that ring, ${replaceFileHint}`);
    }
  }
}

export async function readSecretsFile(path: string): Promise<LocalSecrets> {
  return (await readSecretsDocument(path)).secrets;
}

/** Replaces the file atomically (write, then rename), so a reader never sees half a file. */
export async function writeSecretsDocument(path: string, document: SecretsDocument): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temporary, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

/** Writes the secrets, keeping whatever history the file had. */
export async function writeSecretsFile(path: string, secrets: LocalSecrets): Promise<void> {
  let history: SecretsDocument['history'] = {};
  try {
    history = (await readSecretsDocument(path)).history;
  } catch {
    // no file yet
  }
  await writeSecretsDocument(path, { secrets, history });
}
