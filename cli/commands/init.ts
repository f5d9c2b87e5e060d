import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../config-schema.js';
import { configFileName, findConfig, localStage, parseConfig, type ProjectConfig, type StageConfig } from '../config.js';
import { CliError, exitCodes, interrupted, usageError } from '../errors.js';
import { packageDirectory } from '../../infra/version.js';
import type { CommandContext } from '../command-context.js';
import { untilSignal } from '../signals.js';

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
const emailPattern = new RegExp(configSchema.definitions.stage.properties.alarmEmail.pattern);
/** The schema this package ships, for the `$schema` of a new config (at the package root, run from a checkout or from dist/). */
const shippedSchema = join(packageDirectory ?? fileURLToPath(new URL('../../', import.meta.url)), 'chatshyld.config.schema.json');

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
  const isLocal = stage === localStage;
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
    // Each answer is checked as it is given; a wrong one is asked again, and nothing is lost.
    return prompts.input({ message: question, ...(fallback && { default: fallback }), validate: check });
  };
  const checkEmail = (text: string) => text === '' || emailPattern.test(text) || 'an e-mail address such as oncall@example.com (empty for none)';

  const project =
    existing?.config.project ??
    (await ask('--project', options.project, 'Project name', (text) => /^[a-z][a-z0-9-]{0,30}$/.test(text) || 'lower-case letters, digits and dashes', sanitize(basename(streams.cwd))));
  if (options.alarmEmail !== undefined && checkEmail(options.alarmEmail) !== true) throw usageError(`--alarm-email: ${checkEmail(options.alarmEmail)}`);
  // The sandbox runs on this machine: it has no account and no region.
  if (isLocal && (options.account !== undefined || options.region !== undefined || global.region !== undefined)) {
    out.info('the local stage is the sandbox: it has no AWS account or region, so --account and --region are not written');
  }
  const account = isLocal ? '' : await ask('--account', options.account, `AWS account of stage ${stage}`, (text) => accountPattern.test(text) || '12 digits');
  const region = isLocal ? '' : await ask('--region', options.region ?? global.region, `AWS region of stage ${stage}`, (text) => regionPattern.test(text) || 'an AWS region such as eu-west-1', prompts ? 'eu-west-1' : undefined);
  if (missing.length > 0) {
    throw new CliError('missing_flags', `there is no terminal to ask for ${missing.join(', ')}`, `pass ${missing.map((flag) => `${flag} <value>`).join(' ')}`, exitCodes.usage);
  }
  const isProtected = isLocal ? false : (options.protected ?? (prompts ? await prompts.confirm({ message: `Is ${stage} protected (prod-like)?`, default: stage === 'prod' }) : stage === 'prod'));
  const alarmEmail = isLocal ? undefined : (options.alarmEmail ?? (prompts ? (await prompts.input({ message: 'Alarm email (empty for none)', validate: checkEmail })) || undefined : undefined));

  const stageConfig: StageConfig | undefined = isLocal
    ? undefined
    : {
        account,
        region,
        protected: isProtected,
        allowTestNumbers: !isProtected,
        logRetentionDays: isProtected ? 90 : 14,
        ...(alarmEmail && { alarmEmail }),
      };
  // Everything that can be refused is refused before the config is written: a credentials file
  // that is missing or malformed, and the question whether to store them at all.
  const fromFile = options.twilioCredentials !== undefined ? await readTwilioFile(options.twilioCredentials) : undefined;
  const wantsTwilio = fromFile !== undefined || (prompts ? await prompts.confirm({ message: 'Store Twilio credentials for this stage now?', default: false }) : false);

  const before = existing ? await readFile(path, 'utf8') : undefined;
  const text = configText(before, project, stage, stageConfig, path);
  parseConfig(text, configFileName); // never write a file the CLI would refuse
  if (text !== before) {
    await writeFile(path, text);
    out.info(isLocal ? `wrote ${path}` : `wrote stage ${stage} to ${path}`);
  }

  let twilio: string | undefined;
  if (wantsTwilio) {
    // Ctrl-C from here on stops the Twilio step and puts the config back too.
    const interrupt = untilSignal();
    try {
      twilio = await Promise.race([
        storeTwilio(fromFile, options, context, stage, prompts),
        interrupt.promise.then((): never => {
          throw interrupted();
        }),
      ]);
    } catch (error) {
      // Put the config back as it was, so the same command can simply be run again.
      if (text !== before) {
        await (before === undefined ? rm(path, { force: true }) : writeFile(path, before));
        out.info(`${path} is back as it was: run the same command again${error instanceof CliError && error.code === 'interrupted' ? '' : ' once the problem below is fixed'}`);
      }
      throw error;
    } finally {
      interrupt.dispose();
    }
  }

  out.resultJson({ path, stage, stageConfig, twilio: twilio ?? null });
  out.result(
    [
      isLocal ? `chatshyld.config.json: project ${project}; the local stage needs no entry` : `chatshyld.config.json: stage ${stage} (${account}, ${region}${isProtected ? ', protected' : ''})`,
      twilio ? `twilio secret stored (Verify service ${twilio})` : `next: chatshyld secrets set twilio --stage ${stage}`,
      `then: chatshyld doctor --stage ${stage}`,
    ].join('\n'),
  );
  return exitCodes.ok;
}

interface TwilioCredentials {
  accountSid?: string;
  authToken?: string;
  verifyServiceSid?: string;
}

/** The --twilio-credentials file, or exit 2 saying what is wrong with it. */
async function readTwilioFile(file: string): Promise<TwilioCredentials> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw usageError(`--twilio-credentials: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'check the path');
  }
  let credentials: unknown;
  try {
    credentials = JSON.parse(text);
  } catch {
    throw usageError(`--twilio-credentials: ${file} is not JSON`, 'write {"accountSid": "AC…", "authToken": "…", "verifyServiceSid": "VA…"} (verifyServiceSid optional)');
  }
  const fields = credentials as TwilioCredentials | null;
  if (typeof fields !== 'object' || fields === null || typeof fields.accountSid !== 'string' || !fields.accountSid || typeof fields.authToken !== 'string' || !fields.authToken) {
    throw usageError(`--twilio-credentials: ${file} needs accountSid and authToken`);
  }
  return fields;
}

async function storeTwilio(
  fromFile: TwilioCredentials | undefined,
  options: InitOptions,
  context: CommandContext,
  stage: string,
  prompts: typeof import('@inquirer/prompts') | undefined,
): Promise<string> {
  const credentials: TwilioCredentials = fromFile
    ? { ...fromFile }
    : {
        accountSid: await prompts!.input({ message: 'Twilio Account SID (AC…)' }),
        authToken: await prompts!.password({ message: 'Twilio Auth Token', mask: '*' }),
        verifyServiceSid: (await prompts!.input({ message: 'Verify Service SID (VA…, empty to create one)' })) || undefined,
      };
  if (!credentials.accountSid || !credentials.authToken) throw usageError('the Twilio credentials need accountSid and authToken');
  if (!credentials.verifyServiceSid) {
    if (!options.createVerifyService && !(prompts && (await prompts.confirm({ message: 'Create a Verify service now?', default: true })))) {
      throw usageError('the Twilio credentials have no verifyServiceSid', 'add it, or pass --create-verify-service');
    }
    const { createVerifyService } = await import('../twilio-setup.js');
    try {
      credentials.verifyServiceSid = await createVerifyService(
        { accountSid: credentials.accountSid, authToken: credentials.authToken },
        `ChatShyld ${stage}`,
      );
    } catch (error) {
      throw twilioFailure(error) ?? error;
    }
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

/**
 * The config's new text: an existing file keeps every other field and stage as they were (its
 * `$schema` too); only the one stage is added or replaced. A new file points `$schema` at the schema
 * this package ships, by a path that exists from where the file is.
 */
function configText(before: string | undefined, project: string, stage: string, stageConfig: StageConfig | undefined, path: string): string {
  if (before !== undefined) return stageConfig ? withStage(before, stage, stageConfig) : before;
  let schema = relative(dirname(path), shippedSchema).split(sep).join('/');
  if (!schema.startsWith('.')) schema = `./${schema}`;
  const config: ProjectConfig & { $schema: string } = { $schema: schema, project, stages: stageConfig ? { [stage]: stageConfig } : {} };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * `text` with one stage added or replaced, edited in place: every other byte of the file (other
 * stages' layout, compact arrays, key order) stays as its author wrote it.
 */
function withStage(text: string, stage: string, stageConfig: StageConfig): string {
  const unit = /^[ \t]+(?=")/m.exec(text)?.[0] ?? '  ';
  const stages = jsonObjectAt(text, text.indexOf('{')).members.get('stages');
  if (!stages || text[stages.valueStart] !== '{') throw usageError(`the config has no "stages" object to add ${stage} to`);
  const members = jsonObjectAt(text, stages.valueStart).members;
  const lineIndent = (at: number) => /[ \t]*$/.exec(text.slice(text.lastIndexOf('\n', at - 1) + 1, at))![0];
  const existing = members.get(stage);
  const last = [...members.values()].at(-1);
  const indent = existing ? lineIndent(existing.keyStart) : last ? lineIndent(last.keyStart) : `${lineIndent(stages.keyStart)}${unit}`;
  const value = JSON.stringify(stageConfig, null, unit).replaceAll('\n', `\n${indent}`);
  if (existing) return `${text.slice(0, existing.valueStart)}${value}${text.slice(existing.valueEnd)}`;
  const entry = `${indent}${JSON.stringify(stage)}: ${value}`;
  if (last) return `${text.slice(0, last.valueEnd)},\n${entry}${text.slice(last.valueEnd)}`;
  const close = stages.valueEnd - 1; // the stages object's `}`
  return `${text.slice(0, stages.valueStart + 1)}\n${entry}\n${lineIndent(stages.keyStart)}${text.slice(close)}`;
}

interface MemberSpan {
  readonly keyStart: number;
  readonly valueStart: number;
  readonly valueEnd: number;
}

/** The members of the JSON object starting at `start` (text already known to be valid JSON). */
function jsonObjectAt(text: string, start: number): { end: number; members: Map<string, MemberSpan> } {
  const members = new Map<string, MemberSpan>();
  const blank = (at: number) => {
    while (/\s/.test(text[at] ?? '')) at++;
    return at;
  };
  const stringEnd = (at: number) => {
    for (at++; text[at] !== '"'; at++) if (text[at] === '\\') at++;
    return at + 1;
  };
  const valueEnd = (at: number): number => {
    const first = text[at];
    if (first === '"') return stringEnd(at);
    if (first === '{') return jsonObjectAt(text, at).end;
    if (first === '[') {
      at = blank(at + 1);
      if (text[at] === ']') return at + 1;
      for (;;) {
        at = blank(valueEnd(at));
        if (text[at] === ']') return at + 1;
        at = blank(at + 1); // past the comma
      }
    }
    while (at < text.length && !/[\s,\]}]/.test(text[at]!)) at++;
    return at;
  };
  let at = blank(start + 1);
  while (text[at] !== '}') {
    const keyStart = at;
    const keyEnd = stringEnd(at);
    const valueStart = blank(blank(keyEnd) + 1); // past the colon
    const end = valueEnd(valueStart);
    members.set(JSON.parse(text.slice(keyStart, keyEnd)) as string, { keyStart, valueStart, valueEnd: end });
    at = blank(end);
    if (text[at] === ',') at = blank(at + 1);
  }
  return { end: at + 1, members };
}

/** Twilio out of reach, or refusing: one line, what to do next. */
function twilioFailure(error: unknown): CliError | undefined {
  const err = error as Error & { code?: string; status?: number; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code;
  if (['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'].includes(String(code))) {
    return new CliError('twilio_unreachable', `could not reach Twilio: ${code}`, 'check the network, then run the same command again', exitCodes.failed, { cause: error });
  }
  if (typeof err.status === 'number') {
    return new CliError('twilio_refused', `Twilio refused the request (${err.status}): ${err.message}`, 'check the Account SID and Auth Token, then run the same command again', exitCodes.failed, { cause: error });
  }
  return undefined;
}

function sanitize(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').slice(0, 31);
  return cleaned || 'chatshyld';
}
