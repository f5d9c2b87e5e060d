/**
 * What the sandbox console reads itself: the list of users straight from the local table (a scan is
 * fine on one developer's data), avatars from the local bucket, and the key rings of the secrets
 * file as kids and fingerprints — never a value. One account's profile and sessions come from the
 * on-call operations (`service/ops/user-admin.ts`), as everything the console changes does.
 */
import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { userKey } from '../adapters/dynamodb/keys.js';
import type { AccountStatus, User } from '../core/ports.js';
import { parseKeyRing, type KeyEntry, type KeyRingDocument } from '../core/key-ring.js';
import { fingerprint } from '../secrets/admin-store.js';
import type { Emulators } from './emulators.js';
import { readSecretsDocument } from './secrets-file.js';

/** A user as the console lists it: `status` spelled out, `active` included. */
export type ConsoleUser = Omit<User, 'status'> & { readonly status: AccountStatus };

async function scanAll(emulators: Emulators, table: string, filter: string, values: Record<string, unknown>) {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await emulators.dynamo.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: filter,
        ExpressionAttributeValues: marshall(values),
        ...(startKey && { ExclusiveStartKey: startKey }),
      }),
    );
    items.push(...(page.Items ?? []).map((item) => unmarshall(item)));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

function consoleUser(item: Record<string, unknown>): ConsoleUser {
  return {
    id: String(item.id),
    phone: String(item.phone),
    name: (item.name as string | undefined) ?? null,
    photoKey: (item.photoKey as string | undefined) ?? null,
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    status: (item.status as AccountStatus | undefined) ?? 'active',
  };
}

/**
 * Users whose number contains the digits of `query` (any spelling), whose name contains it (any
 * case), or whose id it is; everyone for an empty query. Newest first.
 */
export async function findUsers(emulators: Emulators, query: string): Promise<ConsoleUser[]> {
  const items = await scanAll(emulators, emulators.tableNames.users, 'begins_with(pk, :user)', { ':user': userKey('') });
  const wanted = query.trim().toLowerCase();
  const digits = wanted.replace(/\D/g, '');
  // A number is spelled with digits and punctuation only; a query with letters is a name or an id.
  const isNumber = digits !== '' && /^[\d\s()+.-]+$/.test(wanted);
  return items
    .map(consoleUser)
    .filter((user) => {
      if (!wanted || user.id === wanted) return true;
      if (isNumber) return user.phone.replace(/\D/g, '').includes(digits);
      return (user.name ?? '').toLowerCase().includes(wanted);
    })
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** The avatar's bytes, or undefined when the user has none (or the object is gone). */
export async function avatarOf(emulators: Emulators, photoKey: string): Promise<{ bytes: Uint8Array; contentType: string } | undefined> {
  try {
    const object = await emulators.s3.send(new GetObjectCommand({ Bucket: emulators.bucket, Key: photoKey }));
    return { bytes: await object.Body!.transformToByteArray(), contentType: object.ContentType ?? 'application/octet-stream' };
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

export interface RingView {
  readonly name: 'jwt-secret' | 'refresh-pepper';
  readonly version: number | null;
  readonly fingerprint: string;
  readonly keys: readonly {
    readonly kid: string;
    readonly role: 'signing' | 'verify-only' | 'revoked';
    readonly createdAt: string | null;
    readonly retiredAt: string | null;
    readonly fingerprint: string | null;
  }[];
  readonly problem: string | null;
}

/** The key rings as kids and fingerprints; a ring that does not parse says why instead. */
export async function ringsOf(secretsPath: string): Promise<RingView[]> {
  const document = await readSecretsDocument(secretsPath);
  // A file of the wrong shape (secrets not an object, history not lists) shows each ring's problem.
  const secrets = (typeof document.secrets === 'object' && document.secrets !== null ? document.secrets : {}) as Record<string, unknown>;
  return (['jwt-secret', 'refresh-pepper'] as const).map((name) => {
    const value = secrets[name] as KeyRingDocument | undefined;
    const history = document.history?.[name];
    const last = Array.isArray(history) ? (history.at(-1) as { version?: unknown } | undefined) : undefined;
    const version = typeof last?.version === 'number' ? last.version : null;
    const text = JSON.stringify(value ?? null);
    let problem: string | null = null;
    try {
      parseKeyRing(name, text);
    } catch (error) {
      problem = (error as Error).message;
    }
    const ring = (value ?? {}) as Partial<KeyRingDocument>;
    const key = (entry: KeyEntry | null | undefined, role: 'signing' | 'verify-only') =>
      entry && {
        kid: String(entry.kid),
        role,
        createdAt: entry.createdAt ?? null,
        retiredAt: entry.retiredAt ?? null,
        fingerprint: typeof entry.secret === 'string' ? fingerprint(entry.secret) : null,
      };
    const keys = [
      key(ring.current, 'signing'),
      ...[ring.next, ...(ring.verifyOnly ?? []), ring.previous].map((entry) => key(entry, 'verify-only')),
      ...(ring.revoked ?? []).map((entry) => ({ kid: entry.kid, role: 'revoked' as const, createdAt: null, retiredAt: entry.revokedAt, fingerprint: null })),
    ].filter((entry) => entry != null);
    return { name, version, fingerprint: fingerprint(text), keys, problem };
  });
}
