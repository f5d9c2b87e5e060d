import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { phoneBlockKey, userKey } from '../adapters/dynamodb/keys.js';
import { startTestService, testPhone, type TestService } from '../testing/harness.js';

/**
 * What the service does with an operator's block and revocation epoch (issue 14). The items are
 * written here as the operations module writes them, so these tests hold the service alone.
 */
describe('blocked numbers and accounts', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  const send = (phone: string) => service.call('sendOtp', { body: { phone } });
  const verify = (phone: string, code: string) => service.call('verifyOtp', { body: { phone, code } });
  const refresh = (refreshToken: string) => service.call('refresh', { body: { refreshToken } });
  const blockPhone = (phone: string, until?: number) =>
    service.emulators.dynamo.send(
      new PutItemCommand({
        TableName: service.emulators.tableNames.users,
        Item: marshall({ pk: phoneBlockKey(phone), phone, blockedAt: service.clock.now(), ...(until && { until }) }),
      }),
    );
  const setUser = (userId: string, attributes: Record<string, unknown>) =>
    service.emulators.dynamo.send(
      new UpdateItemCommand({
        TableName: service.emulators.tableNames.users,
        Key: marshall({ pk: userKey(userId) }),
        UpdateExpression: `SET ${Object.keys(attributes).map((name) => `#${name} = :${name}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(Object.keys(attributes).map((name) => [`#${name}`, name])),
        ExpressionAttributeValues: marshall(Object.fromEntries(Object.entries(attributes).map(([k, v]) => [`:${k}`, v]))),
      }),
    );
  const expectBlocked = (response: { status: number; body: any }) => {
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('account_blocked');
  };

  it('sends no code to a blocked number, under any spelling, and makes no account for it', async () => {
    const phone = testPhone(); // +1415…, also written with the NANP trunk 1 after the country code
    await blockPhone(phone);
    for (const spelling of [phone, `+11${phone.slice(2)}`]) {
      expectBlocked(await send(spelling));
    }
    expect(service.outbox.latest(phone)).toBeUndefined();
    expectBlocked(await verify(phone, '123456'));
    const items = await service.scanAll();
    expect(items.filter((item) => item.pk === `phone#${phone}` || item.phone === phone).map((item) => item.pk)).toEqual([
      phoneBlockKey(phone),
    ]);
  });

  it('answers a blocked number 403, not 429, inside the cooldown too, and its refused sends spend none of its limits', async () => {
    const phone = testPhone();
    const ip = '10.94.0.1';
    const sendFrom = () => service.call('sendOtp', { body: { phone }, ip });
    expect((await sendFrom()).status).toBe(200);
    await blockPhone(phone, service.clock.now() + 40_000);
    for (let i = 0; i < 5; i++) expectBlocked(await sendFrom());
    service.clock.advance(31_000);
    for (let i = 0; i < 12; i++) expectBlocked(await sendFrom());
    // Block ended 10 s after those sends: they opened no cooldown...
    service.clock.advance(10_000);
    expect((await sendFrom()).status).toBe(200);
    // ...and spent none of this source's 3 an hour.
    service.clock.advance(31_000);
    expect((await sendFrom()).status).toBe(200);
  });

  it('answers a blocked number 403 from an address over its per-IP limit, however often it asks', async () => {
    const busy = '10.94.1.1';
    for (let i = 0; i < 30; i++) expect((await service.call('sendOtp', { body: { phone: testPhone() }, ip: busy })).status).toBe(200);
    const phone = testPhone();
    await blockPhone(phone);
    // The first refusal is the limiter's, the rest are remembered: the block is read for each.
    for (let i = 0; i < 3; i++) expectBlocked(await service.call('sendOtp', { body: { phone }, ip: busy }));
    expect((await service.call('sendOtp', { body: { phone: testPhone() }, ip: busy })).status).toBe(429);
  });

  it('refuses the sign-in with a code sent before the block, and starts no session', async () => {
    const phone = testPhone();
    expect((await send(phone)).status).toBe(200);
    const code = service.outbox.latest(phone)!.code;
    await blockPhone(phone);
    expectBlocked(await verify(phone, code));
    expect((await service.scanAll()).filter((item) => item.kind === 'family')).not.toContainEqual(
      expect.objectContaining({ status: 'active', userId: expect.anything() }),
    );
  });

  it('refuses a login whose number is blocked while it claims the number (the block finds no account yet)', async () => {
    const phone = testPhone();
    expect((await send(phone)).status).toBe(200);
    const code = service.outbox.latest(phone)!.code;
    // The block lands after verify-otp's first look and before its claim: as an operator's block
    // that read the claim just before the login wrote it.
    const client = service.routeDynamo.verifyOtp;
    const name = 'blockDuringClaim';
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Item?: { pk?: { S?: string } } };
        if (context.commandName === 'PutItemCommand' && input.Item?.pk?.S === `phone#${phone}`) await blockPhone(phone);
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      expectBlocked(await verify(phone, code));
    } finally {
      client.middlewareStack.remove(name);
    }
    const families = (await service.scanAll()).filter((item) => item.kind === 'family' || item.kind === 'token');
    const owner = (await service.scanAll()).find((item) => item.pk === `phone#${phone}`)?.userId;
    expect(owner).toBeDefined();
    expect(families.filter((item) => item.userId === owner)).toEqual([]);
  });

  it('answers a blocked number 403 on verify from an address over its per-IP limit, even when the block read is the slower', async () => {
    const phone = testPhone();
    const busy = '10.94.2.1';
    for (let i = 0; i < 60; i++) {
      expect((await service.call('verifyOtp', { body: { phone: testPhone(), code: '123456' }, ip: busy })).status).toBe(401);
    }
    await blockPhone(phone);
    // DynamoDB's latency varies per call: here the block read answers after the per-IP refusal.
    const client = service.routeDynamo.verifyOtp;
    const name = 'slowBlockRead';
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: { pk?: { S?: string } } };
        if (context.commandName === 'GetItemCommand' && input.Key?.pk?.S === phoneBlockKey(phone)) {
          await new Promise((resolve) => setTimeout(resolve, 40));
        }
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      for (let i = 0; i < 3; i++) expectBlocked(await service.call('verifyOtp', { body: { phone, code: '123456' }, ip: busy }));
    } finally {
      client.middlewareStack.remove(name);
    }
  });

  it('lets a number in again once its block has ended, compared with the clock (TTL removes it later)', async () => {
    const phone = testPhone();
    await blockPhone(phone, service.clock.now() + 60_000);
    expectBlocked(await send(phone));
    service.clock.advance(60_001);
    expect((await send(phone)).status).toBe(200);
    expect((await verify(phone, service.outbox.latest(phone)!.code)).status).toBe(200);
  });

  it('answers a blocked account refresh with 403 account_blocked and every bearer route with 401', async () => {
    const session = await service.login();
    await setUser(session.user.id, { status: 'blocked' });
    expectBlocked(await refresh(session.refreshToken));
    expect((await service.call('getMe', { token: session.token })).status).toBe(401);
    expect((await service.call('patchMe', { token: session.token, body: { name: 'X' } })).status).toBe(401);
    expect((await service.call('presignAvatar', { token: session.token, body: { contentType: 'image/png' } })).status).toBe(401);
    expect((await service.call('deleteMe', { token: session.token })).status).toBe(401);
  });

  it('opens an account again when its block ends by itself', async () => {
    const session = await service.login();
    await setUser(session.user.id, { status: 'blocked', blockedUntil: service.clock.now() + 5_000 });
    expect((await service.call('getMe', { token: session.token })).status).toBe(401);
    expectBlocked(await refresh(session.refreshToken));
    service.clock.advance(5_001);
    expect((await service.call('getMe', { token: session.token })).status).toBe(200);
    const refreshed = await refresh(session.refreshToken);
    expect(refreshed.status).toBe(200);
    // A PATCH keeps the ended block as it is, and the user may delete the account again.
    expect((await service.call('patchMe', { token: refreshed.body.token, body: { name: 'Back' } })).status).toBe(200);
    expect((await service.call('deleteMe', { token: refreshed.body.token })).status).toBe(204);
  });
});

describe('the revocation epoch', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service?.close();
  });

  /** As the operations write it: one more on the account's revocation epoch. */
  const bumpEpoch = (userId: string) =>
    service.emulators.dynamo.send(
      new UpdateItemCommand({
        TableName: service.emulators.tableNames.users,
        Key: marshall({ pk: userKey(userId) }),
        UpdateExpression: 'ADD accessEpoch :one',
        ExpressionAttributeValues: marshall({ ':one': 1 }),
      }),
    );
  const second = (ms: number) => Math.floor(ms / 1000) * 1000;

  it('refuses a token issued before the epoch was raised, in that very second too, and takes one issued after it', async () => {
    service.clock.current = second(service.clock.now()) + 10_100; // 100 ms into a second
    const session = await service.login();
    service.clock.advance(200);
    const markedAt = service.clock.now(); // the same second as the token's iat
    await bumpEpoch(session.user.id);
    service.clock.advance(100);

    for (const [routeId, options] of [
      ['getMe', {}],
      ['patchMe', { body: { name: 'Old token' } }],
      ['presignAvatar', { body: { contentType: 'image/png' } }],
      ['deleteMe', {}],
    ] as const) {
      expect({ routeId, status: (await service.call(routeId, { token: session.token, ...options })).status }).toEqual({
        routeId,
        status: 401,
      });
    }

    // Still in the same second: a refresh reads the epoch, and its token passes.
    const refreshed = await service.call('refresh', { body: { refreshToken: session.refreshToken } });
    expect(refreshed.status).toBe(200);
    expect(second(service.clock.now())).toBe(second(markedAt));
    expect((await service.call('getMe', { token: refreshed.body.token })).status).toBe(200);
    // So does a new login's.
    service.clock.advance(31_000);
    const again = await service.login(session.phone);
    expect((await service.call('getMe', { token: again.token })).status).toBe(200);
    // The user's own PATCH keeps the epoch: the old token stays refused.
    expect((await service.call('patchMe', { token: again.token, body: { name: 'New' } })).status).toBe(200);
    expect((await service.call('getMe', { token: session.token })).status).toBe(401);
  });

  it('refuses a token issued in an earlier second than the epoch was raised, and leaves refresh tokens working', async () => {
    const session = await service.login();
    service.clock.advance(1_500);
    await bumpEpoch(session.user.id);
    expect((await service.call('getMe', { token: session.token })).status).toBe(401);
    const refreshed = await service.call('refresh', { body: { refreshToken: session.refreshToken } });
    expect(refreshed.status).toBe(200);
    expect((await service.call('getMe', { token: refreshed.body.token })).status).toBe(200);
  });
});
