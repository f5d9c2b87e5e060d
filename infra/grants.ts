/**
 * A route's IAM statements, derived from nothing but its manifest entry: which tables (and their
 * indexes) it reads or writes, what it may do under `avatar/` in the bucket, and which of the
 * stage's parameters it reads. No statement on a data action names `*`.
 */
import { Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { avatarBucket, secretParameterName, tables, type RouteDefinition, type TableAccess, type TableId } from '../service/manifest.js';

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
  delete: 's3:DeleteObject',
  list: 's3:ListBucket',
} as const;

export interface GrantTargets {
  readonly stage: string;
  readonly tableArns: Readonly<Record<TableId, string>>;
  readonly bucketArn: string;
  /** A customer-managed KMS key encrypting the stage's parameters, if any. */
  readonly kmsKeyArn?: string;
}

export function routeStatements(scope: Stack, route: RouteDefinition, targets: GrantTargets): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  for (const [id, access] of Object.entries(route.access.tables ?? {}) as [TableId, TableAccess][]) {
    const arn = targets.tableArns[id];
    statements.push(
      new PolicyStatement({
        sid: `${tables[id].logicalName}${access === 'read' ? 'Read' : 'ReadWrite'}`,
        actions: tableActions[access],
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

  const secrets = route.access.secrets ?? [];
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
    if (targets.kmsKeyArn) {
      statements.push(
        new PolicyStatement({
          sid: 'StageSecretsKey',
          actions: ['kms:Decrypt'],
          resources: [targets.kmsKeyArn],
          conditions: { StringEquals: { 'kms:ViaService': `ssm.${scope.region}.amazonaws.com` } },
        }),
      );
    }
  }
  return statements;
}
