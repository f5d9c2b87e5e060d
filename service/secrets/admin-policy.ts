/**
 * The IAM statements `chatshyld secrets` needs on one stage (docs/secrets.md, "Permissions"): the
 * calls of SsmSecretAdminStore (history, the version check, the write, the lock parameter) and of
 * `rotate --restart-functions`. cli/oncall.moto.test.ts runs every secrets command under exactly
 * these on moto with IAM enforced, and shows another stage's secrets refused.
 */
import { secretParameterName, secrets, type SecretName } from '../manifest.js';

export interface SecretsPolicyTarget {
  readonly stage: string;
  readonly account: string;
  readonly region: string;
  /** The stage key's ARN when `kmsKeyId` is set; SSM's own key (aws/ssm) needs no grant. */
  readonly kmsKeyArn?: string;
  readonly partition?: string;
}

export function secretsAdminStatements(target: SecretsPolicyTarget): Record<string, unknown>[] {
  const partition = target.partition ?? 'aws';
  const parameter = (name: string) => `arn:${partition}:ssm:${target.region}:${target.account}:parameter${name}`;
  const names = Object.keys(secrets) as SecretName[];
  const values = names.map((name) => parameter(secretParameterName(target.stage, name)));
  const locks = parameter(`/chatshyld/${target.stage}/locks/*`);
  return [
    { Sid: 'StageSecrets', Effect: 'Allow', Action: ['ssm:GetParameterHistory', 'ssm:GetParameter', 'ssm:PutParameter'], Resource: values },
    { Sid: 'StageSecretLocks', Effect: 'Allow', Action: ['ssm:GetParameter', 'ssm:PutParameter', 'ssm:DeleteParameter'], Resource: locks },
    ...(target.kmsKeyArn
      ? [
          {
            Sid: 'StageSecretsKey',
            Effect: 'Allow',
            Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
            Resource: target.kmsKeyArn,
            Condition: { StringEquals: { 'kms:ViaService': `ssm.${target.region}.amazonaws.com` } },
          },
        ]
      : []),
    {
      Sid: 'RestartFunctions',
      Effect: 'Allow',
      Action: ['lambda:GetFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'],
      Resource: `arn:${partition}:lambda:${target.region}:${target.account}:function:ChatShyld-${target.stage}-*`,
    },
    // ListFunctions cannot be scoped to functions: IAM only accepts "*" for it.
    { Sid: 'FindFunctions', Effect: 'Allow', Action: 'lambda:ListFunctions', Resource: '*' },
  ];
}
