/**
 * `chatshyld secrets …` as a user runs it (node bin/chatshyld, CI set, no stdin) against moto's
 * SSM, KMS and STS: a temp project whose dev stage names moto's account and region and a KMS key
 * made in moto. Two rotations in a row with a Ctrl-C in the middle of one, two admins rotating at
 * once, and a revocation while a rotation waits (DESIGN §5).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParameterCommand, GetParameterHistoryCommand, SSMClient } from '@aws-sdk/client-ssm';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../infra/testing/moto/server.js';
import { parseKeyRing, type CurrentKeyRingDocument } from '../service/core/key-ring.js';
import { runCli, startCli, type CliResult } from './testing/run-cli.js';

const account = '111111111111';
let moto: Moto;
let ssm: SSMClient;
let keyId: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  moto = await startMoto({ accountId: account });
  const config = { endpoint: moto.endpoint, region: moto.region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  ssm = new SSMClient(config);
  const kms = new KMSClient(config);
  keyId = (await kms.send(new CreateKeyCommand({ Description: 'chatshyld dev secrets' }))).KeyMetadata!.KeyId!;
  kms.destroy();
});
afterAll(async () => {
  ssm?.destroy();
  await Promise.all(cleanups.map((cleanup) => cleanup()));
  await moto?.close();
});

/** A project whose `stage` lives in moto's account, with the stage key as docs/secrets.md says. */
async function project(stage: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'chatshyld-secrets-moto-'));
  cleanups.push(() => rm(folder, { recursive: true, force: true }));
  const config = {
    project: 'chatshyld',
    stages: {
      [stage]: {
        account,
        region: moto.region,
        protected: false,
        allowTestNumbers: true,
        // A rotation waits the cache age plus 2 s, twice: 3 s each here.
        secretsCacheSeconds: 1,
        kmsKeyId: `arn:aws:kms:${moto.region}:${account}:key/${keyId}`,
      },
    },
  };
  await writeFile(join(folder, 'chatshyld.config.json'), JSON.stringify(config, null, 2));
  return folder;
}

const cli = (folder: string, args: string[]) => runCli(args, { cwd: folder, env: moto.env(), timeoutMs: 60_000 });

async function ring(stage: string): Promise<CurrentKeyRingDocument> {
  const { Parameter } = await ssm.send(new GetParameterCommand({ Name: `/chatshyld/${stage}/jwt-secret`, WithDecryption: true }));
  parseKeyRing('jwt-secret', Parameter!.Value!); // well-formed, as functions read it
  return JSON.parse(Parameter!.Value!) as CurrentKeyRingDocument;
}

async function lockIsFree(stage: string): Promise<boolean> {
  return ssm.send(new GetParameterCommand({ Name: `/chatshyld/${stage}/locks/jwt-secret` })).then(
    () => false,
    (error: Error) => error.name === 'ParameterNotFound',
  );
}

/** Starts `secrets rotate` and resolves once its stderr says `pattern`, with the child still running. */
function startRotation(folder: string, stage: string, pattern: RegExp) {
  const started = startCli(['secrets', 'rotate', 'jwt-secret', '--stage', stage], { cwd: folder, env: moto.env(), timeoutMs: 60_000 });
  const reached = new Promise<void>((resolve, reject) => {
    let stderr = '';
    started.child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (pattern.test(stderr)) resolve();
    });
    started.result.then((result) => reject(new Error(`rotate ended (${result.code}) before ${pattern}:\n${result.stderr}`)), reject);
  });
  return { ...started, reached };
}

const expectOk = (result: CliResult) => expect(result, result.stderr).toMatchObject({ code: 0 });

describe("chatshyld secrets on moto's SSM", () => {
  it('init, set, list, history, rotate twice with a Ctrl-C in the middle of one, and rollback', { timeout: 120_000 }, async () => {
    const folder = await project('dev');

    const init = await cli(folder, ['secrets', 'init', '--stage', 'dev', '--json']);
    expectOk(init);
    expect(JSON.parse(init.stdout)).toEqual([
      { name: 'jwt-secret', action: 'created' },
      { name: 'refresh-pepper', action: 'created' },
      { name: 'twilio', action: 'missing' },
      { name: 'test-numbers', action: 'created' },
    ]);
    // SecureString under the stage's key, as SSM records it.
    for (const name of ['jwt-secret', 'refresh-pepper', 'test-numbers']) {
      const { Parameters } = await ssm.send(new GetParameterHistoryCommand({ Name: `/chatshyld/dev/${name}` }));
      expect(Parameters!.map((entry) => [entry.Type, entry.KeyId])).toEqual([['SecureString', `arn:aws:kms:${moto.region}:${account}:key/${keyId}`]]);
    }
    // A second init keeps everything.
    const again = await cli(folder, ['secrets', 'init', '--stage', 'dev', '--json']);
    expect(JSON.parse(again.stdout).filter((entry: { action: string }) => entry.action === 'created')).toEqual([]);

    const numbers = join(folder, 'numbers.json');
    await writeFile(numbers, JSON.stringify([{ phone: '+14155550166', code: '246810', expiresAt: new Date(Date.now() + 86_400_000).toISOString() }]));
    const set = await cli(folder, ['secrets', 'set', 'test-numbers', '--stage', 'dev', '--from-file', numbers, '--json']);
    expectOk(set);
    expect(JSON.parse(set.stdout)).toMatchObject({ name: 'test-numbers', version: 2, wellFormed: true });
    expect(set.stdout).not.toContain('246810');

    const list = await cli(folder, ['secrets', 'list', '--stage', 'dev', '--json']);
    expectOk(list);
    expect(JSON.parse(list.stdout).map((entry: { name: string; version?: number; wellFormed?: boolean }) => [entry.name, entry.version, entry.wellFormed])).toEqual([
      ['jwt-secret', 1, true],
      ['refresh-pepper', 1, true],
      ['twilio', undefined, undefined],
      ['test-numbers', 2, true],
    ]);
    expect(list.stdout).not.toMatch(/"secret"|246810/);

    const original = (await ring('dev')).current.kid;
    const first = await cli(folder, ['secrets', 'rotate', 'jwt-secret', '--stage', 'dev', '--json']);
    expectOk(first);
    const firstOutcome = JSON.parse(first.stdout) as { newKid: string; previousKid: string; versions: number[] };
    expect(firstOutcome).toMatchObject({ previousKid: original, versions: [2, 3] });
    expect((await ring('dev')).current.kid).toBe(firstOutcome.newKid);

    // Ctrl-C during the first wait of the second rotation.
    const second = startRotation(folder, 'dev', /published \S+ \(verify only/);
    await second.reached;
    second.child.kill('SIGINT');
    const interrupted = await second.result;
    expect(interrupted.code, interrupted.stderr).toBe(130);
    expect(interrupted.stderr).toMatch(/interrupted: (\S+) is published \(verify only\); the signing key is unchanged/);
    const published = /interrupted: (\S+) is published/.exec(interrupted.stderr)![1]!;
    const held = await ring('dev');
    expect(held.current.kid).toBe(firstOutcome.newKid);
    expect(held.verifyOnly.map((key) => [key.kid, key.retiredAt === undefined])).toEqual([
      [original, false],
      [published, true],
    ]);
    expect(await lockIsFree('dev')).toBe(true);

    // The next rotate finishes that one, with the key it published.
    const third = await cli(folder, ['secrets', 'rotate', 'jwt-secret', '--stage', 'dev', '--json']);
    expectOk(third);
    expect(third.stderr).toContain(`resuming the rotation to ${published}`);
    expect(JSON.parse(third.stdout)).toMatchObject({ newKid: published, previousKid: firstOutcome.newKid, versions: [5] });
    const finished = await ring('dev');
    expect(finished.current.kid).toBe(published);
    expect(finished.verifyOnly.map((key) => key.kid).sort()).toEqual([original, firstOutcome.newKid].sort());

    const history = await cli(folder, ['secrets', 'history', 'jwt-secret', '--stage', 'dev', '--json']);
    expectOk(history);
    expect(JSON.parse(history.stdout).map((entry: { version: number; wellFormed: boolean }) => [entry.version, entry.wellFormed])).toEqual([
      [1, true],
      [2, true],
      [3, true],
      [4, true],
      [5, true],
    ]);

    // A rollback needs confirmation; with no terminal and no --yes nothing is written.
    const refused = await cli(folder, ['secrets', 'rollback', 'jwt-secret', '--stage', 'dev', '--to-version', '3']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/hint: pass --yes/);
    const rolled = await cli(folder, ['secrets', 'rollback', 'jwt-secret', '--stage', 'dev', '--to-version', '3', '--yes', '--json']);
    expectOk(rolled);
    expect(JSON.parse(rolled.stdout)).toMatchObject({ version: 6, rolledBackTo: 3 });
    expect((await ring('dev')).current.kid).toBe(firstOutcome.newKid);
    const { Parameters } = await ssm.send(new GetParameterHistoryCommand({ Name: '/chatshyld/dev/jwt-secret' }));
    expect(Parameters!.map((entry) => entry.KeyId)).toEqual(Array(6).fill(`arn:aws:kms:${moto.region}:${account}:key/${keyId}`));
  });

  it('two admins rotating at once leave one consistent ring, and a revocation during a rotation is never undone', { timeout: 120_000 }, async () => {
    // A stage of its own: the same account, other parameters.
    const folder = await project('race');
    const run = (args: string[]) => cli(folder, args);
    expectOk(await run(['secrets', 'init', '--stage', 'race']));
    const original = (await ring('race')).current.kid;

    const [alice, bob] = await Promise.all([
      run(['secrets', 'rotate', 'jwt-secret', '--stage', 'race', '--json']),
      run(['secrets', 'rotate', 'jwt-secret', '--stage', 'race', '--json']),
    ]);
    expectOk(alice);
    expectOk(bob);
    const outcomes = [alice, bob].map((result) => JSON.parse(result.stdout) as { newKid: string });
    const rotated = await ring('race');
    expect(outcomes.map((outcome) => outcome.newKid)).toContain(rotated.current.kid);
    const kids = [rotated.current.kid, ...rotated.verifyOnly.map((key) => key.kid)].sort();
    expect(kids).toEqual([...new Set([original, ...outcomes.map((outcome) => outcome.newKid)])].sort());
    expect(await lockIsFree('race')).toBe(true);

    // Carol revokes every key while dave's rotation waits to promote the key it published.
    const dave = startRotation(folder, 'race', /published \S+ \(verify only/);
    await dave.reached;
    const before = await ring('race');
    const carol = await run(['secrets', 'rotate', 'jwt-secret', '--stage', 'race', '--revoke-previous', '--yes', '--json']);
    expectOk(carol);
    const revokedTo = (JSON.parse(carol.stdout) as { newKid: string }).newKid;
    const daveResult = await dave.result;
    expect(daveResult.code, daveResult.stderr).toBe(2);
    expect(daveResult.stderr).toMatch(/is no longer in the ring: it was revoked at .* while this rotation waited; nothing was promoted/);
    const after = await ring('race');
    expect(after.current.kid).toBe(revokedTo);
    expect(after.verifyOnly).toEqual([]);
    const heldBefore = [before.current.kid, ...before.verifyOnly.map((key) => key.kid)];
    expect(after.revoked.map((entry) => entry.kid).sort()).toEqual(heldBefore.sort());
    expect(await lockIsFree('race')).toBe(true);
  });
});
