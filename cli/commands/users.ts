/**
 * `chatshyld users find|show|sessions|revoke|block|unblock|delete|audit`: on-call operations on one
 * account (service/ops/user-admin.ts), on a deployed stage or the running sandbox. Every change asks
 * first (or takes --yes; without a terminal it exits 2), and on a protected stage the question is the
 * number's last 4 digits. Every change is audited with the caller as actor.
 */
import { maskPhone } from '../../service/core/phone.js';
import type { BlockView, SessionView, UserAdminError, UserView } from '../../service/ops/user-admin.js';
import { awsError } from '../aws.js';
import { CliError, exitCodes, operationFailed, usageError } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { table } from '../table.js';
import { untilSignal } from '../signals.js';
import { parseTimeOption, timeHint } from '../time-arg.js';
import { openStageUsers, type StageUsers } from '../user-ops.js';

export interface ChangeOptions {
  readonly reason?: string;
}

const noAccount = (id: string, stage: string) =>
  operationFailed('not_found', `No account has the id ${id}.`, `find the id from the number: chatshyld users find <phone> --stage ${stage}`);

/** The refusals of the operations module, as the CLI says them. */
export function refusal(error: UserAdminError, stage: string): CliError {
  switch (error.code) {
    case 'not_found':
      return operationFailed('not_found', error.message, `find the id from the number: chatshyld users find <phone> --stage ${stage}`);
    case 'blocked':
      return operationFailed('account_blocked', error.message, 'add --over-block to delete it anyway (the number stays blocked)');
    case 'invalid_until':
      return usageError(error.message, timeHint);
    case 'invalid_phone':
      return usageError(error.message, 'write the number with its country code, e.g. +14155550123');
    case 'invalid_target':
      return usageError(error.message, 'a user id is a UUID (see `chatshyld users find`); a number has its country code, e.g. +14155550123');
    case 'audit_failed':
      return operationFailed('audit_failed', error.message, `check access and the network, then run it again; see the state with chatshyld users show <id> --stage ${stage}`);
    case 'incomplete':
      return operationFailed('incomplete', error.message, `see what holds with chatshyld users show <id> and users sessions <id> --stage ${stage}, then run it again`);
    case 'already_blocked':
      return operationFailed('already_blocked', error.message, 'add --replace to replace it, or `users unblock` to lift it');
  }
}

async function withUsers<T>(context: CommandContext, work: (users: StageUsers) => Promise<T>): Promise<T> {
  const users = await openStageUsers(context);
  try {
    return await work(users);
  } catch (error) {
    if (error instanceof CliError) throw error;
    if ((error as Error).name === 'UserAdminError') throw refusal(error as UserAdminError, users.stage);
    const aws = awsError(error, context, users.location);
    if (aws) throw aws;
    if ((error as Error).name === 'AccessDeniedException') {
      throw operationFailed(
        'access_denied',
        `AWS refused access to ${users.location}: ${(error as Error).message}`,
        'use a role with the stage\'s on-call policy (docs/operations.md, "Permissions")',
      );
    }
    throw error;
  }
}

/**
 * Asks before a change: --yes, else a prompt on a terminal, else exit 2. On a protected stage the
 * operator types the number's last 4 digits, so a tired hand does not act on the wrong account.
 */
async function confirm(context: CommandContext, users: StageUsers, what: string, phone: string): Promise<void> {
  if (context.global.yes) return;
  if (!context.out.canPrompt()) {
    throw new CliError('confirmation_needed', `${what}: confirmation needed, and there is no terminal to ask`, 'pass --yes to confirm');
  }
  const prompts = await import('@inquirer/prompts');
  let confirmed: boolean;
  if (users.stageConfig?.protected) {
    const digits = phone.replace(/\D/g, '').slice(-4);
    // The question must not show the digits it asks for: its mask hides the last 4 too.
    const hidden = hideLastDigits(phone);
    const question = what.split(maskPhone(phone)).join(hidden);
    const typed = await prompts.input({ message: `${question} on protected stage ${users.stage}. Type the last 4 digits of ${hidden} to confirm:` });
    confirmed = typed.trim() === digits;
    if (!confirmed) context.out.info('the digits do not match');
  } else {
    confirmed = await prompts.confirm({ message: `${what} on stage ${users.stage}?`, default: false });
  }
  if (!confirmed) throw new CliError('not_confirmed', 'nothing was changed', undefined, exitCodes.failed);
}

/**
 * Runs a change's short write sequence to its end under Ctrl-C: stopping between its writes would
 * leave a half-made change (a number blocked with its sessions working). The first Ctrl-C says so
 * and the sequence finishes; a second stops at once (the process-wide guard). `finish` prints the
 * outcome, and then an interrupted command exits 130.
 */
async function applying<T>(context: CommandContext, work: () => Promise<T>, finish: (result: T) => void): Promise<number> {
  const signal = untilSignal();
  let interrupted = false;
  void signal.promise.then(() => {
    interrupted = true;
    context.out.info('interrupted: finishing the change under way (a few writes); Ctrl-C again stops at once, leaving it half made');
  });
  let result: T;
  try {
    result = await work();
  } finally {
    signal.dispose();
  }
  finish(result);
  if (interrupted) {
    throw new CliError('interrupted', 'interrupted: the change above was completed before stopping', undefined, exitCodes.interrupted);
  }
  return exitCodes.ok;
}

/** `+1415•••••••`: the number's mask with its last 4 digits hidden as well. */
function hideLastDigits(phone: string): string {
  const masked = maskPhone(phone);
  const head = masked.slice(0, masked.indexOf('•'));
  return `${head}${'•'.repeat(phone.length - head.length)}`;
}

export function describeUser(user: UserView, block: BlockView | null): string {
  return [
    `user ${user.id}`,
    `  phone             ${user.phone}`,
    `  name              ${user.name ?? '-'}`,
    `  status            ${user.status}${user.blockedUntil ? ` (block ${user.status === 'blocked' ? 'ends' : 'ended'} ${user.blockedUntil})` : ''}`,
    `  created           ${user.createdAt}`,
    `  updated           ${user.updatedAt}`,
    `  avatar key        ${user.photoKey ?? '-'}`,
    `  tokens revoked    ${user.accessEpoch > 0 ? `${user.accessEpoch} time(s); access tokens issued before the last are refused` : 'never'}`,
    `  number blocked    ${describeBlock(block)}`,
  ].join('\n');
}

function describeBlock(block: BlockView | null): string {
  if (!block) return 'no';
  const span = block.until ? `until ${block.until}` : 'until unblocked';
  return `${block.active ? 'yes' : 'no (ended)'}, ${span}, since ${block.blockedAt}${block.reason ? `: ${block.reason}` : ''}`;
}

export async function find(_options: object, context: CommandContext, phone: string): Promise<number> {
  return withUsers(context, async ({ admin }) => {
    const found = await admin.find(phone);
    context.out.resultJson(found);
    context.out.result(
      found.user
        ? describeUser(found.user, found.block)
        : `no account holds ${found.phone}; number blocked: ${describeBlock(found.block)}`,
    );
    return exitCodes.ok;
  });
}

export async function show(_options: object, context: CommandContext, id: string): Promise<number> {
  return withUsers(context, async ({ admin, stage }) => {
    const details = await admin.show(id);
    if (!details) throw noAccount(id, stage);
    context.out.resultJson(details);
    context.out.result(describeUser(details.user, details.block));
    return exitCodes.ok;
  });
}

function sessionRows(sessions: readonly SessionView[]): string {
  if (sessions.length === 0) return 'no sessions';
  return table([
    ['FAMILY', 'STATUS', 'CREATED', 'LAST REFRESH', 'EXPIRES', 'REVOKED BECAUSE'],
    ...sessions.map((s) => [s.familyId, s.status, s.createdAt, s.lastRefreshAt ?? '-', s.expiresAt, s.revokedReason ?? '-']),
  ]);
}

export async function sessions(_options: object, context: CommandContext, id: string): Promise<number> {
  return withUsers(context, async (users) => {
    await account(users, id);
    const list = await users.admin.sessions(id);
    context.out.resultJson(list);
    context.out.result(sessionRows(list));
    return exitCodes.ok;
  });
}

/** The account named by id, for the question and the confirmation digits. */
async function account(users: StageUsers, id: string): Promise<UserView> {
  const details = await users.admin.show(id);
  if (!details) throw noAccount(id, users.stage);
  return details.user;
}

export async function revoke(options: ChangeOptions & { family?: string }, context: CommandContext, id: string): Promise<number> {
  return withUsers(context, async (users) => {
    const user = await account(users, id);
    const what = options.family ? `sign out session ${options.family} of ${maskPhone(user.phone)}` : `sign out every session of ${maskPhone(user.phone)}`;
    await confirm(context, users, what, user.phone);
    return applying(
      context,
      () => users.admin.revoke(id, { ...(options.family && { familyId: options.family }), ...(options.reason && { reason: options.reason }) }),
      (result) => {
        context.out.resultJson({ userId: user.id, ...result });
        context.out.result(`signed out: ${result.revoked.length} session(s) revoked; access tokens already issued are refused from now on`);
      },
    );
  });
}

/** The number the target names (for the question), without changing anything. */
async function targetPhone(users: StageUsers, target: string): Promise<string> {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-/i.test(target.trim())) return (await account(users, target.trim())).phone;
  return (await users.admin.find(target)).phone;
}

export async function block(
  options: ChangeOptions & { until?: string; replace?: boolean },
  context: CommandContext,
  target: string,
): Promise<number> {
  const until = options.until === undefined ? undefined : new Date(parseTimeOption('--until', options.until, Date.now(), 1));
  if (until && until.getTime() <= Date.now()) throw usageError(`--until ${options.until} is in the past`, timeHint);
  return withUsers(context, async (users) => {
    const phone = await targetPhone(users, target);
    // A block that holds is shown, and replaced only with --replace (the module refuses it too).
    const existing = (await users.admin.find(phone)).block;
    const holding = existing?.active ? existing : null;
    if (holding && !options.replace) {
      throw operationFailed(
        'already_blocked',
        `${holding.phone} is already blocked: ${describeBlock(holding)}; nothing changed`,
        'add --replace to replace it, or `users unblock` to lift it',
      );
    }
    const replacing = holding ? `, replacing its block (${describeBlock(holding)}),` : '';
    await confirm(context, users, `block ${maskPhone(phone)}${until ? ` until ${until.toISOString()}` : ''}${replacing} and sign it out everywhere`, phone);
    return applying(
      context,
      () =>
        users.admin.block(target, {
          ...(until && { until }),
          ...(options.reason && { reason: options.reason }),
          ...(options.replace && { replace: true }),
        }),
      (result) => {
        context.out.resultJson(result);
        context.out.result(
          `blocked ${result.phone}${result.until ? ` until ${result.until}` : ' until unblocked'}` +
            (result.userId ? `; account ${result.userId}: ${result.revokedFamilies} session(s) revoked, access tokens refused` : '; no account holds it'),
        );
      },
    );
  });
}

export async function unblock(options: ChangeOptions, context: CommandContext, target: string): Promise<number> {
  return withUsers(context, async (users) => {
    const phone = await targetPhone(users, target).catch((error: unknown) => {
      // A deleted account's number keeps its block: it is lifted by number, not by the gone id.
      if (error instanceof CliError && error.code === 'not_found') {
        throw operationFailed(
          'not_found',
          error.message,
          `if the account was deleted, its number may still be blocked: chatshyld users unblock <number> --stage ${users.stage}`,
        );
      }
      throw error;
    });
    await confirm(context, users, `lift the block of ${maskPhone(phone)}`, phone);
    return applying(
      context,
      () => users.admin.unblock(target, { ...(options.reason && { reason: options.reason }) }),
      (result) => {
        context.out.resultJson(result);
        context.out.result(result.wasBlocked ? `unblocked ${result.phone}; sessions revoked by the block stay revoked` : `${result.phone} was not blocked; nothing changed`);
      },
    );
  });
}

export async function remove(options: ChangeOptions & { overBlock?: boolean }, context: CommandContext, id: string): Promise<number> {
  return withUsers(context, async (users) => {
    const user = await account(users, id);
    await confirm(context, users, `delete the account of ${maskPhone(user.phone)} with its sessions and photos`, user.phone);
    await users.admin.delete(id, { ...(options.overBlock && { overBlock: true }), ...(options.reason && { reason: options.reason }) });
    context.out.resultJson({ userId: user.id, deleted: true });
    context.out.result(`deleted account ${user.id}`);
    return exitCodes.ok;
  });
}

export async function audit(options: { since?: string }, context: CommandContext): Promise<number> {
  const since = options.since === undefined ? undefined : new Date(parseTimeOption('--since', options.since, Date.now(), -1));
  return withUsers(context, async ({ admin }) => {
    const records = await admin.audit(since ? { since } : {});
    context.out.resultJson(records);
    context.out.result(
      records.length === 0
        ? 'no audit records in that time'
        : table([
            ['AT', 'ACTOR', 'ACTION', 'USER', 'PHONE', 'REASON'],
            ...records.map((r) => [r.at, r.actor, r.action, r.target.userId ?? '-', r.target.phone ?? '-', r.reason ?? '-']),
          ]),
    );
    return exitCodes.ok;
  });
}
