/**
 * Where `chatshyld users` acts: the running sandbox's emulators for `--stage local` (found through
 * the endpoints file it writes on ready), the stage's tables and bucket otherwise (found through its
 * stack outputs, with the caller's credentials, after the same STS account check as every command
 * that touches a stage). The audit actor is `local:<os user>` or the STS caller ARN.
 */
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { TableNames } from '../service/adapters/dynamodb/tables.js';
import { tables, type TableId } from '../service/manifest.js';
import type { UserAdmin } from '../service/ops/user-admin.js';
import { announce, awsError, checkCredentials, clientConfig } from './aws.js';
import { findConfig, loadConfig, localStage, resolveStage, stageName, type StageConfig } from './config.js';
import { CliError, configError, exitCodes, operationFailed, usageError } from './errors.js';
import type { CommandContext } from './command-context.js';

export interface StageUsers {
  readonly stage: string;
  readonly stageConfig: StageConfig | undefined;
  readonly admin: UserAdmin;
  readonly actor: string;
  /** Where the data lives, for messages. */
  readonly location: string;
}

/** The stack outputs that name the tables and the bucket (infra/stack.ts). */
export const tableOutputKey = (id: TableId) => `${tables[id].logicalName}TableName`;
export const bucketOutputKey = 'AvatarsBucketName';

/** The actor of the audit records written from this machine's sandbox. */
export function localActor(env: NodeJS.ProcessEnv): string {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = env.USER ?? env.USERNAME;
  }
  return `local:${name || 'unknown'}`;
}

export async function openStageUsers(context: CommandContext): Promise<StageUsers> {
  const { global, streams } = context;
  const stage = stageName(global.stage, streams.env);
  if (!stage) throw usageError('which stage?', 'pass --stage <name> (or set CHATSHYLD_STAGE); --stage local is the running sandbox');
  return stage === localStage ? openSandbox(context) : openDeployed(context, stage);
}

async function openSandbox(context: CommandContext): Promise<StageUsers> {
  const { streams } = context;
  const loaded = await findConfig(streams.cwd);
  const stateDir = join(loaded?.root ?? streams.cwd, '.chatshyld', 'local');
  const { findSandbox } = await import('../service/local/sandbox-endpoints.js');
  const found = await findSandbox(stateDir);
  const start = 'start it with `chatshyld dev` in another terminal (in this project), then run this again';
  if (found.state === 'none') throw new CliError('no_sandbox', `no sandbox is running here (no ${found.path})`, start, exitCodes.usage);
  if (found.state === 'stale') {
    throw new CliError('no_sandbox', `the sandbox that wrote ${found.path} (process ${found.pid}) is no longer running`, start, exitCodes.usage);
  }
  if (found.state === 'unreadable') {
    throw new CliError(
      'no_sandbox',
      found.readError ? `${found.path} cannot be read (${found.readError})` : `${found.path} is not a sandbox endpoints file`,
      `delete it, then ${start}`,
      exitCodes.usage,
    );
  }
  const { endpoints } = found;
  const [{ DynamoDBClient, DescribeTableCommand }, { S3Client }, { emulatorCredentials, emulatorRegion }, { UserAdmin }] =
    await Promise.all([
      import('@aws-sdk/client-dynamodb'),
      import('@aws-sdk/client-s3'),
      import('../service/local/emulators.js'),
      import('../service/ops/user-admin.js'),
    ]);
  // Loopback and the same machine: a short, single attempt, so a sandbox that hangs says so at once.
  const common = {
    region: emulatorRegion,
    credentials: emulatorCredentials,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000, throwOnRequestTimeout: true },
  };
  const dynamo = new DynamoDBClient({ ...common, endpoint: endpoints.dynamoEndpoint });
  const s3 = new S3Client({ ...common, endpoint: endpoints.s3Endpoint, forcePathStyle: true });
  try {
    await dynamo.send(new DescribeTableCommand({ TableName: endpoints.tableNames.users }));
  } catch (error) {
    throw new CliError(
      'sandbox_unreachable',
      `the sandbox (process ${endpoints.pid}, ${endpoints.url}) does not answer at ${endpoints.dynamoEndpoint}: ${(error as Error).message}`,
      `is it stopped in a debugger? restart it with \`chatshyld dev\``,
      exitCodes.failed,
    );
  }
  const actor = localActor(streams.env);
  const admin = new UserAdmin({ dynamo, s3, tableNames: endpoints.tableNames, bucketName: endpoints.bucket, actor });
  return { stage: localStage, stageConfig: loaded?.config.stages[localStage], admin, actor, location: `the sandbox at ${endpoints.url}` };
}

async function openDeployed(context: CommandContext, stage: string): Promise<StageUsers> {
  const { global, streams } = context;
  const loaded = await loadConfig(streams.cwd);
  const { config } = resolveStage(loaded, stage);
  const region = global.region ?? config?.region;
  if (!region) throw configError(`stage ${stage} has no region`, `set stages.${stage}.region in ${loaded.path}, or pass --region`);
  // Never act on another account's users; the caller's ARN is the audit actor.
  const identity = await checkCredentials(context, { stage, region, ...(config?.account && { account: config.account }) });
  if (!identity.arn) throw operationFailed('aws_identity', 'STS did not say who the caller is', 'check the credentials with `aws sts get-caller-identity`');
  const [{ CloudFormationClient, DescribeStacksCommand }, { DynamoDBClient }, { S3Client }, { UserAdmin }, { stackName }] =
    await Promise.all([
      import('@aws-sdk/client-cloudformation'),
      import('@aws-sdk/client-dynamodb'),
      import('@aws-sdk/client-s3'),
      import('../service/ops/user-admin.js'),
      import('../infra/names.js'),
    ]);
  const name = stackName(stage);
  announce(context, `reading the table names of stack ${name} in ${region}`, `stage ${stage} (${region})`);
  let outputs: Record<string, string>;
  try {
    const stack = (await new CloudFormationClient(clientConfig(context, region)).send(new DescribeStacksCommand({ StackName: name }))).Stacks?.[0];
    outputs = Object.fromEntries((stack?.Outputs ?? []).map((output) => [output.OutputKey ?? '', output.OutputValue ?? '']));
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) {
      throw operationFailed('not_deployed', `stage ${stage} is not deployed (no stack ${name} in ${region})`, `deploy it first: chatshyld deploy --stage ${stage}`);
    }
    throw awsError(error, context) ?? error;
  }
  const tableNames = Object.fromEntries(
    (Object.keys(tables) as TableId[]).map((id) => [id, outputs[tableOutputKey(id)]]),
  ) as Partial<TableNames>;
  const bucketName = outputs[bucketOutputKey];
  if (!bucketName || Object.values(tableNames).some((value) => !value) || Object.keys(tableNames).length !== Object.keys(tables).length) {
    throw operationFailed('stack_outputs', `stack ${name} lacks the table and bucket outputs`, `deploy the stage again: chatshyld deploy --stage ${stage}`);
  }
  const admin = new UserAdmin({
    dynamo: new DynamoDBClient(clientConfig(context, region)),
    s3: new S3Client(clientConfig(context, region)),
    tableNames: tableNames as TableNames,
    bucketName,
    actor: identity.arn,
  });
  return { stage, stageConfig: config, admin, actor: identity.arn, location: `stage ${stage} (${region})` };
}
