import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, FilterLogEventsCommand, ResourceNotFoundException } from '@aws-sdk/client-cloudwatch-logs';
import { GetFunctionConfigurationCommand, LambdaClient, ResourceNotFoundException as FunctionNotFound } from '@aws-sdk/client-lambda';
import { GetParameterHistoryCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newKey } from '../service/core/key-ring.js';
import { createVerifyService } from './twilio-setup.js';
import { repoRoot } from '../infra/testing/synth.js';
import { runCli, runInProcess } from './testing/run-cli.js';

/** Any AWS call a guard failed to prevent would hit a closed port here and say so. */
const noAws = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_PROFILE: undefined,
};

/** The output a bootstrap stack states its version in (the shape DescribeStacks answers with). */
const bootstrapVersion = (version: string) => [{ OutputKey: 'BootstrapVersion', OutputValue: version, Description: 'The version of the bootstrap resources that are currently mastered in this stack' }];

async function project(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'chatshyld-lifecycle-cli-'));
  await copyFile(join(repoRoot, 'chatshyld.config.json'), join(root, 'chatshyld.config.json'));
  return root;
}

describe('guards that stop before any AWS call', () => {
  let root: string;
  beforeAll(async () => {
    root = await project();
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('refuses to destroy a protected stage, exit 2, saying it is protected', async () => {
    const result = await runCli(['destroy', '--stage', 'prod', '--yes'], { cwd: root, env: noAws });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('stage prod is protected');
    expect(result.stderr).not.toContain('127.0.0.1:9');
  });

  it('will not deploy a protected stage with no terminal and no --yes', async () => {
    const result = await runCli(['deploy', '--stage', 'prod'], { cwd: root, env: noAws });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('needs confirmation');
    expect(result.stderr).toContain('pass --yes');
  });

  it('refuses --hotswap on a protected stage even with --yes', async () => {
    const result = await runCli(['deploy', '--stage', 'prod', '--hotswap', '--yes'], { cwd: root, env: noAws });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('protected');
    expect(result.stderr).toContain('--hotswap');
  });

  it('asks to type the name before destroying an unprotected stage, and needs --yes without a terminal', async () => {
    const result = await runCli(['destroy', '--stage', 'dev'], { cwd: root, env: noAws });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('pass --yes');
  });

  it('refuses usage mistakes: no stage, the local stage, a bad approval level', async () => {
    for (const [args, message] of [
      [['deploy'], 'which stage?'],
      [['deploy', '--stage', 'local'], 'sandbox'],
      [['deploy', '--stage', 'dev', '--require-approval', 'sometimes'], '--require-approval must be one of'],
      [['synth', '--stage', 'qa'], 'stage "qa" is not in'],
    ] as const) {
      const result = await runCli(args, { cwd: root, env: noAws });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain(message);
    }
  });
});

describe('synth --out', () => {
  let root: string;
  beforeAll(async () => {
    root = await project();
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('refuses a folder that is not a cloud assembly, and deletes nothing in it', async () => {
    const config = await readFile(join(root, 'chatshyld.config.json'), 'utf8');
    const here = await runCli(['synth', '--stage', 'dev', '--out', '.'], { cwd: root, env: noAws });
    expect(here.code).toBe(2);
    expect(here.stderr).toContain('not a cloud assembly');
    expect(await readFile(join(root, 'chatshyld.config.json'), 'utf8')).toBe(config);

    // A folder that only looks like one (a manifest.json of something else) is refused too.
    await mkdir(join(root, 'site'), { recursive: true });
    await writeFile(join(root, 'site', 'manifest.json'), '{"name":"pwa"}');
    const site = await runCli(['synth', '--stage', 'dev', '--out', 'site'], { cwd: root, env: noAws });
    expect(site.code).toBe(2);
    expect(await readFile(join(root, 'site', 'manifest.json'), 'utf8')).toBe('{"name":"pwa"}');
  });

  it.runIf(process.platform === 'linux')('answers an --out whose parent cannot hold folders, where a recursive mkdir would spin', async () => {
    const result = await runCli(['synth', '--stage', 'dev', '--out', '/proc/chatshyld-none/cdk.out'], { cwd: root, env: noAws, timeoutMs: 60_000 });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/^error: .*\/proc\/chatshyld-none/m);
    expect(result.stderr).toContain('hint:');
  });

  it('writes a new folder, and replaces a cloud assembly a previous synth wrote', async () => {
    const first = await runCli(['synth', '--stage', 'dev', '--out', 'cdk.out', '--json'], { cwd: root, env: noAws, timeoutMs: 150_000 });
    expect(first.code, first.stderr).toBe(0);
    await writeFile(join(root, 'cdk.out', 'stale.txt'), 'left by an older synth');
    const second = await runCli(['synth', '--stage', 'dev', '--out', 'cdk.out', '--json'], { cwd: root, env: noAws, timeoutMs: 150_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).stackName).toBe('ChatShyld-dev');
    await expect(readFile(join(root, 'cdk.out', 'stale.txt'), 'utf8')).rejects.toThrow(/ENOENT/);
  }, 180_000);
});

describe('deploy preflight (control plane mocked)', () => {
  const sts = mockClient(STSClient);
  const cloudFormation = mockClient(CloudFormationClient);
  const ssm = mockClient(SSMClient);
  let root: string;
  beforeAll(async () => {
    root = await project();
  });
  afterAll(async () => {
    sts.restore();
    cloudFormation.restore();
    ssm.restore();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    sts.reset();
    cloudFormation.reset();
    ssm.reset();
    sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:iam::111111111111:user/dev' });
    cloudFormation.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({ Stacks: [{ StackName: 'CDKToolkit', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: bootstrapVersion('28') }] });
    ssm.on(GetParameterHistoryCommand).rejects(new ParameterNotFound({ message: 'none', $metadata: {} }));
  });

  it('stops a deploy whose secrets are missing, exit 2, naming the command that fixes it', async () => {
    const result = await runInProcess(['deploy', '--stage', 'dev'], root);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('secret jwt-secret: missing');
    expect(result.stderr).toContain('chatshyld secrets init --stage dev');
  });

  it('stops a deploy whose secret is malformed', async () => {
    const good = (name: string) => JSON.stringify({ current: newKey(new Date()) }) + name.slice(0, 0);
    ssm.on(GetParameterHistoryCommand, { Name: '/chatshyld/dev/jwt-secret' }).resolves({ Parameters: [{ Version: 1, Value: good('jwt') }] });
    ssm.on(GetParameterHistoryCommand, { Name: '/chatshyld/dev/refresh-pepper' }).resolves({ Parameters: [{ Version: 1, Value: good('pepper') }] });
    ssm.on(GetParameterHistoryCommand, { Name: '/chatshyld/dev/twilio' }).resolves({ Parameters: [{ Version: 1, Value: '{"accountSid":"AC1"}' }] });
    ssm.on(GetParameterHistoryCommand, { Name: '/chatshyld/dev/test-numbers' }).resolves({ Parameters: [{ Version: 1, Value: '[]' }] });
    const result = await runInProcess(['deploy', '--stage', 'dev'], root);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('secret twilio: malformed');
    expect(result.stderr).toContain('chatshyld secrets set twilio --stage dev');
  });

  it('stops a deploy when the account is not bootstrapped', async () => {
    cloudFormation.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).rejects(new Error('Stack with id CDKToolkit does not exist'));
    const result = await runInProcess(['deploy', '--stage', 'dev'], root);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not bootstrapped');
    expect(result.stderr).toContain('chatshyld bootstrap --stage dev');
  });

  it('says a bootstrap read that timed out or was denied is that, not a missing bootstrap', async () => {
    cloudFormation.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).rejects(Object.assign(new Error('socket hang up: exceeded the configured 5000 ms'), { name: 'TimeoutError' }));
    const slow = await runInProcess(['deploy', '--stage', 'dev'], root);
    expect(slow.code).toBe(2);
    expect(slow.stderr).toMatch(/did not answer/);
    expect(slow.stderr).toMatch(/network/);
    expect(slow.stderr).not.toContain('chatshyld bootstrap --stage dev');

    cloudFormation.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).rejects(
      Object.assign(new Error('User: arn:aws:iam::111111111111:user/dev is not authorized to perform: cloudformation:DescribeStacks'), { name: 'AccessDenied' }),
    );
    const denied = await runInProcess(['deploy', '--stage', 'dev'], root);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/refused access/);
    expect(denied.stderr).not.toContain('chatshyld bootstrap --stage dev');
  });

  it('stops a deploy when the bootstrap stack is older than version 6, or does not say its version', async () => {
    cloudFormation.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({
      Stacks: [{ StackName: 'CDKToolkit', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: bootstrapVersion('5') }],
    });
    const old = await runInProcess(['deploy', '--stage', 'dev'], root);
    expect(old.code).toBe(2);
    expect(old.stderr).toContain('bootstrap version 5; the stack needs 6 or later');
    expect(old.stderr).toContain('chatshyld bootstrap --stage dev');
    expect(ssm.commandCalls(GetParameterHistoryCommand)).toHaveLength(0);

    cloudFormation.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({
      Stacks: [{ StackName: 'CDKToolkit', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date() }],
    });
    const unknown = await runInProcess(['deploy', '--stage', 'dev'], root);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('bootstrap version unknown');
  });

  it('refuses credentials of another account: prod cannot be hit by accident', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: '333333333333', Arn: 'arn:aws:iam::333333333333:user/ops' });
    const result = await runInProcess(['deploy', '--stage', 'dev'], root);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the credentials are for account 333333333333, but stage dev lives in 111111111111');
    expect(cloudFormation.commandCalls(DescribeStacksCommand)).toHaveLength(0);
  });
});

describe('status, logs and doctor (control plane mocked)', () => {
  const cloudFormation = mockClient(CloudFormationClient);
  const logs = mockClient(CloudWatchLogsClient);
  const lambda = mockClient(LambdaClient);
  const sts = mockClient(STSClient);
  const ssm = mockClient(SSMClient);
  let root: string;
  let twilio: Server;
  let twilioUrl: string;
  const twilioCredentials = { accountSid: `AC${'a'.repeat(32)}`, authToken: 'b'.repeat(32), verifyServiceSid: `VA${'c'.repeat(32)}` };

  beforeAll(async () => {
    root = await project();
    twilio = createServer((request, response) => {
      const ok = request.url === `/v2/Services/${twilioCredentials.verifyServiceSid}` && request.headers.authorization?.startsWith('Basic ');
      response.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify({ sid: twilioCredentials.verifyServiceSid }));
    });
    await new Promise<void>((resolve) => twilio.listen(0, '127.0.0.1', resolve));
    twilioUrl = `http://127.0.0.1:${(twilio.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const mock of [cloudFormation, logs, lambda, sts, ssm]) mock.restore();
    await new Promise((resolve) => twilio.close(resolve));
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const mock of [cloudFormation, logs, lambda, sts, ssm]) mock.reset();
  });

  it('status reports the stack, its outputs, and the last deploy from here', async () => {
    cloudFormation.on(DescribeStacksCommand, { StackName: 'ChatShyld-dev' }).resolves({
      Stacks: [
        {
          StackName: 'ChatShyld-dev',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date('2026-11-01T00:00:00Z'),
          LastUpdatedTime: new Date('2026-11-20T10:00:00Z'),
          Outputs: [{ OutputKey: 'ApiUrl', OutputValue: 'https://x.execute-api.eu-west-1.amazonaws.com' }],
        },
      ],
    });
    await mkdir(join(root, '.chatshyld', 'outputs'), { recursive: true });
    await writeFile(join(root, '.chatshyld', 'outputs', 'dev.json'), JSON.stringify({ deployedAt: '2026-11-20T10:00:05Z' }));
    const result = await runInProcess(['status', '--stage', 'dev', '--json'], root);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      stackName: 'ChatShyld-dev',
      deployed: true,
      status: 'UPDATE_COMPLETE',
      lastUpdated: '2026-11-20T10:00:00.000Z',
      outputs: { ApiUrl: 'https://x.execute-api.eu-west-1.amazonaws.com' },
      lastDeployFromHere: '2026-11-20T10:00:05Z',
    });

    cloudFormation.on(DescribeStacksCommand, { StackName: 'ChatShyld-staging' }).rejects(new Error('Stack with id ChatShyld-staging does not exist'));
    const missing = await runInProcess(['status', '--stage', 'staging'], root);
    expect(missing.stdout).toContain('NOT_DEPLOYED');
    expect(missing.stdout).toContain('chatshyld deploy --stage staging');
  });

  it('logs merges the functions in time order, and filters by function', async () => {
    // Where each function logs is its LoggingConfig: a group CloudFormation named, or (a function
    // deployed before) Lambda's default name; a function not deployed yet has no logs to read.
    lambda.on(GetFunctionConfigurationCommand).resolves({ LoggingConfig: { LogFormat: 'Text' } });
    lambda.on(GetFunctionConfigurationCommand, { FunctionName: 'ChatShyld-dev-getMe' }).resolves({
      LoggingConfig: { LogFormat: 'Text', LogGroup: 'ChatShyld-dev-getMeLogs5F4D3C2B-AbCdEfGhIjKl' },
    });
    lambda.on(GetFunctionConfigurationCommand, { FunctionName: 'ChatShyld-dev-deleteMe' }).rejects(new FunctionNotFound({ message: 'Function not found', $metadata: {} }));
    logs.on(FilterLogEventsCommand).rejects(new ResourceNotFoundException({ message: 'none', $metadata: {} }));
    logs.on(FilterLogEventsCommand, { logGroupName: 'ChatShyld-dev-getMeLogs5F4D3C2B-AbCdEfGhIjKl' }).resolves({
      events: [{ eventId: 'b', timestamp: Date.parse('2026-11-25T10:00:02Z'), message: 'second\n' }],
    });
    logs.on(FilterLogEventsCommand, { logGroupName: '/aws/lambda/ChatShyld-dev-sendOtp' }).resolves({
      events: [{ eventId: 'a', timestamp: Date.parse('2026-11-25T10:00:01Z'), message: 'first' }],
    });
    const all = await runInProcess(['logs', '--stage', 'dev', '--since', '1h'], root);
    expect(all.code).toBe(0);
    expect(all.stdout.trim().split('\n')).toEqual([
      '2026-11-25T10:00:01.000Z sendOtp       first',
      '2026-11-25T10:00:02.000Z getMe         second',
    ]);
    const calls = logs.commandCalls(FilterLogEventsCommand).map((call) => call.args[0].input);
    expect(calls).toHaveLength(8);
    expect(calls.map((call) => call.logGroupName)).not.toContain('/aws/lambda/ChatShyld-dev-deleteMe');
    expect(calls[0]!.startTime).toBeGreaterThan(Date.now() - 3_700_000);

    const one = await runInProcess(['logs', '--stage', 'dev', '--fn', 'getMe', '--filter', 'ERROR', '--json'], root);
    expect(JSON.parse(one.stdout.trim())).toEqual({ time: '2026-11-25T10:00:02.000Z', fn: 'getMe', message: 'second' });
    expect(logs.commandCalls(FilterLogEventsCommand).at(-1)!.args[0].input).toMatchObject({ filterPattern: 'ERROR' });
    const unknown = await runInProcess(['logs', '--stage', 'dev', '--fn', 'nope'], root);
    expect(unknown.code).toBe(2);
    expect((await runInProcess(['logs', '--stage', 'dev', '--since', 'yesterday'], root)).code).toBe(2);
  });

  it('doctor shows every check with its fix, exit 1 when one fails, 0 when all pass', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:iam::111111111111:user/dev' });
    cloudFormation.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({ Stacks: [{ StackName: 'CDKToolkit', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: bootstrapVersion('28') }] });
    cloudFormation.on(DescribeStacksCommand, { StackName: 'ChatShyld-dev' }).rejects(new Error('Stack with id ChatShyld-dev does not exist'));
    const values: Record<string, unknown> = {
      'jwt-secret': { current: newKey(new Date()) },
      'refresh-pepper': { current: newKey(new Date()) },
      twilio: twilioCredentials,
      'test-numbers': [],
    };
    for (const [name, value] of Object.entries(values)) {
      ssm.on(GetParameterHistoryCommand, { Name: `/chatshyld/dev/${name}` }).resolves({ Parameters: [{ Version: 3, Value: JSON.stringify(value) }] });
    }
    const failing = await runInProcess(['doctor', '--stage', 'dev'], root, { TWILIO_VERIFY_BASE_URL: twilioUrl });
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/✓ Node\.js/);
    expect(failing.stdout).toMatch(/✓ AWS credentials/);
    expect(failing.stdout).toMatch(/✓ CDK bootstrap/);
    expect(failing.stdout).toMatch(/✓ secret jwt-secret/);
    expect(failing.stdout).toMatch(/✓ Twilio Verify: service …/);
    expect(failing.stdout).toMatch(/✗ stack: ChatShyld-dev is not deployed\n\s+fix: chatshyld deploy --stage dev/);
    expect(failing.stdout).not.toContain(twilioCredentials.authToken);

    cloudFormation.on(DescribeStacksCommand, { StackName: 'ChatShyld-dev' }).resolves({ Stacks: [{ StackName: 'ChatShyld-dev', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date() }] });
    const passing = await runInProcess(['doctor', '--stage', 'dev', '--json'], root, { TWILIO_VERIFY_BASE_URL: twilioUrl });
    expect(passing.code, passing.stdout).toBe(0);
    const report = JSON.parse(passing.stdout);
    expect(report.ok).toBe(true);
    expect(report.checks.map((check: { name: string }) => check.name)).toEqual([
      'Node.js', 'config', 'AWS credentials', 'CDK bootstrap',
      'secret jwt-secret', 'secret refresh-pepper', 'secret twilio', 'secret test-numbers',
      'Twilio Verify', 'stack',
    ]);
  });

  it('doctor --stage local checks the sandbox secrets without AWS', async () => {
    const result = await runInProcess(['doctor', '--stage', 'local'], root);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('✗ secret jwt-secret: missing');
    expect(result.stdout).toContain('chatshyld dev (creates it)');
    expect(sts.commandCalls(GetCallerIdentityCommand)).toHaveLength(0);
  });
});

describe('chatshyld init', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'chatshyld-init-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes a valid config from flags alone, adds stages, and never overwrites one silently', async () => {
    const dev = await runCli(['init', '--stage', 'dev', '--project', 'acme-chat', '--account', '123456789012', '--region', 'eu-central-1'], { cwd: root });
    expect(dev.code, dev.stderr).toBe(0);
    const prod = await runCli(
      ['init', '--stage', 'prod', '--account', '210987654321', '--region', 'eu-central-1', '--protected', '--alarm-email', 'oncall@acme.example'],
      { cwd: root },
    );
    expect(prod.code, prod.stderr).toBe(0);
    const config = JSON.parse(await readFile(join(root, 'chatshyld.config.json'), 'utf8'));
    expect(config).toMatchObject({
      project: 'acme-chat',
      stages: {
        dev: { account: '123456789012', region: 'eu-central-1', protected: false, allowTestNumbers: true },
        prod: { account: '210987654321', protected: true, allowTestNumbers: false, alarmEmail: 'oncall@acme.example' },
      },
    });
    const again = await runCli(['init', '--stage', 'dev', '--account', '123456789012', '--region', 'eu-central-1'], { cwd: root });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--force');
    // The written file is one the CLI accepts.
    expect((await runCli(['doctor'], { cwd: root })).stdout).toContain('✓ config');
  });

  it('with no terminal, lists the flags it needs', async () => {
    const empty = await mkdtemp(join(root, 'empty-'));
    const result = await runCli(['init', '--stage', 'qa'], { cwd: empty });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('there is no terminal to ask for --account, --region');
    const bad = await runCli(['init', '--stage', 'qa', '--account', '12', '--region', 'eu-west-1'], { cwd: empty });
    expect(bad.stderr).toContain('--account: 12 digits');
  });

  it('stores Twilio credentials for the local stage from a file', async () => {
    const credentials = join(root, 'twilio.json');
    await writeFile(credentials, JSON.stringify({ accountSid: `AC${'1'.repeat(32)}`, authToken: 'f'.repeat(32), verifyServiceSid: `VA${'2'.repeat(32)}` }));
    const result = await runCli(
      ['init', '--stage', 'local', '--account', '123456789012', '--region', 'eu-west-1', '--twilio-credentials', credentials],
      { cwd: root },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('f'.repeat(32));
    const secrets = JSON.parse(await readFile(join(root, '.chatshyld', 'local', 'secrets.json'), 'utf8'));
    expect(secrets.secrets.twilio.verifyServiceSid).toBe(`VA${'2'.repeat(32)}`);
  });

  it('creates a Verify service through the twilio SDK', async () => {
    const requests: { method: string; uri: string; data?: Record<string, string> }[] = [];
    const httpClient = {
      request: async (options: { method: string; uri: string; data?: Record<string, string> }) => {
        requests.push(options);
        return { statusCode: 201, body: JSON.stringify({ sid: `VA${'9'.repeat(32)}`, friendly_name: options.data?.FriendlyName }), headers: {} };
      },
    };
    const sid = await createVerifyService({ accountSid: `AC${'1'.repeat(32)}`, authToken: 'f'.repeat(32) }, 'ChatShyld dev', { httpClient: httpClient as never });
    expect(sid).toBe(`VA${'9'.repeat(32)}`);
    expect(requests[0]).toMatchObject({ method: 'post', uri: 'https://verify.twilio.com/v2/Services', data: { FriendlyName: 'ChatShyld dev' } });
  });
});
