import { verifyOtp } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';
import { buildProfiles } from '../composition.js';
import { buildVerifyCode } from '../composition-otp.js';
import { otpChallenges, rateLimiter, refreshTokenStore, userStore } from './wiring/dynamodb.js';
import { avatarUrlSigner } from './wiring/s3-urls.js';
import { secrets } from './wiring/ssm.js';
import { otpSender } from './wiring/twilio.js';

export const handler = lambdaEntry('verifyOtp', verifyOtp, {
  secrets,
  rateLimiter,
  otpChallenges,
  otpSender,
  userStore,
  refreshTokenStore,
  avatarUrlSigner,
}, { verifyCode: buildVerifyCode, profiles: buildProfiles });
