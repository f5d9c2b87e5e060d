import { verifyOtp } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';
import { otpChallenges, rateLimiter, refreshTokenStore, userStore } from './wiring/dynamodb.js';
import { avatarStore } from './wiring/s3.js';
import { secrets } from './wiring/ssm.js';
import { otpSender } from './wiring/twilio.js';

export const handler = lambdaEntry('verifyOtp', verifyOtp, {
  secrets,
  rateLimiter,
  otpChallenges,
  otpSender,
  userStore,
  refreshTokenStore,
  avatarStore,
});
