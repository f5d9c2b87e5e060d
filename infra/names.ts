/** Names of a stage's AWS resources, for commands that must not load the CDK (status, logs, doctor). */
import type { RouteDefinition } from '../service/manifest.js';

export const stackName = (stage: string) => `ChatShyld-${stage}`;
/** Every function of a stage starts with this; `secrets rotate --restart-functions` relies on it. */
export const functionPrefix = (stage: string) => `ChatShyld-${stage}-`;
export const functionName = (stage: string, route: Pick<RouteDefinition, 'id'>) => `${functionPrefix(stage)}${route.id}`;
export const functionLogGroup = (stage: string, route: Pick<RouteDefinition, 'id'>) => `/aws/lambda/${functionName(stage, route)}`;
