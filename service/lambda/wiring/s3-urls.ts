import { fromEnv } from '@aws-sdk/credential-provider-env';
import { configuredS3EndpointSettings } from '../../adapters/s3/s3-endpoints.js';
import { SigV4AvatarUrlSigner } from '../../adapters/s3/url-signer.js';
import { avatarBucket } from '../../manifest.js';
import { requireEnv } from '../runtime.js';

/**
 * photoUrl signing without the S3 client: the execution role's credentials are in the environment,
 * and the URL goes where the S3 client of this environment would send a GetObject.
 */
export const avatarUrlSigner = () =>
  new SigV4AvatarUrlSigner({
    bucket: requireEnv(avatarBucket.env),
    region: requireEnv('AWS_REGION'),
    credentials: fromEnv(),
    ...configuredS3EndpointSettings(process.env),
  });
