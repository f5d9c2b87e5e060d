import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/testing/run-cli.js';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { startSandbox, type Sandbox, type SandboxOptions } from '../service/local/sandbox.js';
import type { RouteId } from '../service/manifest.js';
import { renderJson, renderJunit, renderMarkdown, renderPretty } from './reporters.js';
import { runSmoke } from './run.js';

const stepNames = [
  'health', 'send-otp', 'verify-otp', 'me', 'unauthorized', 'refresh', 'reuse-detection', 'login-again',
  'presign', 'upload', 'patch-photo', 'photo-served', 'forbidden-key', 'cleanup',
];

describe('chatshyld smoke', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'chatshyld-smoke-test-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** A sandbox whose handlers the test may break. */
  const withSandbox = async (
    wrap: SandboxOptions['wrapFunction'],
    check: (sandbox: Sandbox) => Promise<void>,
  ) => {
    const sandbox = await startSandbox({ stateDir: await mkdtemp(join(work, 'state-')), wrapFunction: wrap });
    try {
      await check(sandbox);
    } finally {
      await sandbox.close();
    }
  };
  /** A function's invocation as the faults see it: JSON bodies, parsed. */
  interface Call {
    readonly headers: Readonly<Record<string, string | undefined>>;
    readonly body: unknown;
  }
  interface Answer {
    readonly statusCode: number;
    readonly body?: unknown;
  }
  const callOf = (event: APIGatewayProxyEventV2): Call => ({ headers: event.headers, body: event.body ? JSON.parse(event.body) : undefined });
  const answerOf = (result: APIGatewayProxyStructuredResultV2): Answer => ({
    statusCode: result.statusCode ?? 200,
    body: result.body ? JSON.parse(result.body) : undefined,
  });
  const resultOf = (answer: Answer): APIGatewayProxyStructuredResultV2 => ({
    statusCode: answer.statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    ...(answer.body !== undefined && { body: JSON.stringify(answer.body) }),
  });
  /** Wraps one route's function the way the faults below break it. */
  const wrapping =
    (wrap: (id: RouteId, request: Call, real: () => Promise<Answer>) => Promise<Answer>): SandboxOptions['wrapFunction'] =>
    (id, invoke) =>
    async (event) =>
      resultOf(await wrap(id, callOf(event), async () => answerOf(await invoke(event))));
  type Fault = (request: Call, real: () => Promise<Answer>) => Promise<Answer>;
  const breaking = (target: RouteId, fault: Fault): SandboxOptions['wrapFunction'] =>
    wrapping((id, request, real) => (id === target ? fault(request, real) : real()));

  it('--local passes every step and writes JUnit with one passing testcase per step', async () => {
    const out = join(work, 'junit');
    const result = await runCli(['smoke', '--local', '--reporter', 'junit', '--out', out]);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const xml = await readFile(join(out, 'smoke.junit.xml'), 'utf8');
    const cases = [...xml.matchAll(/<testcase classname="chatshyld\.smoke" name="([^"]+)" time="([\d.]+)"\/>/g)];
    expect(cases.map((match) => match[1])).toEqual(stepNames);
    expect(xml).not.toMatch(/<failure|<skipped/);
    expect(xml).toMatch(/<testsuites name="chatshyld smoke" tests="14" failures="0" errors="0" skipped="0"/);
  });

  it('--json puts a parseable report on stdout and nothing else', async () => {
    const result = await runCli(['smoke', '--local', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.passed).toBe(true);
    expect(report.steps.map((step: { name: string }) => step.name)).toEqual(stepNames);
    expect(result.stderr).toContain('smoke: checking an in-process sandbox');
  });

  it('fails with exit 1 and names the step when a handler answers a wrong body', async () => {
    await withSandbox(
      breaking('getMe', async (_request, real) => {
        const response = await real();
        return { ...response, body: { ...(response.body as object), phone: '+10000000000' } };
      }),
      async (sandbox) => {
        const result = await runCli(['smoke', '--url', sandbox.url]);
        expect(result.code).toBe(1);
        expect(result.stdout).toMatch(/✗ me\s/);
        expect(result.stdout).toContain('profile is not the signed-in user');
        expect(result.stdout).toMatch(/→ GET http:\/\/127\.0\.0\.1:\d+\/profile\/me/);
        expect(result.stdout).toMatch(/– refresh\s+skipped/);
        expect(result.stdout).toMatch(/✓ cleanup/); // the smoke user is still removed
      },
    );
  });

  it('fails at reuse detection when a rotated refresh token stays valid', async () => {
    const used = new Set<string>();
    await withSandbox(
      breaking('refresh', async (request, real) => {
        const token = (request.body as { refreshToken?: string })?.refreshToken ?? '';
        if (used.has(token)) {
          // The bug: a replayed token is accepted instead of revoking the family.
          return { statusCode: 200, body: { token: 'x', refreshToken: 'y'.repeat(43), expiresIn: 900 } };
        }
        used.add(token);
        return real();
      }),
      async (sandbox) => {
        const result = await runCli(['smoke', '--url', sandbox.url, '--reporter', 'pretty,markdown', '--out', join(work, 'md')]);
        expect(result.code).toBe(1);
        expect(result.stdout).toMatch(/✗ reuse-detection\s/);
        expect(result.stdout).toContain('refresh with the oldest token: expected 401, got 200');
        const markdown = await readFile(join(work, 'md', 'smoke.md'), 'utf8');
        expect(markdown).toContain('| ❌ | `reuse-detection` |');
      },
    );
  });

  it('fails with exit 1 and a one-line reason when nothing listens', async () => {
    const result = await runCli(['smoke', '--url', 'http://127.0.0.1:9', '--reporter', 'junit', '--out', join(work, 'down')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('smoke failed at health');
    const xml = await readFile(join(work, 'down', 'smoke.junit.xml'), 'utf8');
    expect(xml).toContain('message="could not connect to http://127.0.0.1:9: connection refused (is the API running there?)"');
    expect(xml.match(/<skipped /g)).toHaveLength(13);
  });

  it('appends the Markdown summary to GITHUB_STEP_SUMMARY', async () => {
    const summary = join(work, 'summary.md');
    await writeFile(summary, '# earlier step\n');
    const result = await runCli(['smoke', '--local', '--reporter', 'markdown', '--out', join(work, 'gh')], {
      env: { GITHUB_STEP_SUMMARY: summary },
    });
    expect(result.code).toBe(0);
    const text = await readFile(summary, 'utf8');
    expect(text.startsWith('# earlier step\n')).toBe(true);
    expect(text).toContain('### ChatShyld smoke passed ✅');
  });

  it('keeps tokens, codes and signatures out of every report, even from a leaky server', async () => {
    const secrets: string[] = [];
    const codes: string[] = [];
    const capture = wrapping(async (id, request, real) => {
      const response = await real();
      const body = response.body as Record<string, unknown> | undefined;
      // Refusals carry no token (a handler throws them; the function answers them as errors).
      if ((id === 'verifyOtp' || id === 'refresh') && response.statusCode < 400) secrets.push(String(body?.token), String(body?.refreshToken));
      if (id === 'presignAvatar') {
        const fields = body?.fields as Record<string, string>;
        secrets.push(fields['X-Amz-Signature']!, fields.Policy!);
      }
      if (id === 'patchMe') {
        // A leaky server echoing the caller's credentials into a failing answer.
        return { statusCode: 500, body: { error: { code: 'boom', message: `auth was ${request.headers.authorization}` }, echo: secrets } };
      }
      return response;
    });
    const sandbox = await startSandbox({
      stateDir: await mkdtemp(join(work, 'state-')),
      wrapFunction: capture,
      onOtp: (message) => codes.push(message.code),
    });
    try {
      const report = await runSmoke({ baseUrl: sandbox.url, phone: '+14155550190', code: { from: 'sandbox' } });
      expect(report.passed).toBe(false);
      expect(report.steps.find((step) => step.status === 'failed')?.name).toBe('patch-photo');
      const rendered = [renderPretty(report), renderJson(report), renderJunit(report), renderMarkdown(report)].join('\n');
      expect(secrets.length).toBeGreaterThan(6);
      for (const secret of [...secrets, ...codes]) expect(rendered).not.toContain(secret);
      expect(rendered).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
      expect(rendered).toContain('[redacted');
    } finally {
      await sandbox.close();
    }
  });
});
