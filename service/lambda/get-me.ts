import { getMe } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';
import { userStore } from './wiring/dynamodb.js';
import { avatarStore } from './wiring/s3.js';
import { secrets } from './wiring/ssm.js';

export const handler = lambdaEntry('getMe', getMe, { secrets, userStore, avatarStore });
