import { S3Client } from '@aws-sdk/client-s3';
import { S3AvatarStore } from '../../adapters/s3/avatars.js';
import { once } from '../../composition.js';
import { avatarBucket } from '../../manifest.js';
import { requireEnv } from '../runtime.js';

export const s3Client = once(() => new S3Client({}));

export const avatarStore = () => new S3AvatarStore(s3Client(), requireEnv(avatarBucket.env));
