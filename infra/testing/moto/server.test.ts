import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import { startMoto } from './server.js';

describe('the moto server the rehearsal tests start', () => {
  it('answers as the account it was given, on loopback, and is gone after close', async () => {
    const moto = await startMoto({ accountId: '210987654321' });
    const env = moto.env();
    const config = { endpoint: moto.endpoint, region: moto.region, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! } };
    const sts = new STSClient(config);
    const ssm = new SSMClient(config);
    try {
      expect((await sts.send(new GetCallerIdentityCommand({}))).Account).toBe('210987654321');
      await ssm.send(new PutParameterCommand({ Name: '/chatshyld/dev/probe', Type: 'SecureString', Value: 'v1' }));
      const read = await ssm.send(new GetParameterCommand({ Name: '/chatshyld/dev/probe', WithDecryption: true }));
      expect(read.Parameter).toMatchObject({ Value: 'v1', Version: 1 });
    } finally {
      sts.destroy();
      ssm.destroy();
      await moto.close();
    }
    await expect(fetch(moto.endpoint.replace('localhost', '127.0.0.1'))).rejects.toThrow();
  });
});
