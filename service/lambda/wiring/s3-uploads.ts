import { S3AvatarUploadSigner } from '../../adapters/s3/upload-signer.js';
import { avatarBucket } from '../../manifest.js';
import { requireEnv } from '../runtime.js';
import { s3Client } from './s3.js';

export const avatarUploadSigner = () => new S3AvatarUploadSigner(s3Client(), requireEnv(avatarBucket.env));
