/**
 * The sandbox's secrets file, `.chatshyld/local/secrets.json`: `{ "secrets": { "<name>": <value> } }`,
 * each value the JSON document SSM would hold for the stage. Written with mode 0600.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { newKey, type KeyRingDocument } from '../core/key-ring.js';
import type { TestNumber } from '../core/test-numbers.js';

export interface LocalSecrets {
  readonly 'jwt-secret'?: KeyRingDocument;
  readonly 'refresh-pepper'?: KeyRingDocument;
  readonly twilio?: unknown;
  readonly 'test-numbers'?: readonly TestNumber[];
}

export function initialSecrets(now: Date): LocalSecrets {
  return {
    'jwt-secret': { current: newKey(now) },
    'refresh-pepper': { current: newKey(now) },
    'test-numbers': [],
  };
}

export async function readSecretsFile(path: string): Promise<LocalSecrets> {
  const document = JSON.parse(await readFile(path, 'utf8')) as { secrets?: LocalSecrets };
  return document.secrets ?? {};
}

/** Replaces the file atomically (write, then rename), so a reader never sees half a file. */
export async function writeSecretsFile(path: string, secrets: LocalSecrets): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ secrets }, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}
