/**
 * The Lambda edge: reads configuration from the environment once per container and turns a route
 * of the manifest into a payload-2.0 handler. Adapters come from `wiring/`, one module per AWS
 * service; each entry passes only those its route uses, so its bundle carries no other SDK client.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { powertoolsLog, powertoolsMetrics } from '../adapters/observability/powertools.js';
import { once, servicesOf, type Adapters, type Builders } from '../composition.js';
import { MisconfigurationError } from '../core/errors.js';
import { systemClock } from '../core/ports.js';
import { lambdaHandler, type LambdaHandler, type RouteHandler } from '../http/api.js';
import type { Services } from '../http/routes.js';
import { routeById, type RouteId } from '../manifest.js';
import { resolveSettings, type ServiceSettings } from '../settings.js';

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new MisconfigurationError(`environment variable ${name} is not set`);
  return value;
}

export const settings = once((): ServiceSettings => resolveSettings(JSON.parse(process.env.CHATSHYLD_SETTINGS ?? '{}')));

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'chatshyld' });
export const log = powertoolsLog(logger);
const powertools = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ChatShyld',
  serviceName: 'chatshyld',
});
const metrics = powertoolsMetrics(powertools);

type AdapterName = Exclude<keyof Adapters, 'stage' | 'version' | 'settings' | 'clock' | 'log' | 'metrics'>;
export type AdapterFactories = Partial<Pick<Adapters, AdapterName>>;

/** The handler a Lambda entry exports for one route, built from the adapters and use cases it names. */
export function lambdaEntry(
  routeId: RouteId,
  handle: RouteHandler<Services>,
  factories: AdapterFactories = {},
  builders: Builders = {},
): LambdaHandler {
  const missing = (name: AdapterName) => () => {
    throw new MisconfigurationError(`the ${routeId} function was built without ${name}`);
  };
  const services = once(() => {
    const stage = requireEnv('CHATSHYLD_STAGE');
    // A default dimension: Powertools clears those added with addDimension at every flush, which
    // would leave every invocation after the first without the stage the alarms filter on.
    powertools.setDefaultDimensions({ stage });
    return servicesOf({
      stage,
      version: process.env.CHATSHYLD_VERSION ?? 'unknown',
      settings: settings(),
      clock: systemClock,
      log,
      metrics,
      secrets: factories.secrets ?? missing('secrets'),
      userStore: factories.userStore ?? missing('userStore'),
      refreshTokenStore: factories.refreshTokenStore ?? missing('refreshTokenStore'),
      rateLimiter: factories.rateLimiter ?? missing('rateLimiter'),
      otpChallenges: factories.otpChallenges ?? missing('otpChallenges'),
      otpSender: factories.otpSender ?? missing('otpSender'),
      avatarStore: factories.avatarStore ?? missing('avatarStore'),
      avatarUrlSigner: factories.avatarUrlSigner ?? missing('avatarUrlSigner'),
      avatarUploadSigner: factories.avatarUploadSigner ?? missing('avatarUploadSigner'),
    }, builders);
  });
  return lambdaHandler(routeById(routeId), handle, async () => services(), log, () => metrics.flush());
}
