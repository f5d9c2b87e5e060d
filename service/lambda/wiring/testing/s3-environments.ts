import { vi } from 'vitest';

/**
 * The environments the S3 signers are held to the S3 client in: every setting the S3 client takes
 * from the environment that moves where a bucket's requests go, over regions of every partition and
 * bucket names of every addressing style. The shared config files can set them too; functions have
 * none, and the reference reads none here.
 */
export const endpointSettings = ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT'] as const;
export type Settings = Partial<Record<(typeof endpointSettings)[number], string>>;

export const key = 'avatar/u/a.png';
export const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };

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

/** Region, bucket name and environment settings: 935 cases. */
export const cases: [string, string, Settings][] = [
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

/**
 * A clean environment for the S3 client and the wiring alike (no instance metadata, no config
 * files, the test's credentials, none of the endpoint settings), for a `beforeEach`.
 */
export function stubCleanS3Environment(): void {
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/chatshyld/aws-config');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/chatshyld/aws-credentials');
  vi.stubEnv('AWS_PROFILE', undefined);
  vi.stubEnv('AWS_ACCESS_KEY_ID', credentials.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', credentials.secretAccessKey);
  vi.stubEnv('AWS_SESSION_TOKEN', undefined);
  for (const name of endpointSettings) vi.stubEnv(name, undefined);
}

/** One case's environment, as the functions would have it: the region, the bucket and the settings. */
export function stubCase(bucketEnv: string, region: string, bucket: string, settings: Settings): void {
  vi.stubEnv('AWS_REGION', region);
  vi.stubEnv(bucketEnv, bucket);
  for (const [name, value] of Object.entries(settings)) vi.stubEnv(name, value);
}
