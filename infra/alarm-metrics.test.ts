import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulators, type Emulators } from '../service/local/emulators.js';
import { apiGatewayEvent } from '../service/local/events.js';
import { initialSecrets } from '../service/local/secrets-file.js';
import { routeById, routeEnvironment, type RouteId } from '../service/manifest.js';
import { synthStage, testBundles } from './testing/synth.js';

interface AlarmedMetric {
  readonly alarm: string;
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Record<string, string>;
}

/** Every metric of our own (not an AWS/ namespace) that an alarm of the template watches. */
function alarmedMetrics(template: Template): AlarmedMetric[] {
  const found: AlarmedMetric[] = [];
  for (const [alarm, resource] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
    const properties = resource.Properties as Record<string, any>;
    const stats = [
      ...(properties.MetricName ? [{ Metric: { Namespace: properties.Namespace, MetricName: properties.MetricName, Dimensions: properties.Dimensions } }] : []),
      ...((properties.Metrics ?? []) as { MetricStat?: Record<string, any> }[]).flatMap((query) => (query.MetricStat ? [query.MetricStat] : [])),
    ];
    for (const { Metric } of stats) {
      if (typeof Metric.Namespace !== 'string' || Metric.Namespace.startsWith('AWS/')) continue;
      const dimensions = Object.fromEntries(((Metric.Dimensions ?? []) as { Name: string; Value: unknown }[]).map((d) => [d.Name, d.Value]));
      for (const value of Object.values(dimensions)) expect(typeof value, `${alarm} dimension values must be literal`).toBe('string');
      found.push({ alarm, namespace: Metric.Namespace, name: Metric.MetricName, dimensions: dimensions as Record<string, string> });
    }
  }
  return found;
}

/** SSM's GetParameter, as the SDK speaks it (JSON 1.1), answering from a fixed set of values. */
function fakeSsm(values: Record<string, string>): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const { Name } = JSON.parse(body || '{}') as { Name?: string };
      const value = Name === undefined ? undefined : values[Name];
      response.writeHead(value === undefined ? 400 : 200, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(
        JSON.stringify(
          value === undefined
            ? { __type: 'ParameterNotFound', message: `no ${Name}` }
            : { Parameter: { Name, Type: 'SecureString', Value: value, Version: 1 } },
        ),
      );
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })),
  );
}

/** The CloudWatch records (EMF) printed by `times` invocations of a bundled function in one process. */
async function emfOfInvocations(file: string, env: Record<string, string>, event: unknown, times: number) {
  const script = `
    const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)});
    const event = JSON.parse(process.env.TEST_EVENT);
    for (let n = 0; n < ${times}; n++) {
      const result = await handler(structuredClone(event));
      process.stderr.write('status ' + result.statusCode + '\\n');
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...env, TEST_EVENT: JSON.stringify(event) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code, stderr).toBe(0);
  const records = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>)
    .filter((record) => record._aws?.CloudWatchMetrics);
  return { records, statuses: [...stderr.matchAll(/^status (\d+)$/gm)].map((m) => Number(m[1])) };
}

/** Which function counts each metric the stack alarms on. */
const emittedBy: Record<string, { route: RouteId; body: (phone: string) => unknown }> = {
  OtpSent: { route: 'sendOtp', body: (phone) => ({ phone }) },
};

describe('the metrics the alarms watch are the metrics the functions emit', () => {
  let emulators: Emulators;
  let ssm: { server: Server; url: string };
  let template: Template;
  const phone = '+14155550177';

  beforeAll(async () => {
    emulators = await startEmulators({ namePrefix: 'emf-test' });
    const values = { ...initialSecrets(new Date()), 'test-numbers': [{ phone, code: '135790', expiresAt: '2099-01-01T00:00:00Z' }] };
    ssm = await fakeSsm(Object.fromEntries(Object.entries(values).map(([name, value]) => [`/chatshyld/dev/${name}`, JSON.stringify(value)])));
    template = Template.fromStack((await synthStage('dev')).stack);
  }, 120_000);
  afterAll(async () => {
    await new Promise((resolve) => ssm?.server.close(resolve));
    await emulators?.close();
  });

  it('emits every alarmed metric with exactly the alarm’s namespace, name and dimensions, on every invocation', async () => {
    const watched = alarmedMetrics(template);
    expect(watched.map((metric) => metric.name)).toContain('OtpSent');
    for (const metric of watched) {
      const source = emittedBy[metric.name];
      expect(source, `which function emits ${metric.name}?`).toBeDefined();
      const route = routeById(source!.route);
      // The function's environment as deployed, with the emulators' names for what CloudFormation resolves.
      const [deployed] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: `ChatShyld-dev-${route.id}` } }));
      const local = routeEnvironment(route, {
        stage: 'dev',
        version: 'test',
        settings: '{}',
        allowTestNumbers: false,
        tableNames: emulators.tableNames,
        bucketName: emulators.bucket,
      });
      const env = Object.fromEntries(
        Object.entries(deployed!.Properties.Environment.Variables as Record<string, unknown>).map(([name, value]) => [
          name,
          typeof value === 'string' ? value : local[name]!,
        ]),
      );
      const invocations = 3;
      const { records, statuses } = await emfOfInvocations(
        join(await testBundles(), route.id, 'index.mjs'),
        {
          ...env,
          NODE_OPTIONS: '',
          AWS_REGION: 'eu-west-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoEndpoint,
          AWS_ENDPOINT_URL_SSM: ssm.url,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          POWERTOOLS_LOG_LEVEL: 'SILENT',
        },
        apiGatewayEvent({
          method: route.method,
          path: route.path,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(source!.body(phone)),
          sourceIp: '203.0.113.20',
          routeKey: `${route.method} ${route.path}`,
        }),
        invocations,
      );
      expect(statuses).toEqual(Array(invocations).fill(200));
      const carrying = records.filter((record) => metric.name in record);
      expect(carrying, `${metric.name} once per invocation`).toHaveLength(invocations);
      for (const record of carrying) {
        const [directive] = record._aws.CloudWatchMetrics as { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
        expect(directive!.Namespace).toBe(metric.namespace);
        expect(directive!.Metrics.map((m) => m.Name)).toContain(metric.name);
        // CloudWatch matches an alarm's dimensions exactly: the same set, no more and no fewer.
        expect(directive!.Dimensions.map((set) => [...set].sort())).toContainEqual(Object.keys(metric.dimensions).sort());
        for (const [name, value] of Object.entries(metric.dimensions)) expect(record[name], `${metric.alarm}: ${name}`).toBe(value);
      }
    }
  }, 120_000);
});
