/**
 * cfn-lint and checkov over the synthesized dev and prod templates, as CI would run them: each stage's
 * template written to a folder, both tools run once over it, their JSON read back. cfn-lint must find
 * no error (and no warning but the ones named below, with why); checkov must find nothing that the
 * stack has not fixed or skipped with a reason on the resource.
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, synthStage } from './testing/synth.js';

const stages = ['dev', 'prod'];
const tool = (name: string) => join(repoRoot, '.venv', 'bin', name);

/** cfn-lint warnings we accept, each for a reason; any other warning fails. */
const acceptedWarnings: Record<string, string> = {
  W3005:
    'The CDK makes each function DependsOn its role and its role policy, and also names the role with GetAtt; the redundant DependsOn is how the CDK orders the policy before the function and changes nothing.',
};

interface LintFinding {
  readonly Rule: { readonly Id: string };
  readonly Level: 'Error' | 'Warning' | 'Informational';
  readonly Message: string;
  readonly Filename: string;
  readonly Location: { readonly Path?: unknown[] };
}

interface CheckovCheck {
  readonly check_id: string;
  readonly resource: string;
  readonly file_path: string;
  readonly check_result: { readonly result: string; readonly suppress_comment?: string };
}

interface CheckovReport {
  readonly check_type: string;
  readonly results: { readonly failed_checks: CheckovCheck[]; readonly skipped_checks: CheckovCheck[]; readonly passed_checks: CheckovCheck[] };
  readonly summary: { readonly passed: number; readonly failed: number; readonly skipped: number; readonly parsing_errors: number; readonly resource_count: number };
}

/** Runs a tool; its exit code says whether it found something, so only a crash (no stdout) is an error. */
function run(command: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string; code: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      // No tool reaches the network: checkov is told to download nothing.
      { cwd, maxBuffer: 64 * 1024 * 1024, timeout: 240_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', LOG_LEVEL: 'WARNING' } },
      (error, stdout, stderr) => {
        const code = typeof error?.code === 'number' ? error.code : error ? -1 : 0;
        if (error && !stdout.trim()) reject(new Error(`${command} ${args.join(' ')} failed (${error.message}): ${stderr}`));
        else resolve({ stdout, stderr, code, ms: Math.round(performance.now() - started) });
      },
    );
  });
}

describe('the synthesized templates, as cfn-lint and checkov read them', () => {
  let directory: string;
  const files: Record<string, string> = {};
  let lint: { findings: LintFinding[]; ms: number };
  let checkov: { report: CheckovReport; ms: number };

  beforeAll(async () => {
    for (const name of ['cfn-lint', 'checkov']) {
      await access(tool(name)).catch(() => {
        throw new Error(`${tool(name)} is missing: run \`bash scripts/ensure-python-tools.sh\` (npm test runs it first), then run the tests again`);
      });
    }
    directory = await mkdtemp(join(tmpdir(), 'chatshyld-templates-'));
    for (const stage of stages) {
      const { stack } = await synthStage(stage);
      files[stage] = `ChatShyld-${stage}.template.json`;
      await writeFile(join(directory, files[stage]!), JSON.stringify(Template.fromStack(stack).toJSON(), null, 1));
    }
    const paths = stages.map((stage) => files[stage]!);
    // Both at once: each is mostly start-up (checkov ~10 s of it, cfn-lint ~3 s).
    const [linted, scanned] = await Promise.all([
      run(tool('cfn-lint'), ['--format', 'json', ...paths], directory),
      run(tool('checkov'), ['--framework', 'cloudformation', '--output', 'json', '--skip-download', '--compact', ...paths.flatMap((path) => ['--file', path])], directory),
    ]);
    lint = { findings: JSON.parse(linted.stdout) as LintFinding[], ms: linted.ms };
    checkov = { report: JSON.parse(scanned.stdout) as CheckovReport, ms: scanned.ms };
    process.stderr.write(`template lint: cfn-lint ${lint.ms} ms, checkov ${checkov.ms} ms\n`);
  }, 300_000);
  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('cfn-lint: no error in either template, and no warning but the accepted ones', () => {
    const errors = lint.findings.filter((finding) => finding.Level === 'Error');
    expect(errors.map((finding) => `${finding.Filename} ${finding.Rule.Id} ${finding.Message}`)).toEqual([]);
    const unexpected = lint.findings.filter((finding) => finding.Level === 'Warning' && !(finding.Rule.Id in acceptedWarnings));
    expect(unexpected.map((finding) => `${finding.Filename} ${finding.Rule.Id} ${finding.Message}`)).toEqual([]);
    for (const reason of Object.values(acceptedWarnings)) expect(reason.length).toBeGreaterThan(40);
  });

  it('checkov: scanned both templates, and every finding is fixed or skipped on its resource with a reason', () => {
    const { report } = checkov;
    expect(report.check_type).toBe('cloudformation');
    expect(report.summary.parsing_errors).toBe(0);
    const scanned = new Set(report.results.passed_checks.map((check) => check.file_path.replace(/^\//, '')));
    expect([...scanned].sort()).toEqual(stages.map((stage) => files[stage]).sort());
    expect(report.summary.passed).toBeGreaterThan(100);
    expect(report.results.failed_checks.map((check) => `${check.file_path} ${check.resource} ${check.check_id}`)).toEqual([]);
    expect(report.summary.skipped).toBeGreaterThan(0);
    for (const check of report.results.skipped_checks) {
      const comment = check.check_result.suppress_comment ?? '';
      expect(comment, `${check.resource} ${check.check_id}`).not.toBe('No comment provided');
      expect(comment.length, `${check.resource} ${check.check_id}`).toBeGreaterThan(40);
    }
  });
});
