import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { auditDayKey } from '../adapters/dynamodb/keys.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoOperatorStore } from '../adapters/dynamodb/operator-store.js';
import { maskPhone } from '../core/phone.js';
import { routeDynamoClient } from '../local/dynamo-grants.js';
import { routeTableActions, userOperationsAccess } from '../manifest.js';
import { startTestService, testPhone, type TestService } from '../testing/harness.js';
import { UserAdmin, UserAdminError, normalizeOperatorPhone } from './user-admin.js';

/** The on-call operations against the real handlers: what they change is what the API then answers. */
describe('user operations', () => {
  let service: TestService;
  let admin: UserAdmin;
  /** The operations on the test service, with `clock` as the operator's machine's clock. */
  const adminWith = (clock: { now(): number }) =>
    new UserAdmin({
      dynamo: service.emulators.dynamo,
      s3: service.emulators.s3,
      tableNames: service.emulators.tableNames,
      bucketName: service.emulators.bucket,
      actor: 'local:oncall',
      clock,
    });
  beforeAll(async () => {
    service = await startTestService();
    admin = adminWith(service.clock);
  });
  afterAll(async () => {
    await service?.close();
  });

  const refresh = (refreshToken: string) => service.call('refresh', { body: { refreshToken } });
  const getMe = (token: string) => service.call('getMe', { token });
  const spellings = (phone: string) => [
    phone,
    `+1 (${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`,
    `  +1.${phone.slice(2, 5)}.${phone.slice(5, 8)}.${phone.slice(8)} `,
    `+11${phone.slice(2)}`,
  ];
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => (error instanceof UserAdminError ? error.code : error),
    );

  it('finds an account by any spelling of its number, as the service normalises it', async () => {
    const session = await service.login();
    for (const spelling of spellings(session.phone)) {
      expect(normalizeOperatorPhone(spelling)).toBe(session.phone);
      const found = await admin.find(spelling);
      expect(found.phone).toBe(session.phone);
      expect(found.user?.id).toBe(session.user.id);
      expect(found.user?.status).toBe('active');
    }
    expect(await refusal(admin.find('555-0100'))).toBe('invalid_phone');
    expect((await admin.find(testPhone())).user).toBeNull();
  });

  it('shows the profile and lists sessions without any token hash', async () => {
    const session = await service.login();
    service.clock.advance(31_000);
    const second = await service.login(session.phone);
    expect((await refresh(second.refreshToken)).status).toBe(200);
    const shown = await admin.show(session.user.id);
    expect(shown?.user).toMatchObject({ id: session.user.id, phone: session.phone, status: 'active', photoKey: null });
    const sessions = await admin.sessions(session.user.id);
    expect(sessions).toHaveLength(2);
    expect(sessions.map((s) => s.status)).toEqual(['active', 'active']);
    expect(sessions[0]!.lastRefreshAt).not.toBeNull(); // newest first: the one refreshed
    expect(sessions[1]!.lastRefreshAt).toBeNull();
    const hashes = (await service.scanAll()).flatMap((item) => [item.hash, item.head, item.previous]).filter(Boolean);
    const text = JSON.stringify(sessions);
    for (const hash of hashes) expect(text).not.toContain(String(hash));
    expect(await admin.show('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect(await refusal(admin.show('not-an-id'))).toBe('invalid_target');
  });

  it('revokes every session: access tokens already issued fail on their next request, refreshes fail', async () => {
    const session = await service.login();
    expect((await getMe(session.token)).status).toBe(200);
    const { revoked } = await admin.revoke(session.user.id, { reason: 'phone stolen' });
    expect(revoked).toHaveLength(1);
    expect((await getMe(session.token)).status).toBe(401);
    expect((await refresh(session.refreshToken)).status).toBe(401);
    expect((await admin.sessions(session.user.id))[0]).toMatchObject({ status: 'revoked', revokedReason: 'operator' });
    // The owner signs in again at once and is let in.
    service.clock.advance(31_000);
    const again = await service.login(session.phone);
    expect((await getMe(again.token)).status).toBe(200);
  });

  it('revokes one family and leaves the other device signed in', async () => {
    const first = await service.login();
    service.clock.advance(31_000);
    const second = await service.login(first.phone);
    const [newest, oldest] = await admin.sessions(first.user.id);
    await admin.revoke(first.user.id, { familyId: oldest!.familyId });
    expect((await refresh(first.refreshToken)).status).toBe(401);
    const kept = await refresh(second.refreshToken);
    expect(kept.status).toBe(200);
    expect((await getMe(kept.body.token)).status).toBe(200);
    expect((await admin.sessions(first.user.id)).find((s) => s.familyId === newest!.familyId)?.status).toBe('active');
    expect(await refusal(admin.revoke(first.user.id, { familyId: 'nope' }))).toBe('not_found');
  });

  it('expires access tokens only: the client refreshes and carries on', async () => {
    const session = await service.login();
    await admin.expireAccess(session.user.id);
    expect((await getMe(session.token)).status).toBe(401);
    const refreshed = await refresh(session.refreshToken);
    expect(refreshed.status).toBe(200);
    expect((await getMe(refreshed.body.token)).status).toBe(200);
  });

  it('does not lock a user out when the operator clock runs ahead of the service', async () => {
    const ahead = adminWith({ now: () => service.clock.now() + 10 * 60_000 });
    const session = await service.login();
    await ahead.expireAccess(session.user.id);
    expect((await getMe(session.token)).status).toBe(401);
    const refreshed = await refresh(session.refreshToken);
    expect(refreshed.status).toBe(200);
    expect((await getMe(refreshed.body.token)).status).toBe(200);
  });

  it('refuses after a second revoke a token issued between two revokes of the same second', async () => {
    service.clock.current = Math.floor(service.clock.now() / 1000) * 1000 + 5_100; // early in a second
    const session = await service.login();
    await admin.expireAccess(session.user.id);
    service.clock.advance(100);
    const between = await refresh(session.refreshToken);
    expect(between.status).toBe(200);
    expect((await getMe(between.body.token)).status).toBe(200);
    service.clock.advance(100); // the same second still
    await admin.expireAccess(session.user.id);
    expect((await getMe(between.body.token)).status).toBe(401);
    const after = await refresh(between.body.refreshToken);
    expect((await getMe(after.body.token)).status).toBe(200);
  });

  it('blocks an account by id: its token fails at once, refresh and every sign-in spelling answer account_blocked', async () => {
    const session = await service.login();
    const result = await admin.block(session.user.id, { reason: 'abuse report' });
    expect(result).toMatchObject({ userId: session.user.id, revokedFamilies: 1, until: null, phone: maskPhone(session.phone) });
    expect((await getMe(session.token)).status).toBe(401);
    const refused = await refresh(session.refreshToken);
    expect([refused.status, refused.body.error.code]).toEqual([403, 'account_blocked']);
    service.clock.advance(31_000);
    for (const phone of [session.phone, `+11${session.phone.slice(2)}`]) {
      const sent = await service.call('sendOtp', { body: { phone } });
      expect([sent.status, sent.body.error.code]).toEqual([403, 'account_blocked']);
    }
    expect((await admin.show(session.user.id))?.user.status).toBe('blocked');
    expect((await admin.find(session.phone)).block?.active).toBe(true);

    // Unblocked: the number signs in again; what the block revoked stays revoked.
    expect((await admin.unblock(session.phone)).wasBlocked).toBe(true);
    expect((await refresh(session.refreshToken)).status).toBe(401);
    expect((await getMe(session.token)).status).toBe(401);
    const again = await service.login(session.phone);
    expect(again.user.id).toBe(session.user.id);
    expect((await getMe(again.token)).status).toBe(200);
    expect((await admin.unblock(session.user.id)).wasBlocked).toBe(false);
  });

  it('forgets the code sent before a block: it signs in neither after an unblock nor after the block ends', async () => {
    for (const lift of ['unblock', 'end'] as const) {
      const session = await service.login();
      service.clock.advance(31_000);
      expect((await service.call('sendOtp', { body: { phone: session.phone } })).status).toBe(200);
      const code = service.outbox.latest(session.phone)!.code;
      await admin.block(session.phone, lift === 'end' ? { until: new Date(service.clock.now() + 5_000) } : {});
      if (lift === 'unblock') await admin.unblock(session.phone);
      else service.clock.advance(5_001);
      const verified = await service.call('verifyOtp', { body: { phone: session.phone, code } });
      expect({ lift, status: verified.status }).not.toEqual({ lift, status: 200 });
    }
  });

  it('refuses to replace a block that holds unless asked, and names it; an ended block is replaced freely', async () => {
    const phone = testPhone();
    await admin.block(phone, { reason: 'stolen phone' });
    const refused = await admin.block(phone, { until: new Date(service.clock.now() + 5_000) }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UserAdminError);
    expect((refused as UserAdminError).code).toBe('already_blocked');
    expect((refused as UserAdminError).message).toMatch(/until unblocked.*stolen phone/);
    expect((await admin.find(phone)).block).toMatchObject({ until: null, reason: 'stolen phone', active: true });
    const replaced = await admin.block(phone, { until: new Date(service.clock.now() + 5_000), replace: true });
    expect(replaced.until).not.toBeNull();
    service.clock.advance(5_001);
    expect((await admin.block(phone, { reason: 'again' })).until).toBeNull();
  });

  it('blocks a number no account holds: no code, no sign-in, no new account', async () => {
    const phone = testPhone();
    const result = await admin.block(spellings(phone)[1]!, { reason: 'SMS pumping' });
    expect(result.userId).toBeNull();
    const sent = await service.call('sendOtp', { body: { phone } });
    expect(sent.status).toBe(403);
    expect((await service.call('verifyOtp', { body: { phone, code: '123456' } })).status).toBe(403);
    expect((await admin.find(phone)).user).toBeNull();
  });

  it('ends a block with an end by itself: the user signs in again once it has passed', async () => {
    const session = await service.login();
    const until = new Date(service.clock.now() + 60 * 60_000);
    await admin.block(session.phone, { until });
    expect((await refresh(session.refreshToken)).status).toBe(403);
    service.clock.advance(60 * 60_000 + 1);
    expect((await admin.show(session.user.id))?.user.status).toBe('active');
    expect((await admin.find(session.phone)).block?.active).toBe(false);
    const again = await service.login(session.phone);
    expect((await getMe(again.token)).status).toBe(200);
    expect(await refusal(admin.block(session.phone, { until: new Date(service.clock.now() - 1) }))).toBe('invalid_until');
  });

  it('deletes as DELETE /profile/me does; a blocked account only when asked, and its number stays blocked', async () => {
    const plain = await service.login();
    await admin.delete(plain.user.id);
    expect(await admin.show(plain.user.id)).toBeUndefined();
    expect((await getMe(plain.token)).status).toBe(401);
    // Nothing names the account any more but the audit log, which keeps its id on purpose.
    const left = (await service.scanAll()).filter((item) => !String(item.pk).startsWith('audit#'));
    expect(left.filter((item) => JSON.stringify(item).includes(plain.user.id))).toEqual([]);

    const blocked = await service.login();
    await admin.block(blocked.user.id);
    expect(await refusal(admin.delete(blocked.user.id))).toBe('blocked');
    expect((await admin.show(blocked.user.id))?.user.status).toBe('blocked');
    await admin.delete(blocked.user.id, { overBlock: true, reason: 'user asked, by email' });
    expect(await admin.show(blocked.user.id)).toBeUndefined();
    service.clock.advance(31_000);
    expect((await service.call('sendOtp', { body: { phone: blocked.phone } })).status).toBe(403);
    expect(await refusal(admin.delete('00000000-0000-4000-8000-000000000000'))).toBe('not_found');
  });

  it('leaves nothing usable when refreshes race a block or a revoke (looped)', async () => {
    for (let run = 0; run < 8; run++) {
      const session = await service.login();
      const change = run % 2 === 0 ? () => admin.block(session.user.id) : () => admin.revoke(session.user.id);
      const [results] = await Promise.all([
        Promise.all(Array.from({ length: 4 }, () => refresh(session.refreshToken))),
        change(),
      ]);
      // Once the block or revoke has answered, no token from before or from the race works.
      const tokens = [session.token, ...results.filter((r) => r.status === 200).map((r) => r.body.token as string)];
      for (const token of tokens) expect((await getMe(token)).status).toBe(401);
      const refreshTokens = [session.refreshToken, ...results.filter((r) => r.status === 200).map((r) => r.body.refreshToken as string)];
      for (const refreshToken of refreshTokens) expect([401, 403]).toContain((await refresh(refreshToken)).status);
      if (run % 2 === 0) await admin.unblock(session.user.id);
    }
  });

  it('leaves no session usable after an unblock when the block failed between its writes, and audits it first', async () => {
    const since = new Date(service.clock.now());
    const session = await service.login();
    const client = service.emulators.dynamo;
    const name = 'failBlockMidway';
    // Whichever of the block's writes to the user or its families comes after the number's block fails:
    // as a Ctrl-C, a lost network or a throttle between two writes.
    let writes = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: { pk?: { S?: string } } };
        const pk = input.Key?.pk?.S ?? '';
        if (context.commandName === 'UpdateItemCommand' && (pk.startsWith('user#') || pk.startsWith('family#'))) {
          writes += 1;
          if (writes === 1) throw new Error('injected failure');
        }
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      await expect(admin.block(session.user.id, { reason: 'stolen' })).rejects.toThrow('injected failure');
    } finally {
      client.middlewareStack.remove(name);
    }
    expect((await admin.audit({ since })).filter((r) => r.target.userId === session.user.id).map((r) => r.action)).toContain('block');
    await admin.unblock(session.user.id);
    expect((await refresh(session.refreshToken)).status).toBe(401);
    expect((await getMe(session.token)).status).toBe(401);
  });

  it('revokes on unblock the families a block cut short left active, so the unblock gives them nothing back', async () => {
    const session = await service.login();
    // The account marked blocked with its family still active, as a block cut short leaves it.
    await new DynamoOperatorStore(service.emulators.dynamo, service.emulators.tableNames).blockUser(session.user.id, undefined);
    const refused = await refresh(session.refreshToken);
    expect(refused.status).toBe(403);
    await admin.unblock(session.phone);
    expect((await refresh(session.refreshToken)).status).toBe(401);
  });

  it('says what was and was not done when the audit or a later write fails, as refusals with a code', async () => {
    const session = await service.login();
    const client = service.emulators.dynamo;
    const name = 'failOneWrite';
    const failing = (pkPrefix: string) =>
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const pk = (args.input as { Key?: { pk?: { S?: string } } }).Key?.pk?.S ?? '';
          if (context.commandName === 'UpdateItemCommand' && pk.startsWith(pkPrefix)) throw new Error('injected failure');
          return next(args);
        },
        { step: 'initialize', name },
      );
    const attempt = async (pkPrefix: string) => {
      failing(pkPrefix);
      try {
        return await admin.expireAccess(session.user.id).then(() => undefined, (error: unknown) => error as UserAdminError);
      } finally {
        client.middlewareStack.remove(name);
      }
    };
    const auditFailed = await attempt('audit#');
    expect([auditFailed?.code, auditFailed?.message]).toEqual(['audit_failed', expect.stringMatching(/nothing was changed.*injected failure/)]);
    expect((await admin.show(session.user.id))?.user.accessEpoch).toBe(0);
    const incomplete = await attempt('user#');
    expect([incomplete?.code, incomplete?.message]).toEqual(['incomplete', expect.stringMatching(/audited.*injected failure/)]);
  });

  it('masks a number in a reason in any spelling: other separators, fullwidth digits', async () => {
    const session = await service.login();
    const since = new Date(service.clock.now());
    const spellings = ['+1/415/555/0123', '+1_415_555_0123', '４１５５５５０１２３', '+1 415 555 0123', '415.555.0123 ext'];
    await admin.expireAccess(session.user.id, { reason: `calls from ${spellings.join(' and ')}; ticket 4711` });
    const [record] = (await admin.audit({ since })).filter((r) => r.target.userId === session.user.id);
    const digits = record!.reason!.normalize('NFKC');
    expect(digits).toContain('ticket 4711');
    // No run of 7 digits is left, whatever separates them (the masks' dots aside).
    expect(digits).not.toMatch(/\d(?:[^\p{L}\d•]{0,3}\d){6}/u);
    expect(digits).not.toContain('555');
  });

  it('keeps auditing once a day has filled its item, and lists that day in order', async () => {
    const since = new Date(service.clock.now());
    const day = since.toISOString().slice(0, 10);
    // The day's item as an earlier version left it after a busy day: records with the longest
    // reason, as many as DynamoDB's 400 KB item limit takes.
    const filler = {
      actor: 'arn:aws:sts::333333333333:assumed-role/OnCall/alice',
      action: 'revoke',
      target: {},
      at: since.toISOString(),
      reason: 'x'.repeat(500),
    };
    const fill = (count: number) =>
      service.emulators.dynamo.send(
        new PutItemCommand({
          TableName: service.emulators.tableNames.users,
          Item: marshall({ pk: auditDayKey(day), records: Array.from({ length: count }, () => filler) }),
        }),
      );
    const fits = (count: number) => fill(count).then(() => true, () => false);
    let count = 100;
    for (const step of [100, 10, 1]) while (await fits(count + step)) count += step;
    await fill(count);
    const session = await service.login();
    const reason = 'r'.repeat(500);
    for (let i = 0; i < 20; i++) await admin.expireAccess(session.user.id, { reason });
    await admin.revoke(session.user.id, { reason: 'and again' });
    const mine = (await admin.audit({ since })).filter((record) => record.target.userId === session.user.id);
    expect(mine.map((record) => record.action)).toEqual([...Array.from({ length: 20 }, () => 'expire-access'), 'revoke']);
  });

  it('audits every change with actor, action, target, time and reason, and never a full number or token', async () => {
    const since = new Date(service.clock.now());
    const session = await service.login();
    await admin.expireAccess(session.user.id, { reason: 'testing' });
    await admin.revoke(session.user.id, { reason: `stolen, owner called from ${session.phone}, token ${session.refreshToken}` });
    await admin.block(session.phone, { reason: 'stolen' });
    await admin.unblock(session.phone);
    await admin.delete(session.user.id);
    const records = (await admin.audit({ since })).filter((record) => record.target.userId === session.user.id);
    expect(records.map((record) => record.action)).toEqual(['expire-access', 'revoke', 'block', 'unblock', 'delete']);
    for (const record of records) {
      expect(record).toMatchObject({ actor: 'local:oncall', target: { userId: session.user.id, phone: maskPhone(session.phone) } });
      expect(Date.parse(record.at)).toBeGreaterThanOrEqual(since.getTime());
    }
    const stored = JSON.stringify(await service.scanAll());
    const text = JSON.stringify(records);
    for (const secret of [session.phone, session.phone.slice(1), session.refreshToken, session.token]) {
      expect(text).not.toContain(secret);
    }
    expect(stored.match(/audit#/g)?.length).toBeGreaterThan(0);
    expect(records[1]!.reason).toBe(`stolen, owner called from ${maskPhone(session.phone)}, token [redacted]`);
    // Reads change nothing and write no record.
    const count = (await admin.audit({ since })).length;
    await admin.find(session.phone);
    await admin.sessions(session.user.id);
    expect((await admin.audit({ since })).length).toBe(count);
  });
});

/**
 * The on-call role's grants (`userOperationsAccess`, which infra turns into the optional on-call
 * policy) against what the operations send: run with a client held to those grants, as IAM would,
 * every operation works, and every granted action is one they send.
 */
describe('the on-call grants are exactly what the operations send', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('grants each DynamoDB and S3 action the operations send, and no other', async () => {
    const sent = new Set<string>();
    const tableIds = new Map(Object.entries(service.emulators.tableNames).map(([id, name]) => [name, id]));
    const dynamo = routeDynamoClient(service.emulators.dynamoEndpoint, service.emulators.tableNames, {
      id: 'userOperations',
      access: userOperationsAccess,
    });
    dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { TableName?: string; RequestItems?: Record<string, unknown> };
        for (const table of input.TableName ? [input.TableName] : Object.keys(input.RequestItems ?? {})) {
          sent.add(`${tableIds.get(table)}:${String(context.commandName).replace(/Command$/, '')}`);
        }
        return next(args);
      },
      { step: 'initialize', name: 'recordGrantsUsed' },
    );
    const s3Sent = new Set<string>();
    service.emulators.s3.middlewareStack.add(
      (next, context) => async (args) => {
        s3Sent.add(String(context.commandName).replace(/Command$/, ''));
        return next(args);
      },
      { step: 'initialize', name: 'recordS3Used' },
    );
    const admin = new UserAdmin({
      dynamo,
      s3: service.emulators.s3,
      tableNames: service.emulators.tableNames,
      bucketName: service.emulators.bucket,
      actor: 'local:grants',
      clock: service.clock,
    });
    try {
      const first = await service.login();
      service.clock.advance(31_000);
      await service.login(first.phone);
      await service.emulators.s3.send(
        new PutObjectCommand({ Bucket: service.emulators.bucket, Key: `avatar/${first.user.id}/a.png`, Body: 'x' }),
      );
      await admin.find(first.phone);
      await admin.show(first.user.id);
      const [family] = await admin.sessions(first.user.id);
      await admin.revoke(first.user.id, { familyId: family!.familyId });
      await admin.revoke(first.user.id);
      await admin.expireAccess(first.user.id);
      await admin.block(first.user.id, { until: new Date(service.clock.now() + 60_000) });
      await admin.unblock(first.phone);
      await admin.block(first.phone);
      await admin.delete(first.user.id, { overBlock: true });
      await admin.audit();
    } finally {
      dynamo.destroy();
    }

    const granted = Object.entries(routeTableActions({ access: userOperationsAccess })).flatMap(([table, actions]) =>
      actions!.map((action) => `${table}:${action}`),
    );
    expect([...sent].sort()).toEqual(granted.sort());
    // S3 authorizes ListObjectsV2 as s3:ListBucket and DeleteObjects as s3:DeleteObject per key.
    const s3Actions: Record<string, string> = { ListObjectsV2: 'list', DeleteObjects: 'delete', PutObject: 'put' };
    const s3Used = [...s3Sent].filter((command) => command !== 'PutObject').map((command) => s3Actions[command] ?? command);
    expect(s3Used.sort()).toEqual([...(userOperationsAccess.bucket ?? [])].sort());
  });
});
