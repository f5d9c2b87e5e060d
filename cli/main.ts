/**
 * The `chatshyld` command line: parses, dispatches, and turns every outcome into an exit code.
 * Commander lives here and only here; each command's module is imported inside its action, so
 * `chatshyld --help` loads no AWS SDK, no emulator and no CDK.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError, exitCodes, interrupted } from './errors.js';
import type { CommandContext, CommandHandler, SourceTree } from './command-context.js';
import { Output, type GlobalOptions, type Streams } from './output.js';
import { version } from '../infra/version.js';

const examples = (lines: string[]) => `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;

/**
 * Runs one command line. `sources` is the checkout the CLI was compiled from (bin/ passes it), so
 * that synth and deploy can refuse to ship a tree that was edited while they ran.
 */
export async function run(argv: readonly string[], streams: Streams = processStreams(), sources?: SourceTree): Promise<number> {
  let exitCode: number = exitCodes.ok;
  const program = new Command('chatshyld');

  /** Wraps a command's action: lazy import, context, exit code. */
  const action =
    <O>(load: () => Promise<CommandHandler<O>>) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const options = command.optsWithGlobals() as O & GlobalOptions;
      const context: CommandContext = { out: new Output(streams, options), streams, global: options, ...(sources && { sources }) };
      const positional = args.slice(0, -2) as string[];
      const handler = await load();
      exitCode = await handler(options, context, ...positional);
    };

  program
    .description('Deploy, check and operate the ChatShyld backend.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addOption(new Option('--stage <name>', 'stage to act on (default: $CHATSHYLD_STAGE)'))
    .addOption(new Option('--profile <name>', 'AWS profile to use'))
    .addOption(new Option('--region <region>', 'AWS region, overriding the stage config'))
    .option('--json', 'machine-readable output on stdout; progress stays on stderr')
    .option('--verbose', 'more detail on stderr')
    .option('--no-color', 'no colours (also NO_COLOR=1 or TERM=dumb; FORCE_COLOR=1 forces them)')
    .option('-y, --yes', 'answer yes to confirmations')
    // Every command's --help lists --stage, --profile and the other global options too.
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => streams.stdout.write(text),
      writeErr: (text) => streams.stderr.write(text),
      outputError: (text, write) =>
        write(`${text.trimEnd()}\n  hint: run \`chatshyld --help\` (or \`chatshyld <command> --help\`) for usage\n`),
    })
    .addHelpText(
      'after',
      examples([
        'chatshyld dev                               # the sandbox on port 3000',
        'chatshyld smoke --local                     # the whole smoke flow on an in-process sandbox',
        'chatshyld smoke --stage dev --reporter pretty,junit --out reports',
        'chatshyld deploy --stage dev --smoke',
        'chatshyld secrets rotate jwt-secret --stage prod',
      ]),
    );

  program
    .command('dev')
    .description('run the sandbox: the real handlers on dynalite and s3rver, no AWS account needed; its console is at /__sandbox/')
    .option('--port <n>', 'port on 127.0.0.1 (0 picks a free one)', parsePort, 3000)
    .option('--persist', 'keep data under .chatshyld/local/data across runs')
    .option('--reset', 'delete persisted data before starting')
    .option('--no-watch', 'do not rebuild and swap in the functions a save under service/ changes')
    .addHelpText(
      'after',
      examples([
        'chatshyld dev',
        'chatshyld dev --port 0 --persist',
        'chatshyld dev --no-watch                    # keep serving the code it started with',
        'curl -s localhost:3000/__sandbox/otp/%2B14155550123   # the pending code for a number',
      ]),
    )
    .action(action(async () => (await import('./commands/dev.js')).dev));

  program
    .command('smoke')
    .description('run the scripted login → refresh → avatar check against a sandbox or a deployed stage')
    .option('--local', 'boot a sandbox in-process on a free port, check it, stop it')
    .option('--url <url>', 'check the API at this URL')
    .option('--phone <e164>', 'phone number to sign in with (a test number on deployed stages)')
    .option('--code <digits>', "the test number's code (default: read from the sandbox)")
    .option('--reporter <list>', 'comma-separated: pretty, json, junit, markdown', 'pretty')
    .option('--out <dir>', 'folder for report files', '.chatshyld/smoke')
    .option('--timeout <ms>', 'time limit of each request (at most 600000: 10 minutes)', parseRequestTimeout, 10_000)
    .option('--keep', 'keep the smoke user instead of deleting it')
    .addHelpText(
      'after',
      examples([
        'chatshyld smoke --local',
        'chatshyld smoke --url http://127.0.0.1:3000',
        'chatshyld smoke --stage dev --phone +15005550006 --code 123456 --reporter pretty,junit,markdown',
        'chatshyld smoke --local --json | jq .passed',
      ]),
    )
    .action(action(async () => (await import('./commands/smoke.js')).smoke));

  program
    .command('init')
    .description('create or extend chatshyld.config.json for a stage; optionally store Twilio credentials')
    .option('--project <name>', 'project name (default: the folder name)')
    .option('--account <id>', "the stage's AWS account (12 digits)")
    .option('--protected', 'prod-like: no destroy, no hotswap, confirmation before deploy, data retained')
    .option('--alarm-email <address>', 'where alarms go')
    .option('--twilio-credentials <file>', 'JSON with accountSid, authToken and optionally verifyServiceSid')
    .option('--create-verify-service', 'create a Twilio Verify service when the credentials have none')
    .option('--force', 'replace the stage if the config has it already')
    .addHelpText(
      'after',
      examples([
        'chatshyld init                                        # asks',
        'chatshyld init --stage dev --account 123456789012 --region eu-west-1',
        'chatshyld init --stage prod --account 210987654321 --region eu-west-1 --protected --alarm-email oncall@example.com',
      ]),
    )
    .action(action(async () => (await import('./commands/init.js')).init));

  program
    .command('doctor')
    .description('check Node, config, AWS credentials, bootstrap, secrets, Twilio and the stack; ✓/✗ with fixes')
    .addHelpText('after', examples(['chatshyld doctor', 'chatshyld doctor --stage dev', 'chatshyld doctor --stage local --json']))
    .action(action(async () => (await import('./commands/doctor.js')).doctor));

  program
    .command('bootstrap')
    .description("CDK-bootstrap the stage's account and region (safe to repeat)")
    .addHelpText('after', examples(['chatshyld bootstrap --stage dev', 'chatshyld bootstrap --stage prod --profile prod-admin']))
    .action(action(async () => (await import('./commands/bootstrap.js')).bootstrap));

  program
    .command('synth')
    .description("synthesize the stage's CloudFormation offline, functions bundled")
    .option('--out <dir>', 'cloud assembly folder', 'cdk.out')
    .addHelpText('after', examples(['chatshyld synth --stage dev', 'chatshyld synth --stage prod --out build/prod --json']))
    .action(action(async () => (await import('./commands/synth.js')).synth));

  program
    .command('diff')
    .description('show what a deploy would change in the stack')
    .option('--fail', `exit ${exitCodes.changes} when there are differences (a failure to diff is 1 or 2)`)
    .addHelpText('after', examples(['chatshyld diff --stage dev', 'chatshyld diff --stage prod --fail   # in CI, before a deploy']))
    .action(action(async () => (await import('./commands/diff.js')).diff));

  program
    .command('deploy')
    .description('preflight, synthesize and deploy a stage with live progress; saves its outputs')
    .option('--hotswap', 'update function code without CloudFormation where possible (refused on protected stages)')
    .option('--revert-drift', 'a drift-aware change set: put back what a hotswap or a console edit changed, even with an unchanged template')
    .option('--require-approval <level>', 'never | broadening | any-change', 'broadening')
    .option('--smoke', 'run the smoke flow against the stage afterwards; fail if it fails')
    .addHelpText(
      'after',
      examples([
        'chatshyld deploy --stage dev',
        'chatshyld deploy --stage dev --hotswap',
        'chatshyld deploy --stage dev --revert-drift             # after a hotswap',
        'chatshyld deploy --stage prod --yes --smoke            # CI',
        'chatshyld deploy --stage staging --require-approval never',
      ]),
    )
    .action(action(async () => (await import('./commands/deploy.js')).deploy));

  program
    .command('destroy')
    .description('delete a stage (refused for protected stages; asks you to type its name)')
    .addHelpText('after', examples(['chatshyld destroy --stage dev', 'chatshyld destroy --stage pr-42 --yes']))
    .action(action(async () => (await import('./commands/destroy.js')).destroy));

  program
    .command('status')
    .description("the stage's stack status, last update and outputs")
    .addHelpText('after', examples(['chatshyld status --stage dev', 'chatshyld status --stage prod --json | jq .outputs.ApiUrl']))
    .action(action(async () => (await import('./commands/status.js')).status));

  program
    .command('logs')
    .description("the stage's function logs from CloudWatch")
    .option('--fn <route>', 'one function, by route id (getMe, sendOtp, …)')
    .option('--since <time>', '10m, 2h, 1d or an ISO date', '10m')
    .option('--filter <pattern>', 'CloudWatch Logs filter pattern')
    .option('--follow', 'keep printing new events until Ctrl-C')
    .addHelpText(
      'after',
      examples(['chatshyld logs --stage dev --since 1h', 'chatshyld logs --stage prod --fn verifyOtp --filter ERROR --follow']),
    )
    .action(action(async () => (await import('./commands/logs.js')).logs));

  const secrets = program
    .command('secrets')
    .description("manage a stage's secrets in SSM (or the sandbox's file with --stage local)")
    .addHelpText(
      'after',
      examples([
        'chatshyld secrets list --stage dev',
        'chatshyld secrets rotate jwt-secret --stage prod',
        'chatshyld secrets set twilio --stage dev --from-file twilio.json',
      ]),
    );
  const secretsCommand = (name: string) => async () => (await import('./commands/secrets.js'))[name as 'list'];
  secrets
    .command('list')
    .description('every secret with version, last change, who, fingerprint and whether it is well-formed')
    .addHelpText('after', examples(['chatshyld secrets list --stage dev', 'chatshyld secrets list --stage local --json']))
    .action(action(secretsCommand('list')));
  secrets
    .command('get <name>')
    .description("one secret's version and fingerprint; the value only with --reveal")
    .option('--reveal', 'print the value itself')
    .addHelpText('after', examples(['chatshyld secrets get jwt-secret --stage dev', 'chatshyld secrets get test-numbers --stage dev --reveal']))
    .action(action(secretsCommand('get')));
  secrets
    .command('set <name>')
    .description('write a new version: from a masked prompt, --from-file, or stdin (never from the command line)')
    .option('--from-file <path>', 'read the value (JSON) from this file')
    .option('--allow-revoked', 'let a key ring bring back a revoked key (with --yes)')
    .addHelpText(
      'after',
      examples([
        'chatshyld secrets set twilio --stage dev                    # asks, masked',
        'chatshyld secrets set test-numbers --stage dev --from-file test-numbers.json',
        'op read op://ops/twilio | chatshyld secrets set twilio --stage prod',
      ]),
    )
    .action(action(secretsCommand('set')));
  secrets
    .command('rotate <name>')
    .description('rotate jwt-secret or refresh-pepper without logging anyone out')
    .option('--revoke-previous', 'emergency: drop every older key now, ending every session (asks first)')
    .option('--dry-run', 'say what would happen; change nothing')
    .option('--restart-functions', "make the stage's functions read the new key now instead of waiting for their cache")
    .addHelpText(
      'after',
      examples([
        'chatshyld secrets rotate jwt-secret --stage prod',
        'chatshyld secrets rotate refresh-pepper --stage prod --restart-functions',
        'chatshyld secrets rotate jwt-secret --stage prod --revoke-previous --yes   # a leaked key',
        'chatshyld secrets rotate jwt-secret --stage local                        # rehearse on the sandbox',
      ]),
    )
    .action(action(secretsCommand('rotate')));
  secrets
    .command('history <name>')
    .description('every kept version: dates, who, fingerprints')
    .addHelpText('after', examples(['chatshyld secrets history jwt-secret --stage prod']))
    .action(action(secretsCommand('history')));
  secrets
    .command('rollback <name>')
    .description('make an earlier version current again (as a new version)')
    .requiredOption('--to-version <n>', 'the version to restore (see `secrets history`)')
    .option('--allow-revoked', 'allow a version holding revoked keys (with --yes): they verify again')
    .addHelpText('after', examples(['chatshyld secrets rollback test-numbers --stage dev --to-version 3']))
    .action(action(secretsCommand('rollback')));
  secrets
    .command('init')
    .description('create every missing secret of a stage with strong random values')
    .addHelpText('after', examples(['chatshyld secrets init --stage dev']))
    .action(action(secretsCommand('init')));

  const users = program
    .command('users')
    .description('on-call operations on one account: find, inspect, sign out, block, delete; every change audited')
    .addHelpText(
      'after',
      examples([
        'chatshyld users find "+1 415 555 0123" --stage prod       # any spelling of the number',
        'chatshyld users revoke <id> --stage prod                  # sign out everywhere, now',
        'chatshyld users block +14155550123 --until 7d --reason "SIM swap" --stage prod',
        'chatshyld users audit --since 1d --stage prod --json',
        'chatshyld users find +14155550123 --stage local           # the running sandbox (chatshyld dev)',
      ]),
    );
  const usersCommand = (name: string) => async () => (await import('./commands/users.js'))[name as 'find'];
  users
    .command('find <phone>')
    .description('the account and the block of a number, in any spelling')
    .addHelpText('after', examples(['chatshyld users find +14155550123 --stage dev', 'chatshyld users find "+1 (415) 555-0123" --stage prod --json']))
    .action(action(usersCommand('find')));
  users
    .command('show <id>')
    .description('profile, created/updated, avatar key, status and block of an account')
    .addHelpText('after', examples(['chatshyld users show 3f1c…-… --stage prod']))
    .action(action(usersCommand('show')));
  users
    .command('sessions <id>')
    .description("an account's sessions: status, created, last refresh, expiry, why revoked (never a token)")
    .addHelpText('after', examples(['chatshyld users sessions <id> --stage prod', 'chatshyld users sessions <id> --stage prod --json | jq ".[].status"']))
    .action(action(usersCommand('sessions')));
  users
    .command('revoke <id>')
    .description('sign out one session (--family) or all; access tokens already issued stop working at once')
    .option('--family <id>', 'only this session family (see `users sessions`)')
    .option('--reason <text>', 'why, for the audit log')
    .addHelpText('after', examples(['chatshyld users revoke <id> --stage prod --reason "phone stolen"', 'chatshyld users revoke <id> --family <fid> --stage dev --yes']))
    .action(action(usersCommand('revoke')));
  users
    .command('block <phone-or-id>')
    .description('refuse codes, sign-in and refresh for a number or account, and sign it out everywhere')
    .option('--until <time>', 'end the block by itself: 30m, 2h, 7d, 2w, an ISO time with its zone, or a date (UTC midnight); default: until unblocked')
    .option('--replace', 'replace a block that already holds (otherwise refused, showing it)')
    .option('--reason <text>', 'why, for the audit log')
    .addHelpText(
      'after',
      examples([
        'chatshyld users block +14155550123 --stage prod --reason "reported stolen"',
        'chatshyld users block +14155550123 --until 24h --stage prod --reason "SMS pumping"',
        'chatshyld users block <id> --stage dev --yes',
      ]),
    )
    .action(action(usersCommand('block')));
  users
    .command('unblock <phone-or-id>')
    .description('lift a block (sessions it revoked stay revoked)')
    .option('--reason <text>', 'why, for the audit log')
    .addHelpText('after', examples(['chatshyld users unblock +14155550123 --stage prod --reason "owner verified"']))
    .action(action(usersCommand('unblock')));
  users
    .command('delete <id>')
    .description('delete an account as DELETE /profile/me does: sessions, photos, phone claim')
    .option('--over-block', 'delete a blocked account too (its number stays blocked)')
    .option('--reason <text>', 'why, for the audit log')
    .addHelpText('after', examples(['chatshyld users delete <id> --stage prod --reason "GDPR request 1234"']))
    .action(action(usersCommand('remove')));
  users
    .command('audit')
    .description('who did what to which account, and why')
    .option('--since <time>', '10m, 2h, 7d or an ISO date', '7d')
    .addHelpText('after', examples(['chatshyld users audit --stage prod', 'chatshyld users audit --since 30d --stage prod --json | jq']))
    .action(action(usersCommand('audit')));

  try {
    await program.parseAsync(argv);
  } catch (error) {
    const global = program.opts() as GlobalOptions;
    return exitCodeOf(error, streams, { ...global, verbose: Boolean(global.verbose) || argv.includes('--verbose') });
  }
  return exitCode;
}

/**
 * Every outcome becomes one documented exit code. What a user can cause (a refusal, no
 * credentials, no network, Ctrl-C in a prompt, a reader that went away) prints one line and what to
 * do next; anything else is a bug and prints its stack with --verbose.
 */
async function exitCodeOf(error: unknown, streams: Streams, global: GlobalOptions): Promise<number> {
  if (error instanceof CommanderError) {
    // Help and version are successes; anything else commander refuses is a usage error.
    return ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code)
      ? exitCodes.ok
      : exitCodes.usage;
  }
  const err = error as (Error & { code?: string }) | undefined;
  // The reader of our output has gone (`| head -1`): nothing left to say to anyone.
  if (err?.code === 'EPIPE') return exitCodes.ok;
  const expected = error instanceof CliError ? error : await expectedError(err, streams, global);
  if (expected) {
    streams.stderr.write(`error: ${expected.message}\n${expected.hint ? `  hint: ${expected.hint}\n` : ''}`);
    if (global.verbose && expected.cause instanceof Error) streams.stderr.write(`${expected.cause.stack}\n`);
    return expected.exitCode;
  }
  streams.stderr.write(
    `error: chatshyld hit an unexpected error: ${err?.message ?? String(error)}\n` +
      (global.verbose
        ? `  ${err?.stack ?? String(error)}\n  hint: this is a bug in chatshyld; please report it with this output\n`
        : '  hint: this is a bug in chatshyld; run the command again with --verbose and report its output\n'),
  );
  return exitCodes.failed;
}

/** The failures a user can cause that reach here from libraries, as CLI errors. */
async function expectedError(error: (Error & { code?: string; path?: string }) | undefined, streams: Streams, global: GlobalOptions): Promise<CliError | undefined> {
  if (!error) return undefined;
  // Ctrl-C (or Ctrl-D) in an inquirer prompt.
  if (error.name === 'ExitPromptError' || error.name === 'AbortPromptError') return interrupted();
  // The sandbox's own files, damaged or held by another process.
  if (error.name === 'LocalStateError') return new CliError('local_state', error.message, (error as Error & { hint?: string }).hint, exitCodes.usage);
  const { awsError } = await import('./aws.js');
  const aws = awsError(error, { global, streams });
  if (aws) return aws;
  const fileProblems: Record<string, string> = {
    ENOENT: 'no such file or folder',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EISDIR: 'it is a folder, not a file',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EROFS: 'the file system is read-only',
    ENOSPC: 'the disk is full',
  };
  if (error.code && error.path && error.code in fileProblems) {
    return new CliError('file', `${error.path}: ${fileProblems[error.code]}`, 'check the path and its permissions, then try again', exitCodes.failed, { cause: error });
  }
  return undefined;
}

/**
 * For the real process only (bin/chatshyld): output whose reader has gone is dropped instead of
 * crashing, so `chatshyld --help | head -1` ends cleanly and a running command still cleans up;
 * Ctrl-C while a command waits on something with no handler of its own exits 130 with a line.
 */
export async function installProcessGuards(): Promise<void> {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    });
  }
  const { activeSignalWaiters } = await import('./signals.js');
  process.on('SIGINT', () => {
    if (activeSignalWaiters() > 0) return; // the command stops itself and cleans up
    process.stderr.write('\ninterrupted\n');
    process.exit(exitCodes.interrupted);
  });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('expected a port from 0 to 65535.');
  }
  return port;
}

function parsePositiveInt(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) {
    throw new InvalidArgumentError('expected a positive whole number.');
  }
  return number;
}

/** A per-request limit: past Node's timer maximum (about 24.8 days) a timer would fire at once. */
function parseRequestTimeout(value: string): number {
  const ms = parsePositiveInt(value);
  if (ms > 600_000) throw new InvalidArgumentError('expected at most 600000 (10 minutes) per request.');
  return ms;
}

function processStreams(): Streams {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() };
}
