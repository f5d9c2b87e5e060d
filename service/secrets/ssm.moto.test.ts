/**
 * The SSM secret store against moto's server: what the hand-written fake (testing/fake-ssm.ts) only
 * modelled — versions numbered by SSM, a second create of the lock refused, history and its pages,
 * the 100-version limit with a labelled oldest version, SecureString under the stage's KMS key — is
 * answered here by moto, with no model of ours in between. docs/aws-fidelity.md lists what moto does
 * not check (KMS key existence, tier sizes, the caller in LastModifiedUser).
 */
import {
  GetParameterCommand,
  GetParameterHistoryCommand,
  LabelParameterVersionCommand,
  PutParameterCommand,
  SSMClient,
  UnlabelParameterVersionCommand,
} from '@aws-sdk/client-ssm';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../../infra/testing/moto/server.js';
import { secretParameterName } from '../manifest.js';
import { ConcurrentChangeError, type SecretAdminStore } from './admin-store.js';
import { SsmSecretAdminStore, VersionLimitError } from './ssm-admin-store.js';
import { describeAdminRaces, raceLockTiming } from './testing/admin-races.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

let moto: Moto;
let client: SSMClient;
let stages = 0;
/** A stage no other test of this file uses: its own parameters and locks. */
const freshStage = () => `moto${(stages += 1)}`;

beforeAll(async () => {
  moto = await startMoto({ accountId: '111111111111' });
  client = new SSMClient(motoConfig());
});
afterAll(async () => {
  client?.destroy();
  await moto?.close();
});

function motoConfig() {
  return { endpoint: moto.endpoint, region: moto.region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
}

describeAdminRaces("SSM on moto's server", async () => {
  const stage = freshStage();
  return {
    admin: (who) => new SsmSecretAdminStore(client, stage, undefined, who, raceLockTiming),
    holdLock: async (owner, leaseUntil) => {
      await client.send(
        new PutParameterCommand({
          Name: `/chatshyld/${stage}/locks/jwt-secret`,
          Type: 'String',
          Overwrite: true,
          Value: JSON.stringify({ owner, token: 'someone-else', leaseUntil: leaseUntil.toISOString() }),
        }),
      );
    },
  };
});

describe("the SSM secret store on moto's server", () => {
  it("writes SecureStrings under the stage's KMS key, one version per write, history oldest first", async () => {
    const kms = new KMSClient(motoConfig());
    const key = (await kms.send(new CreateKeyCommand({ Description: 'chatshyld dev secrets' }))).KeyMetadata!;
    kms.destroy();
    const stage = freshStage();
    const store = new SsmSecretAdminStore(client, stage, key.KeyId, 'alice');
    for (const value of ['[]', '[1]', '[1,2]']) await store.put('test-numbers', value);

    const Name = secretParameterName(stage, 'test-numbers');
    const raw = await client.send(new GetParameterHistoryCommand({ Name }));
    expect(raw.Parameters!.map((entry) => [entry.Version, entry.Type, entry.KeyId])).toEqual([
      [1, 'SecureString', key.KeyId],
      [2, 'SecureString', key.KeyId],
      [3, 'SecureString', key.KeyId],
    ]);
    // Stored encrypted: without decryption SSM does not hand the value out.
    expect((await client.send(new GetParameterCommand({ Name }))).Parameter!.Value).not.toBe('[1,2]');
    expect((await store.history('test-numbers')).map((record) => [record.version, record.value])).toEqual([
      [1, '[]'],
      [2, '[1]'],
      [3, '[1,2]'],
    ]);
  });

  it('concurrent writers each apply their change to the latest version: 3 admins × 4 increments make 12 versions, none lost', async () => {
    const stage = freshStage();
    const admins = ['alice', 'bob', 'carol'].map((who) => new SsmSecretAdminStore(client, stage, undefined, who, { waitMs: 20_000, leaseMs: 20_000 }));
    const increment = async (store: SecretAdminStore) => {
      for (let i = 0; i < 4; i += 1) {
        await store.update('test-numbers', (latest) => JSON.stringify((latest ? (JSON.parse(latest.value) as number) : 0) + 1));
      }
    };
    await Promise.all(admins.map(increment));
    const history = await admins[0]!.history('test-numbers');
    expect(history.map((record) => record.version)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(history.map((record) => Number(record.value))).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    // Every lock was given back.
    await expect(client.send(new GetParameterCommand({ Name: `/chatshyld/${stage}/locks/test-numbers` }))).rejects.toMatchObject({
      name: 'ParameterNotFound',
    });
  });

  it('refuses to write over a version that changed after it was read, by a writer that ignored the lock', async () => {
    expect.assertions(3);
    const stage = freshStage();
    const store = new SsmSecretAdminStore(client, stage, undefined, 'alice');
    await store.put('test-numbers', '[]');
    const Name = secretParameterName(stage, 'test-numbers');
    try {
      await store.update('test-numbers', async () => {
        // Someone with plain `aws ssm put-parameter`, between alice's read and her write.
        await client.send(new PutParameterCommand({ Name, Value: '["mallory"]', Type: 'SecureString', Overwrite: true }));
        return '["alice"]';
      });
    } catch (error) {
      expect(error).toBeInstanceOf(ConcurrentChangeError);
      expect((error as Error).message).toMatch(/changed since it was read \(version 2, not 1\); nothing was written/);
    }
    expect((await store.history('test-numbers')).map((record) => record.value)).toEqual(['[]', '["mallory"]']);
  });

  it('says so when a write raced past its version check (SSM numbered it more than one above what was read)', async () => {
    expect.assertions(2);
    const stage = freshStage();
    const Name = secretParameterName(stage, 'test-numbers');
    const racing = new SSMClient(motoConfig());
    // A rogue write lands after the store's last version check, right before its PutParameter.
    racing.middlewareStack.add(
      (next) => async (args) => {
        const input = (args as { input: { Name?: string; Type?: string } }).input;
        if (input.Name === Name && input.Type === 'SecureString' && (await client.send(new GetParameterCommand({ Name }))).Parameter?.Version === 1) {
          await client.send(new PutParameterCommand({ Name, Value: '["mallory"]', Type: 'SecureString', Overwrite: true }));
        }
        return next(args);
      },
      { step: 'initialize', name: 'rogueWriter' },
    );
    await new SsmSecretAdminStore(client, stage, undefined, 'alice').put('test-numbers', '[]');
    const store = new SsmSecretAdminStore(racing, stage, undefined, 'alice');
    try {
      await store.put('test-numbers', '["alice"]');
    } catch (error) {
      expect(error).toBeInstanceOf(ConcurrentChangeError);
      expect((error as Error).message).toMatch(/another write landed between version 1 and this one \(3\)/);
    }
    racing.destroy();
  });

  it('at 100 versions drops the oldest, unless it carries a label: then the error, and the hint that clears it', async () => {
    const stage = freshStage();
    const Name = secretParameterName(stage, 'twilio');
    const store = new SsmSecretAdminStore(client, stage, undefined, 'alice');
    for (let version = 1; version <= 99; version += 1) {
      await client.send(new PutParameterCommand({ Name, Value: `{"v":${version}}`, Type: 'SecureString', Overwrite: true }));
    }
    await expect(store.put('twilio', '{"v":100}')).resolves.toMatchObject({ version: 100 });
    await client.send(new LabelParameterVersionCommand({ Name, ParameterVersion: 1, Labels: ['first'] }));
    await expect(store.put('twilio', '{"v":101}')).rejects.toBeInstanceOf(VersionLimitError);
    expect((await store.history('twilio')).length).toBe(100);
    // What the CLI's hint says to do: remove the label from the oldest version.
    await client.send(new UnlabelParameterVersionCommand({ Name, ParameterVersion: 1, Labels: ['first'] }));
    await expect(store.put('twilio', '{"v":101}')).resolves.toMatchObject({ version: 101 });
    const history = await store.history('twilio'); // two pages of 50
    expect(history.map((record) => record.version)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    expect(history.at(-1)!.value).toBe('{"v":101}');
  });
});
