import { fromEnv } from '@aws-sdk/credential-provider-env';
import { SigV4AvatarUploadSigner, type S3EndpointSettings } from '../../adapters/s3/post-signer.js';
import { avatarBucket } from '../../manifest.js';
import { requireEnv } from '../runtime.js';

/**
 * A boolean setting as the S3 client reads it from the environment: only `true` and `false` count;
 * any other spelling (`TRUE`, `1`, empty) is passed over for the shared config file, which functions
 * do not have, so it stays off.
 */
const envFlag = (value: string | undefined): boolean => value === 'true';

/**
 * The settings the S3 client would take from this environment that move where a request goes: the
 * endpoint override (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, unless
 * `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`), FIPS and dual-stack. `s3Client()` sets none of
 * them itself, so the client takes these.
 */
export function configuredS3EndpointSettings(env: NodeJS.ProcessEnv): S3EndpointSettings {
  return {
    endpoint: envFlag(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) ? undefined : env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
    useFipsEndpoint: envFlag(env.AWS_USE_FIPS_ENDPOINT),
    useDualstackEndpoint: envFlag(env.AWS_USE_DUALSTACK_ENDPOINT),
  };
}

/** Presigned POSTs without the S3 client: the execution role's credentials are in the environment. */
export const avatarUploadSigner = () =>
  new SigV4AvatarUploadSigner({
    bucket: requireEnv(avatarBucket.env),
    region: requireEnv('AWS_REGION'),
    credentials: fromEnv(),
    ...configuredS3EndpointSettings(process.env),
  });
