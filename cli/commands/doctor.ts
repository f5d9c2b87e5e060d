import { join } from 'node:path';
import type { Check } from '../../infra/preflight.js';
import { parseTwilioCredentials, twilioVerifyBaseUrl } from '../../service/adapters/twilio/verify.js';
import { awsClientConfig } from '../../infra/aws-client.js';
import { announce, awsError } from '../aws.js';
import { CliError, exitCodes } from '../errors.js';
import { findConfig, localStage, resolveStage, stageName, type LoadedConfig } from '../config.js';
import type { CommandContext } from '../command-context.js';

const minimumNode = [20, 18];

/** `chatshyld doctor`: every precondition of working on a stage, ✓ or ✗ with the command that fixes it. */
export async function doctor(_options: object, context: CommandContext): Promise<number> {
  const { out, streams, global } = context;
  const checks: Check[] = [];
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  checks.push({
    name: 'Node.js',
    ok: major > minimumNode[0]! || (major === minimumNode[0] && minor >= minimumNode[1]!),
    detail: `v${process.versions.node}`,
    fix: `install Node.js ${minimumNode.join('.')} or later`,
  });

  let loaded: LoadedConfig | undefined;
  try {
    loaded = await findConfig(streams.cwd);
    checks.push(
      loaded
        ? { name: 'config', ok: true, detail: `${loaded.path}: stages ${Object.keys(loaded.config.stages).join(', ')}` }
        : { name: 'config', ok: false, detail: `no chatshyld.config.json in ${streams.cwd} or above`, fix: 'chatshyld init' },
    );
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    checks.push({ name: 'config', ok: false, detail: error.message, fix: error.hint ?? 'fix chatshyld.config.json' });
  }

  let stage: string | undefined;
  try {
    stage = stageName(global.stage, streams.env);
    if (stage && loaded && stage !== localStage) resolveStage(loaded, stage);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    checks.push({ name: 'stage', ok: false, detail: error.message, fix: error.hint ?? 'pick a stage of the config' });
    stage = undefined;
  }

  if (stage === localStage) {
    checks.push(...(await localChecks(loaded?.root ?? streams.cwd)));
  } else if (stage && loaded) {
    checks.push(...(await stageChecks(stage, loaded, context)));
  }

  const ok = checks.every((check) => check.ok);
  out.resultJson({ stage: stage ?? null, ok, checks });
  const paint = out.paint;
  out.result(
    [
      ...checks.map((check) =>
        check.ok
          ? `${paint.green('✓')} ${check.name}: ${check.detail}`
          : `${paint.red('✗')} ${check.name}: ${check.detail}\n    fix: ${check.fix ?? 'see the message'}`,
      ),
      ...(stage ? [] : ['', 'pass --stage <name> to check a stage too']),
    ].join('\n'),
  );
  return ok ? exitCodes.ok : exitCodes.failed;
}

async function localChecks(root: string): Promise<Check[]> {
  const [{ FileSecretAdminStore }, { checkSecrets }] = await Promise.all([
    import('../../service/secrets/file-admin-store.js'),
    import('../../service/secrets/checks.js'),
  ]);
  const store = new FileSecretAdminStore(join(root, '.chatshyld', 'local', 'secrets.json'));
  let statuses;
  try {
    statuses = await checkSecrets(store, new Date());
  } catch (error) {
    if ((error as Error).name !== 'LocalStateError') throw error;
    return [{ name: 'sandbox secrets file', ok: false, detail: (error as Error).message, fix: (error as Error & { hint: string }).hint }];
  }
  // The sandbox sends no SMS: it needs no Twilio credentials.
  return statuses
    .filter((status) => status.name !== 'twilio')
    .map((status) =>
      !status.record
        ? { name: `secret ${status.name}`, ok: false, detail: `missing from ${store.location}`, fix: 'chatshyld dev (creates it), or chatshyld secrets init --stage local' }
        : status.validation?.ok
          ? { name: `secret ${status.name}`, ok: true, detail: status.validation.summary }
          : { name: `secret ${status.name}`, ok: false, detail: status.validation?.ok === false ? status.validation.reason : 'malformed', fix: `chatshyld secrets set ${status.name} --stage local` },
    );
}

async function stageChecks(stage: string, loaded: LoadedConfig, context: CommandContext): Promise<Check[]> {
  const { global, streams } = context;
  const config = loaded.config.stages[stage]!;
  const region = global.region ?? config.region;
  if (!config.account || !region) {
    return [{ name: 'stage config', ok: false, detail: `stage ${stage} has no account or region`, fix: `set stages.${stage}.account and .region` }];
  }
  const [{ checkIdentity, checkBootstrap, checkStageSecrets }, { checkStack }] = await Promise.all([
    import('../../infra/preflight.js'),
    import('../../infra/stack-status.js'),
  ]);
  const target = {
    stage,
    account: config.account,
    region,
    ...(global.profile && { profile: global.profile }),
    ...(config.kmsKeyId && { kmsKeyId: config.kmsKeyId }),
    allowTestNumbers: config.allowTestNumbers ?? !config.protected,
  };
  announce(context, `checking credentials for ${stage} (${region})`, `stage ${stage} (${region})`);
  const identity = await checkIdentity(target);
  // Without working credentials every other check would fail the same way: say it once.
  if (!identity.ok) return [identity];
  context.out.info(`checking bootstrap, secrets, Twilio and the stack of ${stage}…`);
  const checks: Check[] = [identity, await checkBootstrap(target)];
  try {
    checks.push(...(await checkStageSecrets(target)));
  } catch (error) {
    const failure = awsError(error, context);
    if (!failure) throw error;
    checks.push({ name: 'secrets', ok: false, detail: failure.message, fix: failure.hint ?? 'try again' });
  }
  checks.push(await twilioCheck(target, streams.env));
  checks.push(await checkStack({ ...target, protected: Boolean(config.protected) }));
  return checks;
}

/** Asks Twilio for the stage's Verify service with the stage's credentials. */
async function twilioCheck(target: { stage: string; region: string; profile?: string; kmsKeyId?: string }, env: NodeJS.ProcessEnv): Promise<Check> {
  const name = 'Twilio Verify';
  const fix = `chatshyld secrets set twilio --stage ${target.stage}`;
  const [{ SSMClient }, { SsmSecretAdminStore }] = await Promise.all([
    import('@aws-sdk/client-ssm'),
    import('../../service/secrets/ssm-admin-store.js'),
  ]);
  const store = new SsmSecretAdminStore(new SSMClient(awsClientConfig(target, env)), target.stage, target.kmsKeyId);
  const record = await store.get('twilio').catch(() => undefined);
  if (!record) return { name, ok: false, detail: 'no twilio secret to test with', fix };
  let credentials;
  try {
    credentials = parseTwilioCredentials(record.value);
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message, fix };
  }
  const base = (env.TWILIO_VERIFY_BASE_URL ?? twilioVerifyBaseUrl).replace(/\/+$/, '');
  try {
    const response = await fetch(`${base}/v2/Services/${credentials.verifyServiceSid}`, {
      headers: { authorization: `Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64')}` },
      signal: AbortSignal.timeout(5000),
    });
    if (response.ok) return { name, ok: true, detail: `service …${credentials.verifyServiceSid.slice(-6)} answers` };
    const problem = response.status === 401 ? 'Twilio rejected the credentials' : response.status === 404 ? 'no such Verify service' : `Twilio answered ${response.status}`;
    return { name, ok: false, detail: problem, fix };
  } catch (error) {
    return { name, ok: false, detail: `Twilio did not answer: ${(error as Error).message}`, fix: 'check the network, then try again' };
  }
}
