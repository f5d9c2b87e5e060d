/**
 * moto's server for a test: the AWS rehearsal of docs/aws-fidelity.md. Started from the project's
 * `.venv` (scripts/ensure-python-tools.sh, run by `npm test`), on 127.0.0.1 and a free port, and
 * stopped with the test. Never skipped: a missing environment fails the test with what to run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
export const venvBin = (tool: string) => join(root, '.venv', 'bin', tool);

export interface MotoOptions {
  /** The account moto answers as (MOTO_ACCOUNT_ID); default 123456789012. */
  readonly accountId?: string;
  /** Enforce IAM policies after this many unauthenticated calls (INITIAL_NO_AUTH_ACTION_COUNT). */
  readonly enforceIamAfter?: number;
  readonly region?: string;
  /**
   * Judge IAM as AWS would where stock moto does not (iam_launcher.py: the ARNs of DynamoDB, SSM and
   * CloudFormation requests, S3's IAM action names, DeleteObjects per key, JSON refusals), from
   * `enforceIam()` on; until then nothing is checked.
   */
  readonly iamPerResource?: boolean;
}

export interface Moto {
  /** `http://localhost:<port>`: moto reads S3 template URLs as path-style only for `localhost`. */
  readonly endpoint: string;
  readonly port: number;
  readonly accountId: string;
  readonly region: string;
  /** The environment a CLI process needs to talk to this server only, with test credentials. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** With `iamPerResource`: every request from now on is checked against its caller's policies. */
  enforceIam(): Promise<void>;
  close(): Promise<void>;
}

export async function startMoto(options: MotoOptions = {}): Promise<Moto> {
  const python = venvBin('python');
  if (!existsSync(python)) throw new Error(`no ${python}: run \`bash scripts/ensure-python-tools.sh\` (npm test runs it first)`);
  const accountId = options.accountId ?? '123456789012';
  const region = options.region ?? 'eu-west-1';
  const launcher = options.iamPerResource ? 'iam_launcher.py' : 'launcher.py';
  const child = spawn(python, [join(root, 'infra/testing/moto', launcher)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      MOTO_ACCOUNT_ID: accountId,
      ...(options.enforceIamAfter !== undefined && { INITIAL_NO_AUTH_ACTION_COUNT: String(options.enforceIamAfter) }),
    },
  });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolvePort, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`moto exited (${code}) before serving:\n${stderr}`)));
    lines.once('line', (line) => resolvePort((JSON.parse(line) as { port: number }).port));
  });
  child.removeAllListeners('exit');
  const endpoint = `http://localhost:${port}`;
  return {
    endpoint,
    port,
    accountId,
    region,
    env: (extra = {}) => ({
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_EC2_METADATA_DISABLED: 'true',
      ...extra,
    }),
    enforceIam: async () => {
      if (!options.iamPerResource) throw new Error('enforceIam() needs startMoto({ iamPerResource: true })');
      const acknowledged = new Promise<void>((resolveAck) => lines.once('line', () => resolveAck()));
      child.stdin!.write('enforce-iam\n');
      await acknowledged;
    },
    close: () => stop(child),
  };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.stdin!.end();
  });
}
