import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { configSchema } from '../config-schema.js';
import { configFileName, findConfig, parseConfig, type ProjectConfig, type StageConfig } from '../config.js';
import { CliError, exitCodes, usageError } from '../errors.js';
import type { CommandContext } from '../main.js';

export interface InitOptions {
  readonly project?: string;
  readonly account?: string;
  readonly region?: string;
  readonly protected?: boolean;
  readonly alarmEmail?: string;
  readonly twilioCredentials?: string;
  readonly createVerifyService?: boolean;
  readonly force?: boolean;
}

const accountPattern = /^\d{12}$/;
const regionPattern = new RegExp(configSchema.definitions.stage.properties.region.pattern);

/**
 * `chatshyld init`: writes (or extends) chatshyld.config.json with one stage, asking for what the
 * flags did not give when there is a terminal; optionally stores the stage's Twilio credentials,
 * creating a Verify service first if asked to.
 */
export async function init(options: InitOptions, context: CommandContext): Promise<number> {
  const { out, streams, global } = context;
  const existing = await findConfig(streams.cwd);
  const path = existing?.path ?? join(streams.cwd, configFileName);
  const stage = global.stage ?? streams.env.CHATSHYLD_STAGE ?? 'dev';
  if (existing?.config.stages[stage] && !options.force) {
    throw usageError(`${path} already has stage ${stage}`, 'pick another --stage, or pass --force to replace it');
  }

  const prompts = out.canPrompt() ? await import('@inquirer/prompts') : undefined;
  const missing: string[] = [];
  const ask = async (flag: string, value: string | undefined, question: string, check: (text: string) => true | string, fallback?: string) => {
    if (value !== undefined) {
      const verdict = check(value);
      if (verdict !== true) throw usageError(`${flag}: ${verdict}`);
      return value;
    }
    if (!prompts) {
      if (fallback !== undefined) return fallback;
      missing.push(flag);
      return '';
    }
    return prompts.input({ message: question, ...(fallback && { default: fallback }), validate: check });
  };

  const project =
    existing?.config.project ??
    (await ask('--project', options.project, 'Project name', (text) => /^[a-z][a-z0-9-]{0,30}$/.test(text) || 'lower-case letters, digits and dashes', sanitize(basename(streams.cwd))));
  const account = await ask('--account', options.account, `AWS account of stage ${stage}`, (text) => accountPattern.test(text) || '12 digits');
  const region = await ask('--region', options.region ?? global.region, `AWS region of stage ${stage}`, (text) => regionPattern.test(text) || 'an AWS region such as eu-west-1', prompts ? 'eu-west-1' : undefined);
  if (missing.length > 0) {
    throw new CliError('missing_flags', `there is no terminal to ask for ${missing.join(', ')}`, `pass ${missing.map((flag) => `${flag} <value>`).join(' ')}`, exitCodes.usage);
  }
  const isProtected = options.protected ?? (prompts ? await prompts.confirm({ message: `Is ${stage} protected (prod-like)?`, default: stage === 'prod' }) : stage === 'prod');
  const alarmEmail = options.alarmEmail ?? (prompts ? (await prompts.input({ message: 'Alarm email (empty for none)' })) || undefined : undefined);

  const stageConfig: StageConfig = {
    account,
    region,
    protected: isProtected,
    allowTestNumbers: !isProtected,
    logRetentionDays: isProtected ? 90 : 14,
    ...(alarmEmail && { alarmEmail }),
  };
  const config: ProjectConfig = {
    ...({ $schema: './chatshyld.config.schema.json' } as object),
    project,
    stages: { ...existing?.config.stages, [stage]: stageConfig },
  } as ProjectConfig;
  const text = `${JSON.stringify(config, null, 2)}\n`;
  parseConfig(text, configFileName); // never write a file the CLI would refuse
  await writeFile(path, text);
  out.info(`wrote stage ${stage} to ${path}`);

  let twilio: string | undefined;
  const wantsTwilio = options.twilioCredentials !== undefined || (prompts ? await prompts.confirm({ message: 'Store Twilio credentials for this stage now?', default: false }) : false);
  if (wantsTwilio) twilio = await storeTwilio(options, context, stage, prompts);

  out.resultJson({ path, stage, stageConfig, twilio: twilio ?? null });
  out.result(
    [
      `chatshyld.config.json: stage ${stage} (${account}, ${region}${isProtected ? ', protected' : ''})`,
      twilio ? `twilio secret stored (Verify service ${twilio})` : `next: chatshyld secrets set twilio --stage ${stage}`,
      `then: chatshyld doctor --stage ${stage}`,
    ].join('\n'),
  );
  return exitCodes.ok;
}

async function storeTwilio(
  options: InitOptions,
  context: CommandContext,
  stage: string,
  prompts: typeof import('@inquirer/prompts') | undefined,
): Promise<string> {
  let credentials: { accountSid?: string; authToken?: string; verifyServiceSid?: string };
  if (options.twilioCredentials) {
    credentials = JSON.parse(await readFile(options.twilioCredentials, 'utf8'));
  } else {
    credentials = {
      accountSid: await prompts!.input({ message: 'Twilio Account SID (AC…)' }),
      authToken: await prompts!.password({ message: 'Twilio Auth Token', mask: '*' }),
      verifyServiceSid: (await prompts!.input({ message: 'Verify Service SID (VA…, empty to create one)' })) || undefined,
    };
  }
  if (!credentials.accountSid || !credentials.authToken) throw usageError('the Twilio credentials need accountSid and authToken');
  if (!credentials.verifyServiceSid) {
    if (!options.createVerifyService && !(prompts && (await prompts.confirm({ message: 'Create a Verify service now?', default: true })))) {
      throw usageError('the Twilio credentials have no verifyServiceSid', 'add it, or pass --create-verify-service');
    }
    const { createVerifyService } = await import('../twilio-setup.js');
    credentials.verifyServiceSid = await createVerifyService(
      { accountSid: credentials.accountSid, authToken: credentials.authToken },
      `ChatShyld ${stage}`,
    );
    context.out.info(`created Twilio Verify service ${credentials.verifyServiceSid}`);
  }
  const value = JSON.stringify({ accountSid: credentials.accountSid, authToken: credentials.authToken, verifyServiceSid: credentials.verifyServiceSid });
  const [{ validateSecret }, { openStageSecrets }] = await Promise.all([import('../../service/secrets/checks.js'), import('../secret-store.js')]);
  const validation = validateSecret('twilio', value, new Date());
  if (!validation.ok) throw usageError(`the Twilio credentials are not well-formed: ${validation.reason}`);
  const { store } = await openStageSecrets({ ...context, global: { ...context.global, stage } });
  await store.put('twilio', value);
  return credentials.verifyServiceSid;
}

function sanitize(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').slice(0, 31);
  return cleaned || 'chatshyld';
}
