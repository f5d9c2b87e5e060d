import { sendOtp } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';
import { buildSendCode } from '../composition-otp.js';
import { otpChallenges, rateLimiter, userStore } from './wiring/dynamodb.js';
import { secrets } from './wiring/ssm.js';
import { otpSender } from './wiring/twilio.js';

export const handler = lambdaEntry('sendOtp', sendOtp, { secrets, rateLimiter, otpChallenges, otpSender, userStore }, { sendCode: buildSendCode });
