/**
 * `chatshyld secrets list|get|set|rotate|history|rollback|init`. Values are never printed unless
 * `--reveal` is given, and never taken from argv.
 */
import { readFile } from 'node:fs/promises';
import { newKey } from '../../service/core/key-ring.js';
import { parseTestNumbers } from '../../service/core/test-numbers.js';
import { defaultSettings } from '../../service/settings.js';
import { secrets as secretDefinitions, type SecretName } from '../../service/manifest.js';
import { fingerprint, type SecretRecord } from '../../service/secrets/admin-store.js';
import { checkSecrets, validateSecret, type Validation } from '../../service/secrets/checks.js';
import { RollbackRefused, planRollback, revocationsIn, ringDocument, ringKids, type RollbackPlan } from '../../service/secrets/rollback.js';
import { RotationInterrupted, RotationRefused, rotateKeyRing, rotationWindows, type RotatableSecret } from '../../service/secrets/rotation.js';
import { awsError, clientConfig } from '../aws.js';
import { CliError, exitCodes, operationFailed, usageError } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { openStageSecrets, type StageSecrets } from '../secret-store.js';
import { untilSignal } from '../signals.js';
import { table } from '../table.js';

const secretNames = Object.keys(secretDefinitions) as SecretName[];

function secretName(value: string): SecretName {
  if (!(secretNames as string[]).includes(value)) {
    throw usageError(`unknown secret "${value}"`, `the secrets are ${secretNames.join(', ')}`);
  }
  return value as SecretName;
}

function describeValidation(validation: Validation | undefined): string {
  if (!validation) return 'missing';
  return validation.ok ? `ok: ${validation.summary}` : `MALFORMED: ${validation.reason}`;
}

/** Asks before something drastic: --yes, else a prompt on a terminal, else exit 2. */
async function confirm(context: CommandContext, question: string, flagHint: string): Promise<boolean> {
  if (context.global.yes) return true;
  if (!context.out.canPrompt()) {
    throw new CliError('confirmation_needed', `${question} — confirmation needed, and there is no terminal to ask`, flagHint);
  }
  const { confirm: ask } = await import('@inquirer/prompts');
  return ask({ message: question, default: false });
}

function storeFailure(error: unknown, secrets: StageSecrets & { context: CommandContext }): never {
  const err = error as Error;
  if (err.name === 'VersionLimitError') {
    throw operationFailed(
      'version_limit',
      err.message,
      'remove the label from the oldest version (aws ssm unlabel-parameter-version), then run the command again',
    );
  }
  if (err.name === 'SecretTooLargeError') throw usageError(err.message);
  if (err.name === 'SecretLockedError') {
    throw operationFailed('secret_locked', err.message, 'another admin is changing this secret; run the command again when they are done');
  }
  if (err.name === 'ConcurrentChangeError') {
    throw operationFailed('concurrent_change', err.message, `look at \`chatshyld secrets history <name> --stage ${secrets.stage}\`, then run the command again`);
  }
  // No credentials, a missing profile, no network, a timeout: one line that says which.
  const aws = awsError(error, { global: secrets.context.global, streams: secrets.context.streams }, `stage ${secrets.stage}`);
  if (aws) throw aws;
  if (err.name === 'AccessDeniedException') {
    throw operationFailed('access_denied', `AWS refused access to ${secrets.store.location}: ${err.message}`, 'use a role allowed to read and write the stage parameters');
  }
  throw error;
}

async function withStore<T>(context: CommandContext, work: (secrets: StageSecrets) => Promise<T>): Promise<T> {
  const secrets = await openStageSecrets(context);
  try {
    return await work(secrets);
  } catch (error) {
    if (error instanceof CliError) throw error;
    return storeFailure(error, { ...secrets, context });
  }
}

function recordJson(record: SecretRecord, validation: Validation | undefined, reveal: boolean) {
  return {
    name: record.name,
    version: record.version,
    modifiedAt: record.modifiedAt,
    modifiedBy: record.modifiedBy,
    fingerprint: fingerprint(record.value),
    wellFormed: validation?.ok ?? false,
    ...(validation && (validation.ok ? { summary: validation.summary } : { problem: validation.reason })),
    ...(reveal && { value: record.value }),
  };
}

export async function list(_options: object, context: CommandContext): Promise<number> {
  return withStore(context, async ({ store, stage }) => {
    const statuses = await checkSecrets(store, new Date());
    context.out.resultJson(
      statuses.map((status) =>
        status.record ? recordJson(status.record, status.validation, false) : { name: status.name, present: false },
      ),
    );
    context.out.result(
      `secrets of stage ${stage} (${store.location})\n\n` +
        table([
          ['NAME', 'VERSION', 'CHANGED', 'BY', 'FINGERPRINT', 'STATE'],
          ...statuses.map((status) => [
            status.name,
            status.record ? String(status.record.version) : '-',
            status.record?.modifiedAt ?? '-',
            status.record?.modifiedBy ?? '-',
            status.fingerprint ?? '-',
            describeValidation(status.validation),
          ]),
        ]),
    );
    return exitCodes.ok;
  });
}

export async function get(options: { reveal?: boolean }, context: CommandContext, name: string): Promise<number> {
  const secret = secretName(name);
  return withStore(context, async ({ store, stage }) => {
    const record = await store.get(secret);
    if (!record) {
      throw operationFailed('missing_secret', `${secret} is not set for stage ${stage}`, `create it: chatshyld secrets ${secret === 'twilio' ? 'set twilio' : 'init'} --stage ${stage}`);
    }
    const validation = validateSecret(secret, record.value, new Date());
    context.out.resultJson(recordJson(record, validation, Boolean(options.reveal)));
    context.out.result(
      [
        `${secret} (stage ${stage})`,
        `  version      ${record.version}`,
        `  changed      ${record.modifiedAt} by ${record.modifiedBy}`,
        `  fingerprint  ${fingerprint(record.value)}`,
        `  state        ${describeValidation(validation)}`,
        ...(options.reveal ? [`  value        ${record.value}`] : []),
      ].join('\n'),
    );
    return exitCodes.ok;
  });
}

async function readValue(options: { fromFile?: string }, context: CommandContext, name: SecretName): Promise<string> {
  if (options.fromFile) {
    try {
      return (await readFile(options.fromFile, 'utf8')).trim();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const problem = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder, not a file' : (error as Error).message;
      throw usageError(`--from-file ${options.fromFile}: ${problem}`, 'pass the path of a JSON file with the value; nothing was written');
    }
  }
  if (context.out.canPrompt()) {
    const { password } = await import('@inquirer/prompts');
    return (await password({ message: `value of ${name} (JSON)`, mask: '*' })).trim();
  }
  // A terminal on stdin in CI: reading it would echo the secret as it is typed. Refuse instead.
  if (context.streams.stdin.isTTY) {
    throw usageError(
      `no value for ${name}: stdin is a terminal and CI is set, so it cannot be asked for with a masked prompt`,
      'pipe the value on stdin, pass --from-file <path>, or unset CI to be asked',
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export async function set(options: { fromFile?: string; allowRevoked?: boolean }, context: CommandContext, name: string): Promise<number> {
  const secret = secretName(name);
  return withStore(context, async ({ store, stage }) => {
    const value = await readValue(options, context, secret);
    if (!value) throw usageError(`no value given for ${secret}`, 'pipe it on stdin, or pass --from-file <path>');
    const validation = validateSecret(secret, value, new Date());
    if (!validation.ok) throw usageError(`${secret} is not well-formed: ${validation.reason}`, 'fix the value; nothing was written');
    // Stored compactly, as the functions parse it.
    let stored = JSON.stringify(JSON.parse(value));
    // Numbers stored as the service keys them (validation already parsed them).
    if (secret === 'test-numbers') stored = JSON.stringify(parseTestNumbers(stored));
    let expectedVersion: number | undefined;
    if (secret === 'jwt-secret' || secret === 'refresh-pepper') {
      // A ring written by hand (often an old backup) follows the rollback rules: every revocation
      // is carried on, and a revoked key comes back only with --allow-revoked --yes.
      const versions = await store.history(secret);
      const current = versions.at(-1);
      expectedVersion = current?.version;
      const offered: SecretRecord = { name: secret, value: stored, version: (current?.version ?? 0) + 1, modifiedAt: '', modifiedBy: '' };
      let plan: RollbackPlan;
      try {
        plan = planRollback(versions, offered, { allowRevoked: options.allowRevoked });
      } catch (error) {
        if (error instanceof RollbackRefused) {
          throw usageError(error.message.replace(/^version \d+ of (\S+) holds/, 'the new $1 holds').replace('rolling back', 'setting it'), error.hint);
        }
        throw error;
      }
      warnOfRingChange(plan, context);
      stored = plan.value;
    }
    const record = await store.put(secret, stored, expectedVersion === undefined ? {} : { expectedVersion });
    context.out.resultJson(recordJson(record, validation, false));
    context.out.result(`set ${secret} for stage ${stage}: version ${record.version}, ${fingerprint(record.value)} (${validation.summary})`);
    return exitCodes.ok;
  });
}

export interface RotateOptions {
  readonly revokePrevious?: boolean;
  readonly dryRun?: boolean;
  readonly restartFunctions?: boolean;
}

export async function rotate(options: RotateOptions, context: CommandContext, name: string): Promise<number> {
  if (name !== 'jwt-secret' && name !== 'refresh-pepper') {
    throw usageError(`only key rings rotate: jwt-secret or refresh-pepper, not "${name}"`, `to replace ${name}, use chatshyld secrets set ${name}`);
  }
  const secret: RotatableSecret = name;
  return withStore(context, async (secrets) => {
    const { stage, stageConfig, store, region } = secrets;
    if (options.restartFunctions && stage === 'local') {
      throw usageError('--restart-functions does not apply to the sandbox', 'it re-reads its secrets file within its cache max age');
    }
    const cacheSeconds = stageConfig?.secretsCacheSeconds ?? defaultSettings.secretsCacheSeconds;
    const windows = rotationWindows(secret, {
      accessTokenTtlSeconds: stageConfig?.tokens?.accessTokenTtlSeconds ?? defaultSettings.accessTokenTtlSeconds,
      refreshTokenTtlDays: stageConfig?.tokens?.refreshTokenTtlDays ?? defaultSettings.refreshTokenTtlDays,
      secretsCacheSeconds: cacheSeconds,
    });

    if (options.revokePrevious && !options.dryRun) {
      const consequence =
        secret === 'jwt-secret'
          ? `every access token now in use stops working within ${cacheSeconds} s; apps get new ones with their refresh tokens, and tokens forged with the old key are refused`
          : `every refresh token stops working within ${cacheSeconds} s: every user has to sign in again`;
      context.out.info(`--revoke-previous replaces every key of ${secret} on stage ${stage}: ${consequence}.`);
      const question = secret === 'jwt-secret' ? `Invalidate every access token on stage ${stage}?` : `End every session on stage ${stage}?`;
      if (!(await confirm(context, question, 'pass --yes to confirm the emergency rotation'))) {
        context.out.info('nothing changed');
        return exitCodes.failed;
      }
    }

    let restartFunctions: (() => Promise<void>) | undefined;
    if (options.restartFunctions) {
      const [{ LambdaClient }, { restartStageFunctions }] = await Promise.all([
        import('@aws-sdk/client-lambda'),
        import('../../service/secrets/restart.js'),
      ]);
      const client = new LambdaClient(clientConfig(context, region));
      restartFunctions = async () => {
        await restartStageFunctions(client, stage, (message) => context.out.info(message));
      };
    }

    // A signal stops the rotation at once, between writes: what is published stays published.
    const interrupt = untilSignal();
    const abort = new AbortController();
    void interrupt.promise.then(() => abort.abort(new Error('interrupted')));
    let lastWaitLine = Number.POSITIVE_INFINITY;
    try {
      const outcome = await rotateKeyRing(store, secret, {
        revokePrevious: Boolean(options.revokePrevious),
        dryRun: Boolean(options.dryRun),
        ...windows,
        ...(restartFunctions && { restartFunctions }),
        signal: abort.signal,
        onProgress: (message) => {
          lastWaitLine = Number.POSITIVE_INFINITY;
          context.out.info(message);
        },
        onWaiting: (secondsLeft, what) => {
          // A line at the start of each wait and every 5 s of it.
          if (secondsLeft > lastWaitLine - 5) return;
          lastWaitLine = secondsLeft;
          context.out.info(`${secret}: waiting for every reader (${secondsLeft} s left) until it ${what}`);
        },
      });
      context.out.resultJson(outcome);
      if (outcome.dryRun) {
        context.out.result(
          options.revokePrevious
            ? `dry run: ${secret} would become just ${outcome.newKid}; ${outcome.droppedKids.join(', ')} would stop verifying`
            : `dry run: ${secret} would publish ${outcome.newKid}, wait ${cacheSeconds} s (or restart functions), then sign with it; ${outcome.previousKid} would keep verifying${outcome.droppedKids.length ? `; ${outcome.droppedKids.join(', ')} (expired) would be pruned` : ''}`,
        );
      } else if (options.revokePrevious) {
        context.out.result(`rotated ${secret} on stage ${stage}: ${outcome.newKid} is the only key (version ${outcome.versions.join(', ')})`);
      } else {
        context.out.result(
          `rotated ${secret} on stage ${stage}: every reader is signing with ${outcome.newKid}` +
            (outcome.previousKid ? `; ${outcome.previousKid} keeps verifying until ${outcome.previousKeptUntil}` : '') +
            (outcome.versions.length ? ` (versions ${outcome.versions.join(', ')})` : ''),
        );
      }
      return exitCodes.ok;
    } catch (error) {
      if (error instanceof RotationInterrupted) {
        const state =
          error.stage === 'published'
            ? `${error.kid} is published (verify only); the signing key is unchanged`
            : error.stage === 'promoted'
              ? `${error.kid} is promoted; readers switch to it within ${cacheSeconds} s`
              : 'nothing was written';
        context.out.info(`interrupted: ${state}. Run \`chatshyld secrets rotate ${secret} --stage ${stage}\` again to finish; it resumes where this stopped`);
        return exitCodes.interrupted;
      }
      if (error instanceof RotationRefused) throw new CliError('rotation_refused', error.message, error.hint, exitCodes.usage);
      throw error;
    } finally {
      interrupt.dispose();
    }
  });
}

/** What history says of a version: made by a revocation, or holding keys revoked since. */
function historyNote(record: SecretRecord, before: SecretRecord | undefined, revoked: Map<string, string>): string {
  const known = new Set((before && ringDocument(before)?.revoked?.map((entry) => entry.kid)) ?? []);
  const made = (ringDocument(record)?.revoked ?? []).filter((entry) => !known.has(entry.kid)).map((entry) => entry.kid);
  const notes: string[] = [];
  if (made.length) notes.push(`REVOCATION of ${made.join(', ')}`);
  const holds = ringKids(record).filter((kid) => revoked.has(kid));
  if (holds.length) notes.push(`holds revoked ${holds.map((kid) => `${kid} (revoked ${revoked.get(kid)})`).join(', ')}`);
  return notes.join('; ');
}

export async function history(_options: object, context: CommandContext, name: string): Promise<number> {
  const secret = secretName(name);
  return withStore(context, async ({ store, stage }) => {
    const versions = await store.history(secret);
    const now = new Date();
    const revoked = revocationsIn(versions);
    const notes = versions.map((record, index) => historyNote(record, versions[index - 1], revoked));
    context.out.resultJson(
      versions.map((record, index) => ({
        ...recordJson(record, validateSecret(secret, record.value, now), false),
        ...(notes[index] && { note: notes[index] }),
        ...(ringDocument(record) && { revokedKids: ringKids(record).filter((kid) => revoked.has(kid)) }),
      })),
    );
    if (versions.length === 0) {
      context.out.result(`${secret} has no versions on stage ${stage}`);
      return exitCodes.ok;
    }
    context.out.result(
      table([
        ['VERSION', 'CHANGED', 'BY', 'FINGERPRINT', 'STATE', 'NOTE'],
        ...versions.map((record, index) => [
          String(record.version),
          record.modifiedAt,
          record.modifiedBy,
          fingerprint(record.value),
          describeValidation(validateSecret(secret, record.value, now)),
          notes[index] ?? '',
        ]),
      ]),
    );
    return exitCodes.ok;
  });
}

/** What writing a planned ring changes that the caller must know of; revoked keys need --yes too. */
function warnOfRingChange(plan: RollbackPlan, context: CommandContext): void {
  if (plan.reinstated.length) {
    const named = plan.reinstated.map((entry) => `${entry.kid} (revoked ${entry.revokedAt})`).join(', ');
    if (!context.global.yes) throw usageError(`--allow-revoked brings back ${named}; it needs --yes as well`);
    context.out.info(`warning: bringing back revoked key(s) ${named}`);
  }
  if (plan.lost.length) context.out.info(`warning: ${plan.lost.join(', ')} would stop verifying: tokens made with them stop working`);
}

export async function rollback(options: { toVersion: string; allowRevoked?: boolean }, context: CommandContext, name: string): Promise<number> {
  const secret = secretName(name);
  const target = Number(options.toVersion);
  if (!Number.isInteger(target) || target < 1) throw usageError('--to-version must be a version number (see `secrets history`)');
  return withStore(context, async ({ store, stage }) => {
    const versions = await store.history(secret);
    const chosen = versions.find((record) => record.version === target);
    if (!chosen) {
      throw usageError(`${secret} has no version ${target} on stage ${stage}`, `versions kept: ${versions.map((v) => v.version).join(', ') || 'none'}`);
    }
    const validation = validateSecret(secret, chosen.value, new Date());
    if (!validation.ok) throw usageError(`version ${target} of ${secret} is not well-formed: ${validation.reason}`);
    const current = versions.at(-1)!;
    let plan: RollbackPlan;
    try {
      plan = planRollback(versions, chosen, { allowRevoked: options.allowRevoked });
    } catch (error) {
      if (error instanceof RollbackRefused) throw usageError(error.message, error.hint);
      throw error;
    }
    warnOfRingChange(plan, context);
    if (!(await confirm(context, `Make version ${target} of ${secret} current on stage ${stage}?`, 'pass --yes to confirm the rollback'))) {
      context.out.info('nothing changed');
      return exitCodes.failed;
    }
    const record = await store.put(secret, plan.value, { expectedVersion: current.version });
    context.out.resultJson({ ...recordJson(record, validation, false), rolledBackTo: target });
    context.out.result(`rolled ${secret} back on stage ${stage}: version ${record.version} holds version ${target} (${fingerprint(record.value)})`);
    return exitCodes.ok;
  });
}

export async function init(_options: object, context: CommandContext): Promise<number> {
  return withStore(context, async ({ store, stage }) => {
    const now = new Date();
    const fresh: Partial<Record<SecretName, unknown>> = {
      'jwt-secret': { current: newKey(now) },
      'refresh-pepper': { current: newKey(now) },
      'test-numbers': [],
    };
    const outcome: { name: SecretName; action: 'created' | 'kept' | 'missing' }[] = [];
    for (const name of secretNames) {
      if (await store.get(name)) {
        outcome.push({ name, action: 'kept' });
      } else if (fresh[name] !== undefined) {
        await store.put(name, JSON.stringify(fresh[name]));
        outcome.push({ name, action: 'created' });
      } else {
        outcome.push({ name, action: 'missing' });
      }
    }
    context.out.resultJson(outcome);
    context.out.result(
      outcome
        .map(({ name, action }) =>
          action === 'missing'
            ? `- ${name}: not set; it cannot be generated: chatshyld secrets set ${name} --stage ${stage} --from-file <json>`
            : `${action === 'created' ? '+' : '='} ${name}: ${action}`,
        )
        .join('\n'),
    );
    return exitCodes.ok;
  });
}
