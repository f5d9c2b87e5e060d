/**
 * A route's IAM statements, derived from nothing but its manifest entry: which tables (and their
 * indexes) it reads or writes, what it may do under `avatar/` in the bucket, and which of the
 * stage's parameters it reads. No statement on a data action names `*`.
 */
import { Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { avatarBucket, routeSecrets, routeTableActions, secretParameterName, tables, type RouteDefinition, type TableAccess, type TableId } from '../service/manifest.js';

/** Every action each access level may include; a route gets only those its store calls send. */
export const tableActions: Record<TableAccess, string[]> = {
  read: ['dynamodb:GetItem', 'dynamodb:Query'],
  readwrite: [
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ],
};

export const bucketActions = {
  read: 's3:GetObject',
  put: 's3:PutObject',
  tag: 's3:PutObjectTagging',
  delete: 's3:DeleteObject',
  list: 's3:ListBucket',
} as const;

export interface GrantTargets {
  readonly stage: string;
  readonly tableArns: Readonly<Record<TableId, string>>;
  readonly bucketArn: string;
  /** A customer-managed KMS key encrypting the stage's parameters, if any. */
  readonly kmsKey?: StageKeyGrant;
  /** Whether the stage honours test numbers: if not, no role may read the test-numbers secret. */
  readonly allowTestNumbers: boolean;
}

/** The resource (and, for an alias, the condition) that lets a role decrypt with the stage's key. */
export interface StageKeyGrant {
  readonly resource: string;
  readonly conditions?: Record<string, Record<string, string | string[]>>;
}

const keyIdPattern = /^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const keyArnPattern = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})$/;
const aliasArnPattern = /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}):(alias\/[A-Za-z0-9/_-]+)$/;
const aliasPattern = /^alias\/[A-Za-z0-9/_-]+$/;

/**
 * `kmsKeyId` as IAM can match it. A key id or key ARN names the key. IAM never matches an alias (or
 * an alias ARN) as a resource, and SSM decrypts by key id, not alias, so an alias is granted on the
 * account's keys with a `kms:ResourceAliases` condition instead. AWS-managed aliases and anything
 * else are refused.
 */
export function stageKeyGrant(scope: Stack, kmsKeyId: string): StageKeyGrant {
  const byAlias = (accountKeys: string, alias: string): StageKeyGrant => {
    if (alias.startsWith('alias/aws/')) {
      throw new Error(`kmsKeyId ${kmsKeyId} is an AWS-managed key: leave kmsKeyId unset to use aws/ssm`);
    }
    return { resource: `${accountKeys}:key/*`, conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [alias] } } };
  };
  if (keyIdPattern.test(kmsKeyId)) return { resource: scope.formatArn({ service: 'kms', resource: 'key', resourceName: kmsKeyId }) };
  if (keyArnPattern.test(kmsKeyId)) return { resource: kmsKeyId };
  const aliasArn = aliasArnPattern.exec(kmsKeyId);
  if (aliasArn) return byAlias(aliasArn[1]!, aliasArn[2]!);
  if (aliasPattern.test(kmsKeyId)) {
    return byAlias(`arn:${scope.partition}:kms:${scope.region}:${scope.account}`, kmsKeyId);
  }
  throw new Error(`kmsKeyId ${kmsKeyId} is not a key id, key ARN, alias/name or alias ARN`);
}

/** `route` is a route of the manifest, or another holder of grants in its shape (the on-call policy). */
export function routeStatements(
  scope: Stack,
  route: Pick<RouteDefinition, 'access'> & { readonly id: string },
  targets: GrantTargets,
): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  const calledActions = routeTableActions(route);
  for (const [id, access] of Object.entries(route.access.tables ?? {}) as [TableId, TableAccess][]) {
    const arn = targets.tableArns[id];
    const actions = (calledActions[id] ?? []).map((action) => `dynamodb:${action}`);
    if (actions.length === 0) throw new Error(`route ${route.id} is granted ${id} but calls nothing on it`);
    if (access === 'read' && actions.some((action) => !tableActions.read.includes(action))) {
      throw new Error(`route ${route.id} reads ${id} only, but its store calls write it`);
    }
    statements.push(
      new PolicyStatement({
        sid: `${tables[id].logicalName}${access === 'read' ? 'Read' : 'ReadWrite'}`,
        actions,
        resources: [arn, ...tables[id].indexes.map((index) => `${arn}/index/${index.name}`)],
      }),
    );
  }

  const bucket = route.access.bucket ?? [];
  const objectActions = bucket.filter((access) => access !== 'list').map((access) => bucketActions[access]);
  if (objectActions.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'AvatarObjects',
        actions: objectActions,
        resources: [`${targets.bucketArn}/${avatarBucket.keyPrefix}*`],
      }),
    );
  }
  if (bucket.includes('list')) {
    statements.push(
      new PolicyStatement({
        sid: 'AvatarListing',
        actions: [bucketActions.list],
        resources: [targets.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${avatarBucket.keyPrefix}*`] } },
      }),
    );
  }

  const secrets = routeSecrets(route, targets);
  if (secrets.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'StageSecrets',
        actions: ['ssm:GetParameter'],
        resources: secrets.map((name) =>
          scope.formatArn({ service: 'ssm', resource: 'parameter', resourceName: secretParameterName(targets.stage, name).slice(1) }),
        ),
      }),
    );
    if (targets.kmsKey) {
      statements.push(
        new PolicyStatement({
          sid: 'StageSecretsKey',
          actions: ['kms:Decrypt'],
          resources: [targets.kmsKey.resource],
          conditions: { StringEquals: { 'kms:ViaService': `ssm.${scope.region}.amazonaws.com` }, ...targets.kmsKey.conditions },
        }),
      );
    }
  }
  return statements;
}
