import { presignAvatar } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';
import { buildAvatarUploads } from '../composition.js';
import { rateLimiter, userStore } from './wiring/dynamodb.js';
import { avatarUploadSigner } from './wiring/s3-uploads.js';
import { secrets } from './wiring/ssm.js';

export const handler = lambdaEntry('presignAvatar', presignAvatar, { secrets, avatarUploadSigner, rateLimiter, userStore }, { avatarUploads: buildAvatarUploads });
