import { logout } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';
import { rateLimiter, refreshTokenStore } from './wiring/dynamodb.js';
import { secrets } from './wiring/ssm.js';

export const handler = lambdaEntry('logout', logout, { secrets, rateLimiter, refreshTokenStore });
