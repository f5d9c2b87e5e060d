import { fromEnv } from '@aws-sdk/credential-provider-env';
import { SigV4AvatarUploadSigner } from '../../adapters/s3/post-signer.js';
import { avatarBucket } from '../../manifest.js';
import { requireEnv } from '../runtime.js';

/**
 * The endpoint override the S3 client would honour: `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`,
 * unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true. (`s3Client()` sets no FIPS or dualstack.)
 */
export function configuredS3Endpoint(env: NodeJS.ProcessEnv): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() === 'true') return undefined;
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
}

/** Presigned POSTs without the S3 client: the execution role's credentials are in the environment. */
export const avatarUploadSigner = () =>
  new SigV4AvatarUploadSigner({
    bucket: requireEnv(avatarBucket.env),
    region: requireEnv('AWS_REGION'),
    credentials: fromEnv(),
    endpoint: configuredS3Endpoint(process.env),
  });
