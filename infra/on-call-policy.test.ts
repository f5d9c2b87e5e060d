import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { routeTableActions, tables, userOperationsAccess, type TableId } from '../service/manifest.js';
import { bucketActions } from './grants.js';
import { shippedStage, synthStage } from './testing/synth.js';

/**
 * The optional on-call policy: off by default; when a stage asks for it, a managed policy whose
 * actions are those of `userOperationsAccess` (which service/ops/user-admin.test.ts holds to the
 * commands the operations really send), plus the stack read that finds the table names.
 */
describe('the on-call policy', () => {
  it('is absent unless the stage config asks for it', async () => {
    const template = Template.fromStack((await synthStage('dev')).stack);
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    expect(Object.keys(template.findOutputs('OnCallPolicyArn'))).toEqual([]);
  }, 120_000);

  it('grants exactly what `chatshyld users` sends, on this stage only, with its ARN as an output', async () => {
    const stageConfig = { ...(await shippedStage('prod')), onCallPolicy: true };
    const { app, stack } = await synthStage('prod', { stageConfig, nag: true });
    expect(() => app.synth()).not.toThrow(); // cdk-nag: nothing unacknowledged
    const template = Template.fromStack(stack);
    const [policy, ...others] = Object.values(template.findResources('AWS::IAM::ManagedPolicy'));
    expect(others).toHaveLength(0);
    const statements = policy!.Properties.PolicyDocument.Statement as { Sid: string; Action: string | string[]; Resource: unknown }[];
    const actions = statements.flatMap((statement) => [statement.Action].flat());

    const expected = [
      ...new Set([
        ...Object.values(routeTableActions({ access: userOperationsAccess })).flatMap((list) => list!.map((action) => `dynamodb:${action}`)),
        ...(userOperationsAccess.bucket ?? []).map((access) => bucketActions[access]),
        'cloudformation:DescribeStacks',
      ]),
    ];
    expect([...new Set(actions)].sort()).toEqual(expected.sort());
    expect(JSON.stringify(statements)).not.toMatch(/"Resource":"\*"/);
    // Each table statement names only this stack's tables.
    const tableStatements = statements.filter((statement) => statement.Sid.endsWith('ReadWrite') || statement.Sid.endsWith('Read'));
    expect(tableStatements.map((statement) => statement.Sid).sort()).toEqual(
      (Object.keys(userOperationsAccess.tables ?? {}) as TableId[]).map((id) => `${tables[id].logicalName}ReadWrite`).sort(),
    );
    expect(Object.keys(template.findOutputs('OnCallPolicyArn'))).toEqual(['OnCallPolicyArn']);
  }, 120_000);
});
