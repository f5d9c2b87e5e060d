import { deleteMe } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';
import { buildAccountDeletion } from '../composition.js';
import { otpChallenges, rateLimiter, refreshTokenStore, userStore } from './wiring/dynamodb.js';
import { avatarStore } from './wiring/s3.js';
import { secrets } from './wiring/ssm.js';

export const handler = lambdaEntry('deleteMe', deleteMe, {
  secrets,
  userStore,
  refreshTokenStore,
  rateLimiter,
  otpChallenges,
  avatarStore,
}, { accountDeletion: buildAccountDeletion });
