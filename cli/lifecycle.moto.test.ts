/**
 * The deploy lifecycle through the real CLI, against moto's CloudFormation (extended for our
 * stacks: infra/testing/moto/cloudformation_extensions.py). Each flow is one process after another,
 * exactly as a user or CI types them, with no terminal and `CI=true`. What moto still cannot do is
 * listed in docs/aws-fidelity.md ("CloudFormation, CDK and toolkit-lib").
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudFormationClient,
  DeleteStackCommand,
  DescribeStacksCommand,
  ListChangeSetsCommand,
  UpdateTerminationProtectionCommand,
} from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, venvBin, type Moto } from '../infra/testing/moto/server.js';
import { runCli, type CliResult } from './testing/run-cli.js';

const account = '123456789012';
const devRegion = 'eu-west-1';
// prod lives in another region, so its flows need nothing the dev flow bootstraps.
const prodRegion = 'eu-central-1';
const minutes = (n: number) => n * 60_000;

let moto: Moto;
let root: string;

/** What a user's shell holds: moto's endpoint, test keys, and no AWS config from this machine. */
const cli = (args: string[], timeoutMs = minutes(4)): Promise<CliResult> =>
  runCli(args, {
    cwd: root,
    timeoutMs,
    env: {
      ...moto.env(),
      HOME: root,
      AWS_CONFIG_FILE: join(root, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(root, 'no-aws-credentials'),
      AWS_PROFILE: undefined,
      // doctor asks Twilio about the Verify service: a closed loopback port, never the internet.
      TWILIO_VERIFY_BASE_URL: 'http://127.0.0.1:9',
    },
  });

const sdk = (region: string) => ({
  endpoint: moto.endpoint,
  region,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});

/** moto's own view through boto3 (the Node SDK has no ApiGatewayV2 or CloudWatch client here). */
function boto3(region: string, expression: string): unknown {
  const script = `import boto3, json, sys\nc = lambda s: boto3.client(s, endpoint_url=${JSON.stringify(moto.endpoint)}, region_name=${JSON.stringify(region)}, aws_access_key_id="testing", aws_secret_access_key="testing")\nprint(json.dumps(${expression}, default=str))`;
  const run = spawnSync(venvBin('python'), ['-c', script], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout);
}

const ok = (result: CliResult) => {
  expect(result, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toMatchObject({ code: 0 });
  return result;
};

async function stackOf(region: string, name: string) {
  const cfn = new CloudFormationClient(sdk(region));
  try {
    return (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks?.[0];
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) return undefined;
    throw error;
  } finally {
    cfn.destroy();
  }
}

beforeAll(async () => {
  moto = await startMoto({ accountId: account, region: devRegion });
  root = await mkdtemp(join(tmpdir(), 'chatshyld-moto-lifecycle-'));
  await writeFile(
    join(root, 'chatshyld.config.json'),
    JSON.stringify({
      project: 'chatshyld',
      stages: {
        dev: { account, region: devRegion, protected: false, allowTestNumbers: true },
        prod: { account, region: prodRegion, protected: true, allowTestNumbers: false, alarmEmail: 'oncall@example.com' },
      },
    }),
  );
  await writeFile(
    join(root, 'twilio.json'),
    JSON.stringify({ accountSid: `AC${'0'.repeat(32)}`, authToken: '0'.repeat(32), verifyServiceSid: `VA${'0'.repeat(32)}` }),
  );
});

afterAll(async () => {
  await moto?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the dev lifecycle through the real CLI, on moto', () => {
  it(
    'doctor, bootstrap, doctor, deploy, status, diff, a no-op deploy, smoke from a fresh checkout, destroy',
    async () => {
      const before = await cli(['doctor', '--stage', 'dev']);
      expect(before.code).toBe(1);
      expect(before.stdout).toMatch(/✗ CDK bootstrap: account 123456789012 is not bootstrapped in eu-west-1\n\s+fix: chatshyld bootstrap --stage dev/);
      expect(before.stdout).toMatch(/✗ stack: ChatShyld-dev is not deployed/);

      ok(await cli(['bootstrap', '--stage', 'dev']));
      ok(await cli(['secrets', 'init', '--stage', 'dev']));
      ok(await cli(['secrets', 'set', 'twilio', '--stage', 'dev', '--from-file', join(root, 'twilio.json')]));
      const after = await cli(['doctor', '--stage', 'dev']);
      // The bootstrap stack's BootstrapVersion output is a GetAtt of an SSM parameter's Value.
      expect(after.stdout).toMatch(/✓ CDK bootstrap: CDKToolkit CREATE_COMPLETE, version \d+, in 123456789012\/eu-west-1/);
      expect(after.stdout).toMatch(/✓ secret jwt-secret/);

      const deployed = ok(await cli(['deploy', '--stage', 'dev', '--require-approval', 'never']));
      // Live progress on stderr, one line per resource event; the result on stdout.
      expect(deployed.stderr).toMatch(/CREATE_COMPLETE\s+AWS::ApiGatewayV2::Api Api/);
      expect(deployed.stderr).toMatch(/CREATE_COMPLETE\s+AWS::CloudFormation::Stack ChatShyld-dev/);
      expect(deployed.stdout).toMatch(/^deployed ChatShyld-dev$/m);
      const saved = JSON.parse(await readFile(join(root, '.chatshyld', 'outputs', 'dev.json'), 'utf8')) as Record<string, string>;
      const stack = await stackOf(devRegion, 'ChatShyld-dev');
      expect(stack).toMatchObject({ StackStatus: 'CREATE_COMPLETE', EnableTerminationProtection: false });
      const outputs = Object.fromEntries((stack?.Outputs ?? []).map((output) => [output.OutputKey, output.OutputValue]));
      expect(Object.keys(outputs).sort()).toEqual(['ApiUrl', 'AvatarsBucketName', 'RateLimitsTableName', 'RefreshTokensTableName', 'UsersTableName']);
      expect(saved).toMatchObject({ ...outputs, stackName: 'ChatShyld-dev' });

      // What was really created: the assets in the bootstrap bucket, the API with its routes and
      // stage, the alarms, as moto's own services answer.
      const s3 = new S3Client({ ...sdk(devRegion), forcePathStyle: true });
      const assets = await s3.send(new ListObjectsV2Command({ Bucket: `cdk-hnb659fds-assets-${account}-${devRegion}` }));
      s3.destroy();
      expect((assets.Contents ?? []).filter((object) => object.Key?.endsWith('.zip')).length).toBeGreaterThanOrEqual(9);
      const apis = boto3(devRegion, 'c("apigatewayv2").get_apis()["Items"]') as { ApiId: string; Name: string; ApiEndpoint: string }[];
      expect(apis).toEqual([expect.objectContaining({ Name: 'ChatShyld-dev', ApiEndpoint: outputs.ApiUrl })]);
      const routes = boto3(devRegion, `sorted(r["RouteKey"] for r in c("apigatewayv2").get_routes(ApiId=${JSON.stringify(apis[0]!.ApiId)})["Items"])`);
      expect(routes).toEqual(expect.arrayContaining(['GET /health', 'POST /auth/send-otp', 'DELETE /profile/me']));
      const stages = boto3(devRegion, `[s["StageName"] for s in c("apigatewayv2").get_stages(ApiId=${JSON.stringify(apis[0]!.ApiId)})["Items"]]`);
      expect(stages).toEqual(['$default']);
      const alarms = boto3(devRegion, '(lambda a: [sorted(x["AlarmName"] for x in a["MetricAlarms"]), sorted(x["AlarmName"] for x in a["CompositeAlarms"])])(c("cloudwatch").describe_alarms())') as string[][];
      expect(alarms[0]).toContain('ChatShyld-dev-Api5xx');
      expect(alarms[1]).toEqual(['ChatShyld-dev-FunctionErrors', 'ChatShyld-dev-FunctionThrottles']);

      const status = ok(await cli(['status', '--stage', 'dev', '--json']));
      expect(JSON.parse(status.stdout)).toMatchObject({ status: 'CREATE_COMPLETE', deployed: true, outputs: { ApiUrl: outputs.ApiUrl } });
      const diff = ok(await cli(['diff', '--stage', 'dev', '--fail']));
      expect(diff.stdout).toMatch(/no differences|There were no differences/);

      const again = ok(await cli(['deploy', '--stage', 'dev', '--require-approval', 'never']));
      expect(again.stderr).not.toMatch(/UPDATE_IN_PROGRESS/);
      expect((await stackOf(devRegion, 'ChatShyld-dev'))?.StackStatus).toBe('CREATE_COMPLETE');
      const cfn = new CloudFormationClient(sdk(devRegion));
      expect((await cfn.send(new ListChangeSetsCommand({ StackName: 'ChatShyld-dev' }))).Summaries).toEqual([]);
      cfn.destroy();

      // A fresh checkout (a nightly CI job) has no saved outputs: smoke reads them from the stack,
      // then stops at the missing test number, before any request leaves this machine.
      await rm(join(root, '.chatshyld', 'outputs'), { recursive: true, force: true });
      const smoke = await cli(['smoke', '--stage', 'dev', '--timeout', '1000']);
      expect(smoke.stderr).toContain(`using ApiUrl ${outputs.ApiUrl} from stack ChatShyld-dev (CREATE_COMPLETE)`);
      expect(smoke).toMatchObject({ code: 2, stderr: expect.stringContaining('stage dev has no unexpired test number') });

      const destroyed = ok(await cli(['destroy', '--stage', 'dev', '--yes']));
      expect(destroyed.stdout).toMatch(/destroyed stage dev/);
      expect(await stackOf(devRegion, 'ChatShyld-dev')).toBeUndefined();
      expect(boto3(devRegion, 'c("apigatewayv2").get_apis()["Items"]')).toEqual([]);
      const gone = await cli(['smoke', '--stage', 'dev']);
      expect(gone).toMatchObject({ code: 2, stderr: expect.stringContaining('stage dev is not deployed') });
    },
    minutes(20),
  );
});

describe('the protected stage on moto', () => {
  beforeAll(async () => {
    ok(await cli(['bootstrap', '--stage', 'prod']));
    ok(await cli(['secrets', 'init', '--stage', 'prod', '--yes']));
    ok(await cli(['secrets', 'set', 'twilio', '--stage', 'prod', '--from-file', join(root, 'twilio.json'), '--yes']));
  }, minutes(6));

  it('refuses destroy, --hotswap, and an unconfirmed deploy with no terminal, exit 2, before any AWS call', async () => {
    const [destroy, hotswap, unconfirmed] = await Promise.all([
      cli(['destroy', '--stage', 'prod', '--yes']),
      cli(['deploy', '--stage', 'prod', '--hotswap', '--yes']),
      cli(['deploy', '--stage', 'prod']),
    ]);
    expect(destroy).toMatchObject({ code: 2, stderr: expect.stringContaining('stage prod is protected: destroy is refused') });
    expect(hotswap).toMatchObject({ code: 2, stderr: expect.stringContaining('--hotswap skips CloudFormation and is refused there') });
    expect(unconfirmed).toMatchObject({ code: 2, stderr: expect.stringContaining('pass --yes to confirm') });
    expect(await stackOf(prodRegion, 'ChatShyld-prod')).toBeUndefined();
  }, minutes(2));

  it('a first deploy whose approval is refused exits 2 and leaves no stack and no change set', async () => {
    // --yes confirms the protected deploy; widened IAM still needs an approval no terminal can give.
    const refused = await cli(['deploy', '--stage', 'prod', '--yes']);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining('needs approval, but there is no terminal to ask') });
    expect(refused.stderr).not.toMatch(/TerminationProtection/);
    expect(await stackOf(prodRegion, 'ChatShyld-prod')).toBeUndefined();
    const listed = boto3(prodRegion, '[s["StackStatus"] for s in c("cloudformation").list_stacks()["StackSummaries"] if s["StackName"] == "ChatShyld-prod"]');
    expect(listed).not.toContain('REVIEW_IN_PROGRESS');
  }, minutes(8));

  it('a failed first create leaves an unprotected ROLLBACK_COMPLETE stack; the next deploy replaces it and protects it', async () => {
    // An alarm of the same name already exists (a stack deleted by hand, say): the create fails on it
    // and rolls back.
    const taken = 'ChatShyld-prod-Api5xx';
    const putAlarm = `c("cloudwatch").put_metric_alarm(AlarmName=${JSON.stringify(taken)}, MetricName="5xx", Namespace="AWS/ApiGateway", Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")`;
    boto3(prodRegion, putAlarm);
    const failed = await cli(['deploy', '--stage', 'prod', '--yes', '--require-approval', 'never']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/CREATE_FAILED\s+AWS::CloudWatch::Alarm \w+ — AlreadyExists/);
    expect(await stackOf(prodRegion, 'ChatShyld-prod')).toMatchObject({ StackStatus: 'ROLLBACK_COMPLETE', EnableTerminationProtection: false });
    const doctor = await cli(['doctor', '--stage', 'prod']);
    expect(doctor.stdout).toMatch(/✗ stack: ChatShyld-prod ROLLBACK_COMPLETE: a first deploy that failed\n\s+fix: chatshyld deploy --stage prod \(replaces it\)/);

    // A stack an earlier version of the CLI left protected, as toolkit-lib does on its own: the
    // deploy asks (here --yes answers), switches protection off, replaces it, and protects it.
    boto3(prodRegion, `c("cloudwatch").delete_alarms(AlarmNames=[${JSON.stringify(taken)}])`);
    const cfn = new CloudFormationClient(sdk(prodRegion));
    await cfn.send(new UpdateTerminationProtectionCommand({ StackName: 'ChatShyld-prod', EnableTerminationProtection: true }));
    const protectedDoctor = await cli(['doctor', '--stage', 'prod']);
    expect(protectedDoctor.stdout).toMatch(/with termination protection on\n\s+fix: chatshyld deploy --stage prod \(asks, then switches protection off/);

    const redeployed = ok(await cli(['deploy', '--stage', 'prod', '--yes', '--require-approval', 'never']));
    expect(redeployed.stderr).toContain('termination protection switched off for ChatShyld-prod (ROLLBACK_COMPLETE, no resources)');
    expect(redeployed.stderr).toContain('ChatShyld-prod created: deploying again to switch on deletion and termination protection');
    expect(redeployed.stderr).toContain('termination protection switched on for ChatShyld-prod');
    const created = await stackOf(prodRegion, 'ChatShyld-prod');
    expect(created).toMatchObject({ StackStatus: expect.stringMatching(/^(CREATE|UPDATE)_COMPLETE$/), EnableTerminationProtection: true });
    // The second deploy gave the tables their deletion protection.
    const dynamo = new DynamoDBClient(sdk(prodRegion));
    const usersTable = created?.Outputs?.find((output) => output.OutputKey === 'UsersTableName')?.OutputValue;
    expect((await dynamo.send(new DescribeTableCommand({ TableName: usersTable }))).Table?.DeletionProtectionEnabled).toBe(true);
    dynamo.destroy();
    // And CloudFormation (moto, extended) now refuses to delete it, with AWS's words.
    await expect(cfn.send(new DeleteStackCommand({ StackName: 'ChatShyld-prod' }))).rejects.toThrow(
      'Stack [ChatShyld-prod] cannot be deleted while TerminationProtection is enabled',
    );
    cfn.destroy();
    expect((await cli(['doctor', '--stage', 'prod'])).stdout).toMatch(/✓ stack: ChatShyld-prod (CREATE|UPDATE)_COMPLETE/);
  }, minutes(12));
});
