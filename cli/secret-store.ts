import { join } from 'node:path';
import type { SecretAdminStore } from '../service/secrets/admin-store.js';
import { announce, checkCredentials, clientConfig } from './aws.js';
import { findConfig, loadConfig, localStage, resolveStage, stageName, type StageConfig } from './config.js';
import { configError, usageError } from './errors.js';
import type { CommandContext } from './command-context.js';

export interface StageSecrets {
  readonly stage: string;
  readonly stageConfig: StageConfig | undefined;
  readonly store: SecretAdminStore;
  readonly region: string | undefined;
}

/** The secrets of the stage the command names: the sandbox's file for `local`, SSM otherwise. */
export async function openStageSecrets(context: CommandContext): Promise<StageSecrets> {
  const { global, streams } = context;
  const stage = stageName(global.stage, streams.env);
  if (!stage) throw usageError('secrets belong to a stage', 'pass --stage <name> (or set CHATSHYLD_STAGE); --stage local is the sandbox');
  if (stage === localStage) {
    const loaded = await findConfig(streams.cwd);
    const { FileSecretAdminStore } = await import('../service/secrets/file-admin-store.js');
    const path = join(loaded?.root ?? streams.cwd, '.chatshyld', 'local', 'secrets.json');
    const store = new FileSecretAdminStore(path);
    store.onLockWait = (message) => context.out.info(message);
    return { stage, stageConfig: loaded?.config.stages[localStage], store, region: undefined };
  }
  const loaded = await loadConfig(streams.cwd);
  const { config } = resolveStage(loaded, stage);
  const region = global.region ?? config?.region;
  if (!region) throw configError(`stage ${stage} has no region`, `set stages.${stage}.region in ${loaded.path}, or pass --region`);
  const [{ SSMClient }, { SsmSecretAdminStore }] = await Promise.all([
    import('@aws-sdk/client-ssm'),
    import('../service/secrets/ssm-admin-store.js'),
  ]);
  // Never read or write another account's parameters: the same bounded check deploy makes.
  await checkCredentials(context, { stage, region, ...(config?.account && { account: config.account }) });
  const client = new SSMClient(clientConfig(context, region));
  announce(context, `reading the secrets of stage ${stage} from SSM in ${region}`, `stage ${stage} (${region})`);
  const store = new SsmSecretAdminStore(client, stage, config?.kmsKeyId);
  store.onLockWait = (message) => context.out.info(message);
  store.onLockLeft = (message) => context.out.info(`warning: ${message}`);
  return { stage, stageConfig: config, store, region };
}
