/**
 * What the least-privilege rehearsal needs around moto (iam_launcher.py): the synthesized template's
 * policies with their intrinsics resolved to the names made in moto, IAM users carrying exactly
 * such a policy, and a route's bundle running in a process of its own with those credentials.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';

export type TemplateJson = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };

export interface PhysicalNames {
  readonly account: string;
  readonly region: string;
  /** Logical id → what `Ref` gives (a table or bucket name). */
  readonly refs: Readonly<Record<string, string>>;
  /** Logical id → its ARN (`Fn::GetAtt [id, Arn]`). */
  readonly arns: Readonly<Record<string, string>>;
  /** What `Ref AWS::StackId` gives: the stack's ARN. */
  readonly stackId?: string;
}

/** Resolves Ref, Fn::GetAtt (Arn) and Fn::Join as CloudFormation would with `names`. */
export function resolveIntrinsics(value: unknown, names: PhysicalNames): any {
  if (Array.isArray(value)) return value.map((item) => resolveIntrinsics(item, names));
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  if ('Ref' in object) {
    const ref = object.Ref as string;
    if (ref === 'AWS::Partition') return 'aws';
    if (ref === 'AWS::AccountId') return names.account;
    if (ref === 'AWS::Region') return names.region;
    if (ref === 'AWS::StackId' && names.stackId) return names.stackId;
    const name = names.refs[ref];
    if (name === undefined) throw new Error(`no physical name for Ref ${ref}`);
    return name;
  }
  if ('Fn::GetAtt' in object) {
    const [id, attribute] = object['Fn::GetAtt'] as [string, string];
    if (attribute !== 'Arn') throw new Error(`GetAtt ${id}.${attribute} is not resolved here`);
    return names.arns[id] ?? `arn:aws:logs:${names.region}:${names.account}:log-group:/unresolved/${id}`;
  }
  if ('Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => resolveIntrinsics(part, names)).join(separator);
  }
  if ('Fn::Sub' in object) throw new Error(`Fn::Sub is not resolved here: ${JSON.stringify(object)}`);
  return Object.fromEntries(Object.entries(object).map(([key, item]) => [key, resolveIntrinsics(item, names)]));
}

/** Every statement of every AWS::IAM::Policy attached to `roleLogicalId` (the union, in order). */
export function roleStatements(template: TemplateJson, roleLogicalId: string): Record<string, any>[] {
  return Object.values(template.Resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy')
    .filter((resource) => (resource.Properties!.Roles as { Ref: string }[]).some((role) => role.Ref === roleLogicalId))
    .flatMap((resource) => [resource.Properties!.PolicyDocument.Statement].flat());
}

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** An IAM user in moto whose only permissions are `statements` (one inline policy). */
export async function userWithPolicy(iam: IAMClient, name: string, statements: readonly unknown[]): Promise<Credentials> {
  await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(
    new PutUserPolicyCommand({ UserName: name, PolicyName: 'exactly', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }) }),
  );
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
  return { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
}

export interface InvokeResult {
  readonly statusCode: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

export interface RouteProcess {
  invoke(event: unknown): Promise<InvokeResult>;
  /** What the function logged (Powertools logs to stdout), for a failure's message. */
  readonly logs: () => string;
  close(): Promise<void>;
}

/**
 * Runs a bundled function in a Node process of its own, configured only by `env` (as Lambda
 * configures it): events go in on stdin, results come back on fd 3, one JSON line each.
 */
export function startRouteProcess(bundleFile: string, env: Record<string, string>): RouteProcess {
  const script = `
    import { createWriteStream } from 'node:fs';
    import { createInterface } from 'node:readline';
    const { handler } = await import(${JSON.stringify(pathToFileURL(bundleFile).href)});
    const results = createWriteStream(null, { fd: 3 });
    for await (const line of createInterface({ input: process.stdin })) {
      let result;
      try { result = await handler(JSON.parse(line)); } catch (error) { result = { statusCode: -1, body: String(error && error.stack || error) }; }
      results.write(JSON.stringify(result) + '\\n');
    }`;
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const results = createInterface({ input: child.stdio[3] as Readable });
  const pending: ((line: string) => void)[] = [];
  results.on('line', (line) => pending.shift()?.(line));
  return {
    invoke: (event) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer within 20 s:\n${output}`)), 20_000);
        pending.push((line) => {
          clearTimeout(timer);
          resolve(JSON.parse(line) as InvokeResult);
        });
        (child.stdin as Writable).write(`${JSON.stringify(event)}\n`);
      }),
    logs: () => output,
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}
