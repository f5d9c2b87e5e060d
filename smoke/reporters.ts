/** Renderings of a smoke report: a terminal table, JSON, JUnit XML for CI, and Markdown for summaries. */
import type { Exchange, SmokeReport, StepResult } from './types.js';

export const reporterNames = ['pretty', 'json', 'junit', 'markdown'] as const;
export type ReporterName = (typeof reporterNames)[number];

/** File names under `--out`. */
export const reportFiles: Record<Exclude<ReporterName, 'pretty'>, string> = {
  json: 'smoke.json',
  junit: 'smoke.junit.xml',
  markdown: 'smoke.md',
};

export interface Paint {
  green(text: string): string;
  red(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export const plain: Paint = { green: (t) => t, red: (t) => t, dim: (t) => t, bold: (t) => t };

const ms = (value: number) => `${Math.round(value)} ms`;

function summary(report: SmokeReport): string {
  const count = (status: StepResult['status']) => report.steps.filter((step) => step.status === status).length;
  const parts = [`${count('passed')} passed`];
  if (count('failed')) parts.push(`${count('failed')} failed`);
  if (count('skipped')) parts.push(`${count('skipped')} skipped`);
  return `${report.steps.length} steps: ${parts.join(', ')} in ${ms(report.durationMs)}`;
}

function exchangeLines(exchange: Exchange): string[] {
  const lines = [`→ ${exchange.request.method} ${exchange.request.url}`];
  if (exchange.request.body !== undefined) lines.push(`  ${JSON.stringify(exchange.request.body)}`);
  if (exchange.response) {
    lines.push(`← ${exchange.response.status}`);
    if (exchange.response.body !== undefined) {
      const body = typeof exchange.response.body === 'string' ? exchange.response.body : JSON.stringify(exchange.response.body);
      lines.push(`  ${body.slice(0, 1000)}`);
    }
  } else {
    lines.push('← no response');
  }
  return lines;
}

export function renderPretty(report: SmokeReport, paint: Paint = plain, width = 24): string {
  const longest = Math.max(1, ...report.steps.map((step) => step.durationMs));
  const nameWidth = Math.max(...report.steps.map((step) => step.name.length));
  const lines: string[] = [];
  for (const step of report.steps) {
    const mark = step.status === 'passed' ? paint.green('✓') : step.status === 'failed' ? paint.red('✗') : paint.dim('–');
    const name = step.name.padEnd(nameWidth);
    if (step.status === 'skipped') {
      lines.push(`${mark} ${paint.dim(`${name}  skipped`)}`);
      continue;
    }
    const bar = '█'.repeat(Math.max(1, Math.round((step.durationMs / longest) * width)));
    const time = ms(step.durationMs).padStart(8);
    lines.push(`${mark} ${name} ${time}  ${step.status === 'failed' ? paint.red(bar) : paint.dim(bar)}  ${paint.dim(step.title)}`);
    if (step.status === 'failed') {
      lines.push(`    ${paint.red(step.message ?? 'failed')}`);
      if (step.exchange) lines.push(...exchangeLines(step.exchange).map((line) => `    ${paint.dim(line)}`));
    }
  }
  const verdict = report.passed ? paint.green(paint.bold('smoke passed')) : paint.red(paint.bold('smoke failed'));
  lines.push('', `${verdict} — ${summary(report)} against ${report.target}`);
  return `${lines.join('\n')}\n`;
}

export function renderJson(report: SmokeReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const xml = (text: string) =>
  text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // Characters XML 1.0 cannot carry at all.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');

export function renderJunit(report: SmokeReport): string {
  const failures = report.steps.filter((step) => step.status === 'failed').length;
  const skipped = report.steps.filter((step) => step.status === 'skipped').length;
  const seconds = (value: number) => (value / 1000).toFixed(3);
  const attributes = `tests="${report.steps.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(report.durationMs)}"`;
  const cases = report.steps.map((step) => {
    const open = `    <testcase classname="chatshyld.smoke" name="${xml(step.name)}" time="${seconds(step.durationMs)}"`;
    if (step.status === 'passed') return `${open}/>`;
    if (step.status === 'skipped') return `${open}>\n      <skipped message="an earlier step failed"/>\n    </testcase>`;
    const detail = step.exchange ? exchangeLines(step.exchange).join('\n') : '';
    return (
      `${open}>\n      <failure message="${xml(step.message ?? 'failed')}" type="SmokeStepFailure">${xml(detail)}</failure>\n` +
      `    </testcase>`
    );
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="chatshyld smoke" ${attributes}>`,
    `  <testsuite name="smoke ${xml(report.target)}" ${attributes} timestamp="${report.startedAt}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function renderMarkdown(report: SmokeReport): string {
  const icon = { passed: '✅', failed: '❌', skipped: '⏭️' } as const;
  const rows = report.steps.map(
    (step) =>
      `| ${icon[step.status]} | \`${step.name}\` | ${step.title.replace(/\|/g, '\\|')} | ${step.status === 'skipped' ? '–' : ms(step.durationMs)} |`,
  );
  const failures = report.steps
    .filter((step) => step.status === 'failed')
    .map((step) =>
      [
        `**${step.name}**: ${step.message ?? 'failed'}`,
        ...(step.exchange ? ['', '```', ...exchangeLines(step.exchange), '```'] : []),
      ].join('\n'),
    );
  return [
    `### ChatShyld smoke ${report.passed ? 'passed ✅' : 'failed ❌'}`,
    '',
    `${summary(report)} against \`${report.target}\`.`,
    '',
    '| | step | checks | time |',
    '|---|---|---|---:|',
    ...rows,
    ...(failures.length ? ['', ...failures] : []),
    '',
  ].join('\n');
}
