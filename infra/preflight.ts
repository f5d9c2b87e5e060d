/**
 * What must be true before a stage is deployed, checked with control-plane calls only (no CDK):
 * the credentials are for the stage's account, the account is bootstrapped in the stage's region,
 * and the stage's secrets are present and well-formed. `deploy` stops at the first failure;
 * `doctor` shows them all. Each failure names the command that fixes it.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsClientConfig, describeAwsFailure } from './aws-client.js';
import type { SecretName } from '../service/manifest.js';
import { checkSecrets } from '../service/secrets/checks.js';
import { SsmSecretAdminStore } from '../service/secrets/ssm-admin-store.js';

export interface AwsTarget {
  readonly stage: string;
  readonly account: string;
  readonly region: string;
  readonly profile?: string;
  readonly kmsKeyId?: string;
  readonly allowTestNumbers: boolean;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** The command (or action) that fixes a failed check. */
  readonly fix?: string;
}

export const bootstrapStackName = 'CDKToolkit';
/** The synthesized template's CheckBootstrapVersion rule asks for at least this. */
export const minimumBootstrapVersion = 6;
/** States in which a stack's resources are in place and usable. */
export const usableStackStatuses: ReadonlySet<string> = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'UPDATE_ROLLBACK_COMPLETE', 'IMPORT_COMPLETE']);

function clientConfig(target: AwsTarget) {
  return awsClientConfig(target);
}

export async function checkIdentity(target: AwsTarget): Promise<Check> {
  const name = 'AWS credentials';
  try {
    const identity = await new STSClient(clientConfig(target)).send(new GetCallerIdentityCommand({}));
    if (identity.Account !== target.account) {
      return {
        name,
        ok: false,
        detail: `the credentials are for account ${identity.Account}, but stage ${target.stage} lives in ${target.account}`,
        fix: `use credentials for ${target.account}: --profile <name>, or AWS_PROFILE`,
      };
    }
    return { name, ok: true, detail: `${identity.Arn} in ${identity.Account}` };
  } catch (error) {
    // Say what really failed: no credentials, a missing profile, no network, or a timeout.
    const failure = describeAwsFailure(error, { where: `stage ${target.stage} (${target.region})`, ...(target.profile && { profile: target.profile }) });
    return {
      name,
      ok: false,
      detail: failure?.message ?? `no usable AWS credentials (${(error as Error).name}: ${(error as Error).message})`,
      fix: failure?.hint ?? 'sign in (aws sso login, or --profile <name>) and try again',
    };
  }
}

export async function checkBootstrap(target: AwsTarget): Promise<Check> {
  const name = 'CDK bootstrap';
  const fix = `chatshyld bootstrap --stage ${target.stage}`;
  try {
    const { Stacks } = await new CloudFormationClient(clientConfig(target)).send(
      new DescribeStacksCommand({ StackName: bootstrapStackName }),
    );
    const status = Stacks?.[0]?.StackStatus ?? 'unknown';
    if (!usableStackStatuses.has(status)) {
      return { name, ok: false, detail: `${bootstrapStackName} in ${target.region} is ${status}`, fix };
    }
    const version = Number(Stacks?.[0]?.Outputs?.find((output) => output.OutputKey === 'BootstrapVersion')?.OutputValue);
    if (!Number.isInteger(version) || version < minimumBootstrapVersion) {
      return {
        name,
        ok: false,
        detail: `${bootstrapStackName} in ${target.account}/${target.region} is bootstrap version ${Number.isNaN(version) ? 'unknown' : version}; the stack needs ${minimumBootstrapVersion} or later`,
        fix,
      };
    }
    return { name, ok: true, detail: `${bootstrapStackName} ${status}, version ${version}, in ${target.account}/${target.region}` };
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) {
      return { name, ok: false, detail: `account ${target.account} is not bootstrapped in ${target.region}`, fix };
    }
    // A timeout, no network or a denied read says nothing about the bootstrap: say what it was.
    const failure = describeAwsFailure(error, { where: `${bootstrapStackName} in ${target.region}`, ...(target.profile && { profile: target.profile }) });
    if (failure) return { name, ok: false, detail: failure.message, fix: failure.hint };
    return { name, ok: false, detail: `could not read ${bootstrapStackName}: ${(error as Error).message}`, fix };
  }
}

/** One check per secret the stage's functions need. */
export async function checkStageSecrets(target: AwsTarget, now = new Date()): Promise<Check[]> {
  const store = new SsmSecretAdminStore(new SSMClient(clientConfig(target)), target.stage, target.kmsKeyId);
  const statuses = await checkSecrets(store, now);
  const fixFor = (name: SecretName) =>
    name === 'jwt-secret' || name === 'refresh-pepper'
      ? `chatshyld secrets init --stage ${target.stage}`
      : `chatshyld secrets set ${name} --stage ${target.stage}`;
  return statuses
    .filter((status) => status.name !== 'test-numbers' || target.allowTestNumbers || status.record)
    .map((status) => {
      const name = `secret ${status.name}`;
      if (!status.record) {
        return { name, ok: false, detail: `missing from ${store.location}`, fix: fixFor(status.name) };
      }
      if (!status.validation?.ok) {
        return { name, ok: false, detail: `malformed: ${status.validation?.ok === false ? status.validation.reason : 'unknown'}`, fix: fixFor(status.name) };
      }
      return { name, ok: true, detail: `version ${status.record.version}, ${status.fingerprint}, ${status.validation.summary}` };
    });
}

/** The checks in deploy order; stops at the first failure unless `all`. */
export async function preflight(target: AwsTarget, options: { all?: boolean } = {}): Promise<Check[]> {
  const checks: Check[] = [];
  const identity = await checkIdentity(target);
  checks.push(identity);
  if (!identity.ok && !options.all) return checks;
  const bootstrap = await checkBootstrap(target);
  checks.push(bootstrap);
  if (!bootstrap.ok && !options.all) return checks;
  checks.push(...(await checkStageSecrets(target)));
  return checks;
}
