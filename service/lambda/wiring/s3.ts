import { fromEnv } from '@aws-sdk/credential-provider-env';
import type { BucketRequestsOptions } from '../../adapters/s3/bucket-requests.js';
import { SigV4AvatarStore } from '../../adapters/s3/object-store.js';
import { configuredS3EndpointSettings } from '../../adapters/s3/s3-endpoints.js';
import { avatarBucket } from '../../manifest.js';
import { requireEnv } from '../runtime.js';

/**
 * Avatar objects without the S3 client: signed requests with the execution role's credentials
 * from the environment, sent where the S3 client of this environment would send them. A test may
 * give the transport, to see the requests without sending them.
 */
export const avatarStore = (overrides: Pick<BucketRequestsOptions, 'transport'> = {}) =>
  new SigV4AvatarStore({
    bucket: requireEnv(avatarBucket.env),
    region: requireEnv('AWS_REGION'),
    credentials: fromEnv(),
    ...configuredS3EndpointSettings(process.env),
    ...overrides,
  });
