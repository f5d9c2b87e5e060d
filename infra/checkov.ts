/**
 * checkov's findings on the stack that are decisions, not defects: each is written on the resources
 * it concerns (`Metadata.checkov.skip`, which checkov reads) with the reason, so a template scan shows
 * what was decided and why. cdk-nag's acknowledgments are separate and stay where they are.
 */
import { Aspects, CfnResource, type IAspect, type Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface CheckovSkip {
  readonly id: string;
  readonly comment: string;
}

/** By resource type: every resource of the type gets these (the CDK's own functions included). */
const byType: Record<string, readonly CheckovSkip[]> = {
  'AWS::Lambda::Function': [
    {
      id: 'CKV_AWS_115',
      comment: 'No reserved concurrency: it would be taken from the account pool per function; the API route throttles bound the load instead.',
    },
    {
      id: 'CKV_AWS_116',
      comment: 'No dead-letter queue: API Gateway and CloudFormation invoke these functions synchronously, and a DLQ only receives failed asynchronous invocations.',
    },
    {
      id: 'CKV_AWS_117',
      comment: 'Not in a VPC: the functions reach only AWS public endpoints and Twilio, and no private resource; a VPC would add NAT cost and cold-start time for nothing.',
    },
    {
      id: 'CKV_AWS_173',
      comment: 'The environment holds names only (tables, bucket, SSM parameter names, settings), never a secret: values live in SSM SecureString. Lambda encrypts it at rest with its own key.',
    },
  ],
  'AWS::Logs::LogGroup': [
    {
      id: 'CKV_AWS_158',
      comment: 'CloudWatch Logs encrypts every group at rest; the functions log masked phone numbers and never tokens or codes, so a customer-managed key would add cost and a key policy to keep, not protection.',
    },
  ],
  'AWS::DynamoDB::Table': [
    {
      id: 'CKV_AWS_119',
      comment: 'Encrypted at rest with the AWS-owned key; refresh tokens are stored only as HMACs and codes only as hashes, and a customer-managed key would add a KMS call budget to every request.',
    },
  ],
  'AWS::S3::Bucket': [
    {
      id: 'CKV_AWS_18',
      comment: 'Avatar objects are reached only through short-lived presigned URLs that the API logs; server access logs would duplicate that (as for cdk-nag AwsSolutions-S1).',
    },
    {
      id: 'CKV_AWS_21',
      comment: 'No versioning: a replaced or removed photo and a deleted account must really be gone (DELETE /profile/me promises it); versions would keep them.',
    },
  ],
};

/** Adds skips to one resource, beside any it already has. */
export function skipCheckov(resource: CfnResource, skips: readonly CheckovSkip[]): void {
  const existing = (resource.getMetadata('checkov') as { skip?: CheckovSkip[] } | undefined)?.skip ?? [];
  const ids = new Set(existing.map((skip) => skip.id));
  resource.addMetadata('checkov', { skip: [...existing, ...skips.filter((skip) => !ids.has(skip.id))] });
}

class CheckovSkips implements IAspect {
  visit(node: IConstruct): void {
    if (!CfnResource.isCfnResource(node)) return;
    const skips = byType[node.cfnResourceType];
    if (skips) skipCheckov(node, skips);
  }
}

export function addCheckovSkips(stack: Stack): void {
  Aspects.of(stack).add(new CheckovSkips());
}
