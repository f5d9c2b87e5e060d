import { refresh } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';
import { rateLimiter, refreshTokenStore, userStore } from './wiring/dynamodb.js';
import { secrets } from './wiring/ssm.js';

export const handler = lambdaEntry('refresh', refresh, { secrets, rateLimiter, refreshTokenStore, userStore });
