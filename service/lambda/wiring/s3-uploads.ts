import { fromEnv } from '@aws-sdk/credential-provider-env';
import { SigV4AvatarUploadSigner } from '../../adapters/s3/post-signer.js';
import { configuredS3EndpointSettings } from '../../adapters/s3/s3-endpoints.js';
import { avatarBucket } from '../../manifest.js';
import { requireEnv } from '../runtime.js';

/** Presigned POSTs without the S3 client: the execution role's credentials are in the environment. */
export const avatarUploadSigner = () =>
  new SigV4AvatarUploadSigner({
    bucket: requireEnv(avatarBucket.env),
    region: requireEnv('AWS_REGION'),
    credentials: fromEnv(),
    ...configuredS3EndpointSettings(process.env),
  });
