import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { HttpRequest } from '@smithy/types';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { S3AvatarUploadSigner } from '../../adapters/s3/upload-signer.js';
import { MisconfigurationError } from '../../core/errors.js';
import { avatarBucket } from '../../manifest.js';
import { avatarUploadSigner } from './s3-uploads.js';

describe('the presignAvatar upload signer', () => {
  afterEach(() => vi.unstubAllEnvs());

  it.each([
    [{}],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }],
    [{ AWS_ENDPOINT_URL: 'https://s3.example.test:8443' }],
    [{ AWS_ENDPOINT_URL: 'https://other.example.test', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }],
  ])('posts where the S3 client of the same environment would (%o)', async (endpoints: Record<string, string>) => {
    const env = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', [avatarBucket.env]: 'chatshyld-dev-avatars', ...endpoints };
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    const ours = await avatarUploadSigner().presignUpload('avatar/u/a.png', 'image/png', 1024, 60);
    const client = new S3Client({});
    const theirs = await new S3AvatarUploadSigner(client, 'chatshyld-dev-avatars').presignUpload('avatar/u/a.png', 'image/png', 1024, 60);
    client.destroy();
    expect(ours.url).toBe(theirs.url);
    expect(ours.fields['X-Amz-Credential']).toBe(theirs.fields['X-Amz-Credential']);
  });
});

/**
 * The settings the S3 client takes from the environment that move where a PutObject goes. The
 * shared config files can set them too; functions have none, and the reference reads none here.
 */
const endpointSettings = ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT'] as const;
type Settings = Partial<Record<(typeof endpointSettings)[number], string>>;

const key = 'avatar/u/a.png';
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };

/** Where the S3 client sends a PutObject: the request its handler is given, which sends nothing. */
async function putObjectTarget(region: string, bucket: string): Promise<string | Error> {
  let sent: HttpRequest | undefined;
  const handler = {
    handle: async (request: HttpRequest) => {
      sent = request;
      throw new Error('not sent');
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({}),
  };
  const client = new S3Client({ region, credentials, maxAttempts: 1, requestHandler: handler });
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    throw new Error('the request handler did not run');
  } catch (error) {
    if (!sent) return error as Error;
    return `${sent.protocol}//${sent.hostname}${sent.port ? `:${sent.port}` : ''}${sent.path}`;
  } finally {
    client.destroy();
  }
}

/** The object URL of a POST target, joined as the S3 client joins an endpoint's path and a key (a bare `/` drops). */
const objectUrl = (postUrl: string) => {
  const url = new URL(postUrl);
  return `${url.origin}${url.pathname === '/' ? '' : url.pathname}/${key}`;
};

const buckets = ['chatshyld-dev-avatars-1a2b3c', 'dotted.bucket-name', 'a.bucket', 'Legacy_Bucket', '192.168.1.1'];
const regions = ['eu-west-1', 'us-east-1', 'cn-north-1', 'cn-northwest-1', 'us-gov-west-1', 'us-iso-east-1', 'us-isob-east-1', 'eu-isoe-west-1', 'us-isof-south-1', 'eusc-de-east-1'];
const flags: Settings[] = [
  {},
  { AWS_USE_FIPS_ENDPOINT: 'true' },
  { AWS_USE_DUALSTACK_ENDPOINT: 'true' },
  { AWS_USE_FIPS_ENDPOINT: 'true', AWS_USE_DUALSTACK_ENDPOINT: 'true' },
  { AWS_USE_FIPS_ENDPOINT: 'false', AWS_USE_DUALSTACK_ENDPOINT: 'false' },
  // Only `true` and `false` count; the S3 client reads any other spelling as unset.
  { AWS_USE_FIPS_ENDPOINT: 'TRUE', AWS_USE_DUALSTACK_ENDPOINT: 'True' },
  { AWS_USE_FIPS_ENDPOINT: '1', AWS_USE_DUALSTACK_ENDPOINT: '' },
];
const endpoints: Settings[] = [
  { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' },
  { AWS_ENDPOINT_URL_S3: 'http://[::1]:9000/' },
  { AWS_ENDPOINT_URL_S3: 'http://10.0.0.1:9000//x//' },
  { AWS_ENDPOINT_URL_S3: 'https://s3.example.test:8443/prefix' },
  { AWS_ENDPOINT_URL_S3: 'https://s3.example.test/prefix/' },
  { AWS_ENDPOINT_URL_S3: 'https://S3.Example.TEST:443' },
  { AWS_ENDPOINT_URL_S3: 'https://s3.example.test/base?x=1' },
  { AWS_ENDPOINT_URL_S3: 'http://localhost:4566' },
  { AWS_ENDPOINT_URL_S3: 'HTTP://localhost:4566/base/' },
  { AWS_ENDPOINT_URL: 'https://s3.example.test' },
  { AWS_ENDPOINT_URL: 'http://localhost:4566', AWS_ENDPOINT_URL_S3: '' },
  { AWS_ENDPOINT_URL: 'https://other.example.test', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' },
  // The client refuses these; the signer must too, when it is made.
  { AWS_ENDPOINT_URL_S3: 'ftp://s3.example.test' },
  { AWS_ENDPOINT_URL_S3: 's3.example.test' },
];
const ignoring: Settings[] = [{}, { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'TRUE' }, { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'True' }, { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'false' }];

const cases: [string, string, Settings][] = [
  ...regions.flatMap((region) => buckets.flatMap((bucket) => flags.map((settings): [string, string, Settings] => [region, bucket, settings]))),
  ...endpoints.flatMap((endpoint) =>
    buckets.flatMap((bucket) =>
      [...ignoring.map((ignore) => ({ ...endpoint, ...ignore })), { ...endpoint, AWS_USE_FIPS_ENDPOINT: 'true' }, { ...endpoint, AWS_USE_DUALSTACK_ENDPOINT: 'true' }, { ...endpoint, AWS_USE_FIPS_ENDPOINT: 'TRUE' }].map(
        (settings): [string, string, Settings] => ['eu-west-1', bucket, settings],
      ),
    ),
  ),
  // Region names the client reads specially, and one it refuses.
  ...['aws-global', 'eu-west-1-fips', 'fips-us-gov-west-1', 'cn-north-1-fips', 'Eu_West'].flatMap((region) =>
    ['chatshyld-dev-avatars-1a2b3c', 'a.bucket'].flatMap((bucket) => [{}, { AWS_USE_DUALSTACK_ENDPOINT: 'true' }].map((settings): [string, string, Settings] => [region, bucket, settings])),
  ),
];

describe('the presignAvatar upload URL, against where the S3 client sends a PutObject of the bucket', () => {
  beforeEach(() => {
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/chatshyld/aws-config');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/chatshyld/aws-credentials');
    vi.stubEnv('AWS_PROFILE', undefined);
    vi.stubEnv('AWS_ACCESS_KEY_ID', credentials.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', credentials.secretAccessKey);
    for (const name of endpointSettings) vi.stubEnv(name, undefined);
  });
  afterEach(() => vi.unstubAllEnvs());

  it.each(cases)('%s, bucket %s, %o', async (region, bucket, settings) => {
    vi.stubEnv('AWS_REGION', region);
    vi.stubEnv(avatarBucket.env, bucket);
    for (const [name, value] of Object.entries(settings)) vi.stubEnv(name, value);
    const theirs = await putObjectTarget(region, bucket);
    if (theirs instanceof Error) {
      // The client would fail every S3 call of this environment: the signer fails when it is made.
      expect(() => avatarUploadSigner(), theirs.message).toThrow(MisconfigurationError);
      return;
    }
    const { url, fields } = await avatarUploadSigner().presignUpload(key, 'image/png', 1024, 60);
    expect(objectUrl(url)).toBe(theirs);
    // The form a presigned POST of the S3 client's own presigner has, field for field.
    const client = new S3Client({ region, credentials });
    const reference = await new S3AvatarUploadSigner(client, bucket).presignUpload(key, 'image/png', 1024, 60);
    client.destroy();
    expect(url).toBe(reference.url);
    expect(fields['X-Amz-Credential']).toBe(reference.fields['X-Amz-Credential']);
  });
});
