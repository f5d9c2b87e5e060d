import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoOtpChallengeStore, DynamoRateLimiter } from '../../adapters/dynamodb/rate-limits.js';
import { DynamoRefreshTokenStore } from '../../adapters/dynamodb/refresh-tokens.js';
import { DynamoUserStore } from '../../adapters/dynamodb/users.js';
import { once } from '../../composition.js';
import { systemClock } from '../../core/ports.js';
import { tables } from '../../manifest.js';
import { requireEnv } from '../runtime.js';

const client = once(() => new DynamoDBClient({}));

export const userStore = () => new DynamoUserStore(client(), requireEnv(tables.users.env));
export const refreshTokenStore = () => new DynamoRefreshTokenStore(client(), requireEnv(tables.refreshTokens.env));
export const rateLimiter = () => new DynamoRateLimiter(client(), requireEnv(tables.rateLimits.env), systemClock);
export const otpChallenges = () => new DynamoOtpChallengeStore(client(), requireEnv(tables.rateLimits.env));
