/**
 * The Lambda edge: reads configuration from the environment once per container, creates SDK clients
 * once, and turns a route of the manifest into a payload-2.0 handler. Everything below the
 * composition is shared with the sandbox.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoRateLimiter, DynamoOtpChallengeStore } from '../adapters/dynamodb/rate-limits.js';
import { DynamoRefreshTokenStore } from '../adapters/dynamodb/refresh-tokens.js';
import { DynamoUserStore } from '../adapters/dynamodb/users.js';
import { powertoolsLog, powertoolsMetrics } from '../adapters/observability/powertools.js';
import { S3AvatarStore } from '../adapters/s3/avatars.js';
import { SsmSecretSource } from '../adapters/secrets/ssm.js';
import { TwilioVerifySender } from '../adapters/twilio/verify.js';
import { composeServices, once } from '../composition.js';
import { MisconfigurationError } from '../core/errors.js';
import { systemClock } from '../core/ports.js';
import { lambdaHandler, type LambdaHandler, type RouteHandler } from '../http/api.js';
import type { Services } from '../http/routes.js';
import { avatarBucket, routeById, secrets, tables, type RouteId, type SecretName } from '../manifest.js';
import { resolveSettings } from '../settings.js';

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new MisconfigurationError(`environment variable ${name} is not set`);
  return value;
}

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'chatshyld' });
const log = powertoolsLog(logger);
const powertools = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ChatShyld',
  serviceName: 'chatshyld',
});
const metrics = powertoolsMetrics(powertools);

const services = once(() => {
  const stage = requireEnv('CHATSHYLD_STAGE');
  powertools.addDimension('stage', stage);
  const settings = resolveSettings(JSON.parse(process.env.CHATSHYLD_SETTINGS ?? '{}'));
  const dynamo = once(() => new DynamoDBClient({}));
  const s3 = once(() => new S3Client({}));
  const parameterNames: Partial<Record<SecretName, string>> = {};
  for (const definition of Object.values(secrets)) {
    const parameter = process.env[definition.env];
    if (parameter) parameterNames[definition.name] = parameter;
  }
  const secretSource = once(
    () => new SsmSecretSource(new SSMProvider(), parameterNames, settings.secretsCacheSeconds),
  );
  return composeServices({
    stage,
    version: process.env.CHATSHYLD_VERSION ?? 'unknown',
    settings,
    clock: systemClock,
    log,
    metrics,
    secrets: secretSource,
    userStore: () => new DynamoUserStore(dynamo(), requireEnv(tables.users.env)),
    refreshTokenStore: () => new DynamoRefreshTokenStore(dynamo(), requireEnv(tables.refreshTokens.env)),
    rateLimiter: () => new DynamoRateLimiter(dynamo(), requireEnv(tables.rateLimits.env), systemClock),
    otpChallenges: () => new DynamoOtpChallengeStore(dynamo(), requireEnv(tables.rateLimits.env)),
    otpSender: () =>
      new TwilioVerifySender(secretSource(), log, {
        ...(process.env.TWILIO_VERIFY_BASE_URL && { baseUrl: process.env.TWILIO_VERIFY_BASE_URL }),
      }),
    avatarStore: () => new S3AvatarStore(s3(), requireEnv(avatarBucket.env)),
  });
});

/** The handler a Lambda entry exports for one route of the manifest. */
export function lambdaEntry(routeId: RouteId, handle: RouteHandler<Services>): LambdaHandler {
  return lambdaHandler(routeById(routeId), handle, async () => services(), log, () => metrics.flush());
}
