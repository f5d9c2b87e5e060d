import { randomInt } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parsePhone } from '../../service/core/phone.js';
import { otpCodePattern } from '../../service/core/test-numbers.js';
import {
  renderJson,
  renderJunit,
  renderMarkdown,
  renderPretty,
  reportFiles,
  reporterNames,
  type ReporterName,
} from '../../smoke/reporters.js';
import { runSmoke, type SmokeOptions } from '../../smoke/run.js';
import type { SmokeReport } from '../../smoke/types.js';
import { loadConfig, localStage, resolveStage, stageName } from '../config.js';
import { makeDirectory } from '../directories.js';
import { CliError, configError, exitCodes, usageError } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { untilSignal } from '../signals.js';

export interface SmokeCommandOptions {
  readonly stage?: string;
  readonly local?: boolean;
  readonly url?: string;
  readonly phone?: string;
  readonly code?: string;
  readonly reporter: string;
  readonly out: string;
  readonly timeout: number;
  readonly keep?: boolean;
}

interface Target {
  readonly baseUrl: string;
  readonly label: string;
  readonly stop?: () => Promise<void>;
}

/** `chatshyld smoke`: the flow of DESIGN §7 against a sandbox, a URL or a deployed stage. */
export async function smoke(options: SmokeCommandOptions, context: CommandContext): Promise<number> {
  const { out, streams } = context;
  const reporters = parseReporters(options.reporter);
  // An explicit --local or --url wins over CHATSHYLD_STAGE; only --stage itself competes with them.
  const explicitTarget = Boolean(options.local) || options.url !== undefined;
  const stage = stageName(options.stage, explicitTarget ? {} : streams.env);
  const local = Boolean(options.local) || stage === localStage;
  const chosen = [local, options.url !== undefined, stage !== undefined && stage !== localStage].filter(Boolean);
  if (chosen.length === 0) {
    throw usageError('say what to check', 'pass --local, --url <url>, or --stage <name> (or set CHATSHYLD_STAGE)');
  }
  if (chosen.length > 1) throw usageError('--local, --url and --stage each name a target; pass only one');

  if (options.phone !== undefined) {
    try {
      parsePhone(options.phone);
    } catch {
      throw usageError(`--phone must be an E.164 number such as +14155550123, got "${options.phone}"`);
    }
  }
  // The test number's code is long-lived: better from the environment than from argv (shell history, ps).
  const fixedCode = options.code ?? streams.env.CHATSHYLD_SMOKE_CODE;
  if (fixedCode !== undefined && !otpCodePattern.test(fixedCode)) {
    throw usageError(`${options.code !== undefined ? '--code' : 'CHATSHYLD_SMOKE_CODE'} must be 4-10 digits`);
  }
  if (options.code !== undefined && options.phone === undefined) {
    throw usageError('--code belongs to a test number: pass --phone as well');
  }
  if (options.url !== undefined && !isSandboxUrl(urlTarget(options.url).baseUrl) && (options.phone === undefined || fixedCode === undefined)) {
    throw usageError(
      `${options.url} is not a sandbox on this machine: smoke will not send a real SMS to a made-up number`,
      "pass a test number: --phone <e164> with its code in CHATSHYLD_SMOKE_CODE (or --code); or use --stage <name>, which reads the stage's test-numbers secret",
    );
  }

  const interrupt = untilSignal();
  let target: Target | undefined;
  try {
    let phone = options.phone;
    let code: SmokeOptions['code'] =
      fixedCode !== undefined && options.phone !== undefined ? { from: 'fixed', value: fixedCode } : { from: 'sandbox' };
    if (local) {
      target = await localTarget();
    } else if (options.url !== undefined) {
      target = urlTarget(options.url);
    } else {
      if (code.from === 'sandbox') await refuseWithoutTestNumbers(stage!, context);
      target = await stageTarget(stage!, context);
      if (code.from === 'sandbox') {
        const testNumber = await stageTestNumber(stage!, context, options.phone);
        phone = testNumber.phone;
        code = { from: 'fixed', value: testNumber.code };
      }
    }
    out.info(`smoke: checking ${target.label}`);
    const stop = new AbortController();
    void interrupt.promise.then(() => {
      out.info('interrupted: finishing the current step, then cleaning up');
      stop.abort();
    });
    // Each step as it finishes, so a slow stage is never a long silence.
    const live = reporters.has('pretty') && !out.json;
    const paint = out.paintErr;
    const outcome = await runSmoke({
      baseUrl: target.baseUrl,
      phone: phone ?? `+1415555${randomInt(1000, 10_000)}`,
      code,
      keep: Boolean(options.keep),
      stepTimeoutMs: options.timeout,
      signal: stop.signal,
      onStep: (step) => {
        const mark = step.status === 'passed' ? paint.green('✓') : step.status === 'failed' ? paint.red('✗') : paint.dim('-');
        const line = `${mark} ${step.name} ${step.status === 'skipped' ? paint.dim(step.message ?? 'skipped') : paint.dim(`${Math.round(step.durationMs)} ms`)}`;
        if (live) out.info(line);
        else out.debug(line);
      },
    });
    await report(outcome, reporters, options, context);
    if (outcome.interrupted) return exitCodes.interrupted;
    return outcome.passed ? exitCodes.ok : exitCodes.failed;
  } finally {
    interrupt.dispose();
    await target?.stop?.();
  }
}

function parseReporters(list: string): Set<ReporterName> {
  const names = list.split(',').map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !(reporterNames as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw usageError(
      `unknown reporter${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ') || '(none given)'}`,
      `choose from ${reporterNames.join(', ')}, comma-separated`,
    );
  }
  return new Set(names as ReporterName[]);
}

async function localTarget(): Promise<Target> {
  const { startSandbox } = await import('../../service/local/sandbox.js');
  // A throwaway state folder: the run never touches the developer's own sandbox secrets or data, and
  // runs beside a `chatshyld dev` of the same project.
  const stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-smoke-'));
  const sandbox = await startSandbox({ port: 0, stateDir });
  return {
    baseUrl: sandbox.url,
    label: `an in-process sandbox at ${sandbox.url}`,
    stop: async () => {
      await sandbox.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

function urlTarget(url: string): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`--url must be an absolute http(s) URL, got "${url}"`);
  }
  if (!/^https?:$/.test(parsed.protocol)) throw usageError(`--url must use http or https, got "${parsed.protocol}"`);
  return { baseUrl: parsed.href.replace(/\/+$/, ''), label: parsed.href.replace(/\/+$/, '') };
}

/** A sandbox runs on this machine; any other host is a deployed API that sends real SMS. */
function isSandboxUrl(url: string): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
}

/**
 * The first unexpired entry of the stage's test-numbers secret (the one for `phone`, if given): a
 * deployed stage sends real SMS otherwise.
 */
/**
 * A stage that does not honour test numbers sends their codes to Twilio like any number's: smoke would
 * send a real SMS and could never sign in. Refused before anything is asked of AWS.
 */
async function refuseWithoutTestNumbers(stage: string, context: CommandContext): Promise<void> {
  const { config } = resolveStage(await loadConfig(context.streams.cwd), stage);
  if (config && !(config.allowTestNumbers ?? !config.protected)) {
    throw configError(
      `stage ${stage} does not honour test numbers (allowTestNumbers is off), so smoke would send a real SMS and could not sign in`,
      'pass --phone and --code of a number whose code you will have, or smoke a stage that allows test numbers',
    );
  }
}

async function stageTestNumber(stage: string, context: CommandContext, phone?: string): Promise<{ phone: string; code: string }> {
  const [{ openStageSecrets }, { parseTestNumbers }] = await Promise.all([
    import('../secret-store.js'),
    import('../../service/core/test-numbers.js'),
  ]);
  const { store } = await openStageSecrets(context);
  const record = await store.get('test-numbers');
  const now = Date.now();
  const entry =
    record && parseTestNumbers(record.value).find((candidate) => Date.parse(candidate.expiresAt) > now && (phone === undefined || candidate.phone === phone));
  if (!entry) {
    throw configError(
      `stage ${stage} has no unexpired test number${phone ? ` ${phone}` : ''}, and smoke will not send a real SMS`,
      `add one: chatshyld secrets set test-numbers --stage ${stage}; or pass --phone and --code`,
    );
  }
  return entry;
}

async function stageTarget(stage: string, context: CommandContext): Promise<Target> {
  const { streams } = context;
  const loaded = await loadConfig(streams.cwd);
  const { config } = resolveStage(loaded, stage);
  const outputsPath = join(loaded.root, '.chatshyld', 'outputs', `${stage}.json`);
  let outputs: { ApiUrl?: string };
  try {
    outputs = JSON.parse(await readFile(outputsPath, 'utf8')) as { ApiUrl?: string };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw configError(`${relative(streams.cwd, outputsPath)} cannot be read: ${(error as Error).message}`, `delete it (smoke then reads the stack's outputs), or deploy stage ${stage} again`);
    // A checkout that did not deploy (a nightly CI job) asks CloudFormation, as `status` does.
    outputs = await deployedOutputs(stage, context, config?.region, relative(streams.cwd, outputsPath));
  }
  if (typeof outputs.ApiUrl !== 'string') {
    throw configError(`${relative(streams.cwd, outputsPath)} has no ApiUrl`, `deploy stage ${stage} again to refresh it`);
  }
  return { ...urlTarget(outputs.ApiUrl), label: `stage ${stage} at ${outputs.ApiUrl}` };
}

async function deployedOutputs(stage: string, context: CommandContext, configRegion: string | undefined, savedPath: string): Promise<{ ApiUrl?: string }> {
  const region = context.global.region ?? configRegion;
  if (!region) throw configError(`no saved outputs for stage ${stage} (${savedPath}), and the stage has no region to look for its stack in`, `set stages.${stage}.region, or pass --url`);
  const { describeStageStack, stackOutputs } = await import('../stack-outputs.js');
  const stack = await describeStageStack(context, stage, region).catch((error: unknown) => {
    if (!(error instanceof CliError)) throw error;
    throw new CliError(
      error.code,
      `no saved outputs for stage ${stage} (${savedPath}), and its stack could not be read: ${error.message}`,
      `${error.hint ? `${error.hint}; ` : ''}or deploy from here (\`chatshyld deploy --stage ${stage}\`), or pass --url`,
      error.exitCode,
    );
  });
  if (!stack) {
    throw configError(`stage ${stage} is not deployed: no ${savedPath}, and no stack for it in ${region}`, `deploy it first with \`chatshyld deploy --stage ${stage}\`, or pass --url`);
  }
  const outputs = stackOutputs(stack);
  if (outputs.ApiUrl) context.out.info(`no ${savedPath}: using ApiUrl ${outputs.ApiUrl} from stack ${stack.StackName} (${stack.StackStatus})`);
  return outputs;
}

async function report(
  result: SmokeReport,
  reporters: Set<ReporterName>,
  options: SmokeCommandOptions,
  { out, streams }: CommandContext,
): Promise<void> {
  if (reporters.has('pretty')) out.result(renderPretty(result, out.paint));
  out.resultJson(result);

  const files: string[] = [];
  const directory = resolve(streams.cwd, options.out);
  // A report that cannot be written is worth a warning, not a verdict: the checks already ran.
  const attempt = async (where: string, work: () => Promise<void>) => {
    try {
      await work();
      return true;
    } catch (error) {
      out.info(`warning: could not write ${where}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; the result above stands`);
      return false;
    }
  };
  const write = async (name: keyof typeof reportFiles, text: string) => {
    const path = join(directory, reportFiles[name]);
    if (await attempt(relative(streams.cwd, path) || path, async () => {
      await makeDirectory(directory);
      await writeFile(path, text);
    })) files.push(relative(streams.cwd, path) || path);
  };
  if (reporters.has('json')) await write('json', renderJson(result));
  if (reporters.has('junit')) await write('junit', renderJunit(result));
  if (reporters.has('markdown')) {
    const markdown = renderMarkdown(result);
    await write('markdown', markdown);
    const summary = streams.env.GITHUB_STEP_SUMMARY;
    if (summary) await attempt(`the step summary (GITHUB_STEP_SUMMARY=${summary})`, () => appendFile(summary, `${markdown}\n`));
  }
  if (files.length > 0) out.info(`reports: ${files.join(', ')}`);
  if (!reporters.has('pretty') && !out.json) {
    out.info(summaryLine(result));
  }
}

function summaryLine(result: SmokeReport): string {
  if (result.passed) return 'smoke passed';
  const failed = result.steps.find((step) => step.status === 'failed');
  if (failed) return `smoke failed at ${failed.name}`;
  return result.interrupted ? 'smoke interrupted before it finished' : 'smoke failed';
}
