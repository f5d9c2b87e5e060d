/**
 * What a rollback of a key ring writes, and when it must refuse: the chosen version's keys, with
 * every revocation made since carried on, so that a rollback never quietly brings back a revoked key.
 */
import { keysOf, parseKeyRing, type KeyEntry, type KeyRingDocument, type RevokedKey } from '../core/key-ring.js';
import type { SecretRecord } from './admin-store.js';

/** The ring document of a version, or undefined for other secrets and unreadable values. */
export function ringDocument(record: SecretRecord): KeyRingDocument | undefined {
  if (record.name !== 'jwt-secret' && record.name !== 'refresh-pepper') return undefined;
  try {
    return JSON.parse(record.value) as KeyRingDocument;
  } catch {
    return undefined;
  }
}

/** The kids that verify in a version. */
export function ringKids(record: SecretRecord): string[] {
  try {
    return keysOf(parseKeyRing(record.name, record.value)).map((key) => key.kid);
  } catch {
    return [];
  }
}

/** Kid → when it was first revoked, from every version kept. */
export function revocationsIn(versions: readonly SecretRecord[]): Map<string, string> {
  const revoked = new Map<string, string>();
  for (const record of versions) {
    for (const entry of ringDocument(record)?.revoked ?? []) if (!revoked.has(entry.kid)) revoked.set(entry.kid, entry.revokedAt);
  }
  return revoked;
}

export class RollbackRefused extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export interface RollbackPlan {
  /** What to write as the new version. */
  readonly value: string;
  /** Revoked keys the rollback brings back (only with `allowRevoked`). */
  readonly reinstated: readonly RevokedKey[];
  /** Keys that verify now and would not after the rollback. */
  readonly lost: readonly string[];
}

export function planRollback(
  versions: readonly SecretRecord[],
  chosen: SecretRecord,
  options: { allowRevoked?: boolean; now?: Date } = {},
): RollbackPlan {
  const chosenDocument = ringDocument(chosen);
  if (!chosenDocument) return { value: chosen.value, reinstated: [], lost: [] };
  const document = withRetirementsSince(chosenDocument, versions, chosen, options.now ?? new Date());
  const revoked = revocationsIn(versions);
  const reinstated = ringKids(chosen)
    .filter((kid) => revoked.has(kid))
    .map((kid) => ({ kid, revokedAt: revoked.get(kid)! }));
  if (reinstated.length && !options.allowRevoked) {
    throw new RollbackRefused(
      `version ${chosen.version} of ${chosen.name} holds revoked key(s) ${reinstated.map((entry) => `${entry.kid} (revoked ${entry.revokedAt})`).join(', ')}; rolling back would make them verify again`,
      'pick a version without them (see `secrets history`), or pass --allow-revoked --yes if the revocation was a mistake',
    );
  }
  const back = new Set(reinstated.map((entry) => entry.kid));
  const keep = [...revoked].filter(([kid]) => !back.has(kid)).map(([kid, revokedAt]) => ({ kid, revokedAt }));
  const current = versions.at(-1);
  const lost = current ? ringKids(current).filter((kid) => !ringKids(chosen).includes(kid)) : [];
  return { value: JSON.stringify({ ...document, revoked: keep }), reinstated, lost };
}

/**
 * The chosen ring with each retired key kept as long as what it signed since may live. A key retired
 * in the chosen version may have signed again in a later one (a rollback to before its retirement):
 * its tokens from then must keep verifying, so its retirement moves to the latest a later version
 * shows — to now, for a key that signs in a later version — with the same validity span.
 */
function withRetirementsSince(document: KeyRingDocument, versions: readonly SecretRecord[], chosen: SecretRecord, now: Date): KeyRingDocument {
  const later = versions.filter((record) => record.version > chosen.version).map(ringDocument);
  const extend = (key: KeyEntry): KeyEntry => {
    if (!key.retiredAt || !key.validUntil) return key;
    const span = Date.parse(key.validUntil) - Date.parse(key.retiredAt);
    let retiredAt = Date.parse(key.retiredAt);
    let validUntil = Date.parse(key.validUntil);
    for (const ring of later) {
      if (!ring) continue;
      if (ring.current?.kid === key.kid) {
        retiredAt = Math.max(retiredAt, now.getTime());
        validUntil = Math.max(validUntil, now.getTime() + span);
      }
      for (const entry of [...(ring.verifyOnly ?? []), ...(ring.previous ? [ring.previous] : [])]) {
        if (entry.kid === key.kid && entry.validUntil) validUntil = Math.max(validUntil, Date.parse(entry.validUntil));
      }
    }
    return { ...key, retiredAt: new Date(retiredAt).toISOString(), validUntil: new Date(validUntil).toISOString() };
  };
  return {
    ...document,
    ...(document.verifyOnly && { verifyOnly: document.verifyOnly.map(extend) }),
    ...(document.previous && { previous: extend(document.previous) }),
  };
}
