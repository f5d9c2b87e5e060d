/**
 * What a stage is, as every part of ChatShyld knows it: the shape of its entry in
 * `chatshyld.config.json`, the service settings it implies, and the names of its AWS resources.
 * The CLI reads and validates the file (cli/config.ts), infra builds the stack from it, and the
 * service uses the names; none of them needs another's module for this.
 *
 * Pure data and functions: no imports with side effects.
 */
import type { RouteDefinition } from './manifest.js';
import type { SettingsOverrides, WindowLimit } from './settings.js';

/** The sandbox's stage: never deployed. */
export const localStage = 'local';

export interface StageConfig {
  readonly account?: string;
  readonly region?: string;
  readonly protected?: boolean;
  readonly allowTestNumbers?: boolean;
  readonly limits?: Partial<Record<string, WindowLimit>>;
  readonly tokens?: {
    readonly accessTokenTtlSeconds?: number;
    readonly refreshTokenTtlDays?: number;
    readonly refreshFamilyTtlDays?: number;
  };
  readonly secretsCacheSeconds?: number;
  /** Lifetimes of the avatar upload form and photo URL (service/settings.ts bounds them). */
  readonly avatar?: {
    readonly uploadExpiresSeconds?: number;
    readonly downloadExpiresSeconds?: number;
  };
  /** A key id, key ARN, `alias/name` or alias ARN (infra/grants.ts says how each is granted). */
  readonly kmsKeyId?: string;
  readonly logRetentionDays?: number;
  readonly alarmEmail?: string;
  readonly tracing?: boolean;
  /** Adds a managed policy with what `chatshyld users` needs (docs/operations.md), for on-call roles. */
  readonly onCallPolicy?: boolean;
  readonly throttles?: {
    readonly rateLimit?: number;
    readonly burstLimit?: number;
    readonly authRateLimit?: number;
    readonly authBurstLimit?: number;
  };
}

export interface ProjectConfig {
  readonly project: string;
  readonly stages: Readonly<Record<string, StageConfig>>;
}

/** The service settings a stage's config asks for (what its Lambdas get as CHATSHYLD_SETTINGS). */
export function stageSettings(stage: StageConfig | undefined): SettingsOverrides {
  if (!stage) return {};
  return {
    allowTestNumbers: stage.allowTestNumbers ?? !stage.protected,
    ...(stage.limits && { limits: stage.limits as SettingsOverrides['limits'] }),
    ...stage.tokens,
    ...(stage.secretsCacheSeconds !== undefined && { secretsCacheSeconds: stage.secretsCacheSeconds }),
    ...(stage.avatar && { avatar: stage.avatar }),
  };
}

export const stackName = (stage: string) => `ChatShyld-${stage}`;
/** Every function of a stage starts with this; `secrets rotate --restart-functions` relies on it. */
export const functionPrefix = (stage: string) => `ChatShyld-${stage}-`;
export const functionName = (stage: string, route: Pick<RouteDefinition, 'id'>) => `${functionPrefix(stage)}${route.id}`;
export const functionLogGroup = (stage: string, route: Pick<RouteDefinition, 'id'>) => `/aws/lambda/${functionName(stage, route)}`;
