import { Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { routeSecrets, routeTableActions, routes, secretParameterName, secrets, tables, type RouteDefinition } from '../service/manifest.js';
import { shippedStage, synthStage } from './testing/synth.js';

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string };

function resources(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.findResources(type)) as [string, Resource][];
}

describe.each(['dev', 'prod'])('stack ChatShyld-%s', (stage) => {
  let template: Template;
  let stack: Awaited<ReturnType<typeof synthStage>>['stack'];
  beforeAll(async () => {
    ({ stack } = await synthStage(stage));
    template = Template.fromStack(stack);
  }, 120_000);

  const logicalIdOf = (type: string, match: (resource: Resource) => boolean) =>
    resources(template, type).find(([, resource]) => match(resource))?.[0];
  const tableIds = () =>
    Object.fromEntries(
      resources(template, 'AWS::DynamoDB::Table').map(([id, table]) => [
        Object.values(tables).find((definition) => id.startsWith(`${definition.logicalName}Table`))!.id,
        id,
      ]),
    );
  const policyOf = (route: RouteDefinition) => {
    const [, fn] = resources(template, 'AWS::Lambda::Function').find(
      ([, candidate]) => candidate.Properties.FunctionName === `ChatShyld-${stage}-${route.id}`,
    )!;
    const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
    const policies = resources(template, 'AWS::IAM::Policy').filter(([, policy]) =>
      policy.Properties.Roles.some((role: { Ref: string }) => role.Ref === roleId),
    );
    expect(policies).toHaveLength(1);
    return { fn, statements: policies[0]![1].Properties.PolicyDocument.Statement as Record<string, any>[] };
  };

  it('has exactly the routes of the manifest', () => {
    const keys = resources(template, 'AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties.RouteKey);
    expect(keys.sort()).toEqual(routes.map((route) => `${route.method} ${route.path}`).sort());
  });

  it('runs one Node 22 ARM64 function per route, with its own log group', async () => {
    const stageConfig = await shippedStage(stage);
    const groupsUsed = new Set<string>();
    for (const route of routes) {
      const { fn, statements } = policyOf(route);
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler' });
      // The function logs where its LoggingConfig says: a group of this stack, its own.
      const groupId = fn.Properties.LoggingConfig?.LogGroup?.Ref as string;
      const logGroup = template.toJSON().Resources[groupId];
      expect(logGroup?.Type, route.id).toBe('AWS::Logs::LogGroup');
      expect(groupsUsed.has(groupId), route.id).toBe(false);
      groupsUsed.add(groupId);
      expect(logGroup.Properties.RetentionInDays).toBe(stageConfig.logRetentionDays);
      const ownLogs = statements.find((statement) => statement.Sid === 'OwnLogs')!;
      expect(ownLogs.Resource).toEqual({ 'Fn::GetAtt': [groupId, 'Arn'] });
    }
    // No function role has a managed policy: every permission is one of the statements checked below.
    for (const route of routes) {
      const { fn } = policyOf(route);
      const role = template.toJSON().Resources[fn.Properties.Role['Fn::GetAtt'][0]];
      expect(role.Properties.ManagedPolicyArns, route.id).toBeUndefined();
    }
  });

  it("grants each function exactly its manifest's tables, bucket actions and secrets", async () => {
    const allowTestNumbers = Boolean((await shippedStage(stage)).allowTestNumbers);
    const ids = tableIds();
    for (const route of routes) {
      const { fn, statements } = policyOf(route);
      const text = JSON.stringify(statements);
      for (const statement of statements) {
        const actions = [statement.Action].flat() as string[];
        const resourcesOf = [statement.Resource].flat();
        if (actions.some((action) => /^(dynamodb|s3|ssm|kms):/.test(action))) {
          expect(resourcesOf, `${route.id}: ${statement.Sid}`).not.toContain('*');
        }
      }
      // Tables: exactly those granted, with the right access.
      for (const definition of Object.values(tables)) {
        const access = route.access.tables?.[definition.id];
        const statement = statements.find((candidate) => JSON.stringify(candidate.Resource).includes(ids[definition.id]!));
        if (!access) {
          expect(statement, `${route.id} must not reach ${definition.logicalName}`).toBeUndefined();
          continue;
        }
        const actions = [statement!.Action].flat() as string[];
        // Exactly the actions its store calls send (the entry tests hold the calls to the list).
        expect(actions.sort(), `${route.id} ${definition.logicalName}`).toEqual(
          (routeTableActions(route)[definition.id] ?? []).map((action) => `dynamodb:${action}`).sort(),
        );
        const writes = actions.filter((action) => !['dynamodb:GetItem', 'dynamodb:Query'].includes(action));
        expect(writes.length > 0, `${route.id} ${definition.logicalName}`).toBe(access === 'readwrite');
        for (const index of definition.indexes) expect(JSON.stringify(statement!.Resource)).toContain(`/index/${index.name}`);
      }
      // Bucket: object actions only under avatar/, listing only with the avatar/ prefix.
      const bucket = route.access.bucket ?? [];
      const objectStatement = statements.find((statement) => statement.Sid === 'AvatarObjects');
      const expectedObjectActions = bucket
        .filter((access) => access !== 'list')
        .map((access) => ({ read: 's3:GetObject', put: 's3:PutObject', tag: 's3:PutObjectTagging', delete: 's3:DeleteObject' })[access as 'read']);
      expect([objectStatement?.Action ?? []].flat().sort(), route.id).toEqual(expectedObjectActions.sort());
      if (objectStatement) expect(JSON.stringify(objectStatement.Resource)).toContain('/avatar/*');
      const listing = statements.find((statement) => statement.Sid === 'AvatarListing');
      expect(Boolean(listing), route.id).toBe(bucket.includes('list'));
      if (listing) expect(listing.Condition).toEqual({ StringLike: { 's3:prefix': ['avatar/*'] } });
      // Secrets: exactly the stage's parameters it names.
      const ssm = statements.find((statement) => statement.Sid === 'StageSecrets');
      const granted = routeSecrets(route, { allowTestNumbers }).map((name) => secretParameterName(stage, name));
      const named = [...JSON.stringify(ssm?.Resource ?? []).matchAll(/parameter\/(chatshyld\/[a-z-]+\/[a-z-]+)/g)].map((m) => `/${m[1]}`);
      expect(named.sort(), route.id).toEqual(granted.sort());
      expect(text).not.toMatch(/ssm:GetParameters?ByPath|ssm:\*|dynamodb:\*|s3:\*/);
      // The environment names what it may touch and nothing else.
      const env = fn.Properties.Environment.Variables as Record<string, unknown>;
      for (const definition of Object.values(tables)) {
        expect(definition.env in env, `${route.id} ${definition.env}`).toBe(Boolean(route.access.tables?.[definition.id]));
      }
      expect(env.CHATSHYLD_STAGE).toBe(stage);
    }
  });

  it('lets no role read the test-numbers secret, and tells no function its name, on a stage without test numbers', async () => {
    const allowTestNumbers = Boolean((await shippedStage(stage)).allowTestNumbers);
    const parameter = secretParameterName(stage, 'test-numbers');
    // Every statement of every policy in the template, inline or managed, not the first that matches.
    const statements = [...resources(template, 'AWS::IAM::Policy'), ...resources(template, 'AWS::IAM::ManagedPolicy')].flatMap(
      ([, policy]) => policy.Properties.PolicyDocument.Statement as Record<string, unknown>[],
    );
    expect(statements.length).toBeGreaterThan(routes.length);
    const naming = statements.filter((statement) => JSON.stringify(statement.Resource ?? '').includes(parameter));
    const functions = resources(template, 'AWS::Lambda::Function');
    const told = functions.filter(([, fn]) => secrets['test-numbers'].env in (fn.Properties.Environment?.Variables ?? {}));
    const readers = routes.filter((route) => route.access.secrets?.includes('test-numbers'));
    expect(readers.map((route) => route.id).sort()).toEqual(['sendOtp', 'verifyOtp']);
    if (allowTestNumbers) {
      expect(naming).toHaveLength(readers.length);
      expect(told).toHaveLength(readers.length);
    } else {
      expect(naming).toEqual([]);
      expect(told).toEqual([]);
      // Nor through a wildcard: no SSM statement reaches past the parameters it names.
      for (const statement of statements.filter((candidate) => JSON.stringify(candidate.Action).includes('ssm:'))) {
        expect(JSON.stringify(statement.Resource)).not.toMatch(/\*/);
      }
    }
  });

  it('tags only from the routes that tag: presign (the POST carries the tag) and PATCH (attach and release)', () => {
    const objectActions = (id: string) =>
      ([policyOf(routes.find((route) => route.id === id)!).statements.find((statement) => statement.Sid === 'AvatarObjects')?.Action ?? []] as unknown[])
        .flat()
        .sort();
    expect(objectActions('presignAvatar')).toEqual(['s3:PutObject', 's3:PutObjectTagging']);
    expect(objectActions('patchMe')).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObjectTagging']);
    for (const route of routes.filter((candidate) => !['presignAvatar', 'patchMe'].includes(candidate.id))) {
      expect(JSON.stringify(policyOf(route).statements), route.id).not.toContain('s3:PutObjectTagging');
    }
  });

  it('expires avatar objects tagged state=pending after a day, and still aborts stale multipart uploads', () => {
    const buckets = resources(template, 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(1);
    const rules = (buckets[0]![1].Properties as any).LifecycleConfiguration.Rules as Record<string, unknown>[];
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Status: 'Enabled', ExpirationInDays: 1, TagFilters: [{ Key: 'state', Value: 'pending' }] }),
        expect.objectContaining({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
      ]),
    );
    // No rule may expire anything but pending objects: an attached photo (or an untagged one) must live.
    for (const rule of rules.filter((candidate) => 'ExpirationInDays' in candidate || 'ExpirationDate' in candidate)) {
      expect(rule.TagFilters, JSON.stringify(rule)).toEqual([{ Key: 'state', Value: 'pending' }]);
      expect(rule.Prefix ?? '', JSON.stringify(rule)).toBe('');
    }
  });

  it('blocks public access to the avatars bucket and refuses plain HTTP', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
    const policy = JSON.stringify(resources(template, 'AWS::S3::BucketPolicy')[0]![1].Properties.PolicyDocument);
    expect(policy).toContain('"aws:SecureTransport":"false"');
    expect(policy).toContain('"Effect":"Deny"');
  });

  it('throttles each route on its own, and /auth/* tighter', async () => {
    const throttles = (await shippedStage(stage)).throttles!;
    const [, apiStage] = resources(template, 'AWS::ApiGatewayV2::Stage')[0]!;
    expect(apiStage.Properties.DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: throttles.rateLimit,
      ThrottlingBurstLimit: throttles.burstLimit,
    });
    const authRoutes = routes.filter((route) => route.path.startsWith('/auth/')).map((route) => `${route.method} ${route.path}`);
    expect(Object.keys(apiStage.Properties.RouteSettings).sort()).toEqual(authRoutes.sort());
    for (const settings of Object.values(apiStage.Properties.RouteSettings) as Record<string, number>[]) {
      // Route settings do not inherit the stage defaults: detailed metrics are set on each.
      expect(settings).toEqual({ ThrottlingRateLimit: throttles.authRateLimit, ThrottlingBurstLimit: throttles.authBurstLimit, DetailedMetricsEnabled: true });
      expect(settings.ThrottlingRateLimit).toBeLessThan(throttles.rateLimit!);
    }
    expect(apiStage.Properties.AccessLogSettings.DestinationArn).toBeDefined();
  });

  it('keeps data on a protected stage, and only there', async () => {
    const isProtected = Boolean((await shippedStage(stage)).protected);
    const tablesFound = resources(template, 'AWS::DynamoDB::Table');
    expect(tablesFound).toHaveLength(3);
    for (const [, table] of tablesFound) {
      // RetainExceptOnCreate: kept on update and delete, yet a failed first deploy rolls back cleanly.
      expect(table.DeletionPolicy).toBe(isProtected ? 'RetainExceptOnCreate' : 'Delete');
      expect(Boolean(table.Properties.DeletionProtectionEnabled)).toBe(isProtected);
      expect(Boolean(table.Properties.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled)).toBe(isProtected);
      expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
    }
    expect(stack.terminationProtection).toBe(isProtected);
  });

  it('keeps every stateful resource of a protected stage except when its first deploy fails', async () => {
    const isProtected = Boolean((await shippedStage(stage)).protected);
    const stateful = ['AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::Logs::LogGroup', 'AWS::KMS::Key'].flatMap((type) => resources(template, type));
    expect(stateful.length).toBeGreaterThan(routes.length + 4);
    for (const [id, resource] of stateful) {
      expect(resource.DeletionPolicy, id).toBe(isProtected ? 'RetainExceptOnCreate' : 'Delete');
      expect((resource as { UpdateReplacePolicy?: string }).UpdateReplacePolicy, id).toBe(isProtected ? 'Retain' : 'Delete');
    }
  });

  it('names no resource it may keep: a kept one must never block a route, or the stack, coming back', () => {
    // On a protected stage a log group (or table, bucket, key) outlives its route or its stack. With a
    // fixed name, re-adding the route or recreating the stack would fail with "already exists"; with
    // a name CloudFormation chooses, a new one is made beside the kept one.
    const nameProperty: Record<string, string> = {
      'AWS::Logs::LogGroup': 'LogGroupName',
      'AWS::DynamoDB::Table': 'TableName',
      'AWS::S3::Bucket': 'BucketName',
      'AWS::KMS::Key': 'KeyId',
    };
    const kept = Object.entries(template.toJSON().Resources as Record<string, Resource>).filter(
      ([, resource]) => resource.DeletionPolicy !== undefined && resource.DeletionPolicy !== 'Delete',
    );
    for (const [id, resource] of Object.entries(template.toJSON().Resources as Record<string, Resource>)) {
      if (resource.DeletionPolicy === 'Delete' || resource.DeletionPolicy === undefined) continue;
      expect(Object.keys(nameProperty), `${id} is kept: which property names it?`).toContain(resource.Type);
      expect(resource.Properties[nameProperty[resource.Type]!], `${id} is kept and named`).toBeUndefined();
    }
    // Every log group, kept or not: the same rule on every stage, so `chatshyld logs` has one way to find them.
    for (const [id, group] of resources(template, 'AWS::Logs::LogGroup')) expect(group.Properties.LogGroupName, id).toBeUndefined();
    if (stage === 'prod') expect(kept.filter(([, resource]) => resource.Type === 'AWS::Logs::LogGroup').length).toBe(routes.length + 1);
  });

  it('declares the tables from the shared definitions: keys, index, TTL', () => {
    for (const definition of Object.values(tables)) {
      const id = tableIds()[definition.id]!;
      const table = template.toJSON().Resources[id].Properties;
      expect(table.KeySchema).toEqual([{ AttributeName: definition.partitionKey.name, KeyType: 'HASH' }]);
      expect(table.TimeToLiveSpecification?.AttributeName).toBe(definition.ttlAttribute);
      expect((table.GlobalSecondaryIndexes ?? []).map((index: { IndexName: string }) => index.IndexName)).toEqual(
        definition.indexes.map((index) => index.name),
      );
    }
  });

  it('alarms on 5xx, function errors, throttles and OTP-send spikes, to an encrypted topic', async () => {
    // Four alarms notify: 5xx and OTP spikes, and composites over the grouped function alarms.
    const notifying = [...resources(template, 'AWS::CloudWatch::Alarm'), ...resources(template, 'AWS::CloudWatch::CompositeAlarm')].filter(
      ([, alarm]) => alarm.Properties.AlarmActions,
    );
    const alarms = resources(template, 'AWS::CloudWatch::Alarm');
    expect(notifying).toHaveLength(4);
    const topicId = logicalIdOf('AWS::SNS::Topic', () => true)!;
    for (const [, alarm] of notifying) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    // Every function's Errors and Throttles are summed in exactly one group, each well under
    // CloudWatch's 10 metrics per alarm, and each group is in its composite's rule.
    for (const metric of ['Errors', 'Throttles']) {
      const groups = alarms.filter(([, alarm]) => (alarm.Properties.Metrics ?? []).some((query: any) => query.MetricStat?.Metric.MetricName === metric));
      const counted = groups.flatMap(([, alarm]) =>
        (alarm.Properties.Metrics as any[]).filter((query) => query.MetricStat).map((query) => JSON.stringify(query.MetricStat.Metric.Dimensions)),
      );
      expect(counted).toHaveLength(routes.length);
      expect(new Set(counted).size).toBe(routes.length);
      for (const [, group] of groups) {
        expect((group.Properties.Metrics as any[]).filter((query) => query.MetricStat).length).toBeLessThanOrEqual(5);
        expect(group.Properties.AlarmActions).toBeUndefined();
      }
      const [, composite] = resources(template, 'AWS::CloudWatch::CompositeAlarm').find(([, c]) => c.Properties.AlarmName === `ChatShyld-${stage}-Function${metric}`)!;
      for (const [id] of groups) expect(JSON.stringify(composite.Properties.AlarmRule)).toContain(id);
    }
    expect(JSON.stringify(alarms)).toContain('"MetricName":"OtpSent"');
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    // A customer-managed key CloudWatch may use, for this stage's alarms in this account only.
    const [, topic] = resources(template, 'AWS::SNS::Topic')[0]!;
    const keyId = topic.Properties.KmsMasterKeyId['Fn::GetAtt']?.[0] ?? topic.Properties.KmsMasterKeyId.Ref;
    const key = template.toJSON().Resources[keyId];
    expect(key?.Type).toBe('AWS::KMS::Key');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const cloudWatch = (key.Properties.KeyPolicy.Statement as Record<string, any>[]).filter(
      (statement) => statement.Principal?.Service === 'cloudwatch.amazonaws.com',
    );
    expect(cloudWatch).toHaveLength(1);
    expect([cloudWatch[0]!.Action].flat().sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
    expect(cloudWatch[0]!.Condition.StringEquals['aws:SourceAccount']).toBe((await shippedStage(stage)).account);
    const sourceArn = JSON.stringify(cloudWatch[0]!.Condition.ArnLike['aws:SourceArn']);
    expect(sourceArn).toContain(`:alarm:ChatShyld-${stage}-*`);
    for (const [, alarm] of notifying) expect(alarm.Properties.AlarmName).toMatch(new RegExp(`^ChatShyld-${stage}-`));
    // The topic's own policy (enforceSSL makes one, replacing SNS's default) must let those alarms publish.
    const [, topicPolicy] = resources(template, 'AWS::SNS::TopicPolicy')[0]!;
    expect(topicPolicy.Properties.Topics).toEqual([{ Ref: topicId }]);
    const publish = (topicPolicy.Properties.PolicyDocument.Statement as Record<string, any>[]).filter(
      (statement) => statement.Effect === 'Allow' && statement.Principal?.Service === 'cloudwatch.amazonaws.com',
    );
    expect(publish).toHaveLength(1);
    expect(publish[0]!.Action).toBe('sns:Publish');
    expect(publish[0]!.Condition.StringEquals['aws:SourceAccount']).toBe((await shippedStage(stage)).account);
    expect(JSON.stringify(publish[0]!.Condition.ArnLike['aws:SourceArn'])).toContain(`:alarm:ChatShyld-${stage}-*`);
    const email = (await shippedStage(stage)).alarmEmail;
    expect(resources(template, 'AWS::SNS::Subscription').map(([, s]) => s.Properties.Endpoint)).toEqual(email ? [email] : []);
  });

  it('outputs the API URL, the bucket and the tables', () => {
    const outputs = Object.keys(template.toJSON().Outputs);
    expect(outputs).toEqual(
      expect.arrayContaining(['ApiUrl', 'AvatarsBucketName', 'UsersTableName', 'RefreshTokensTableName', 'RateLimitsTableName']),
    );
  });
});

describe('a KMS key for the stage secrets, in each form kmsKeyId accepts', () => {
  const keyId = '1234abcd-12ab-34cd-56ef-1234567890ab';
  const keyStatement = async (kmsKeyId: string) => {
    const stageConfig = { ...(await shippedStage('dev')), kmsKeyId };
    const template = Template.fromStack((await synthStage('dev', { stageConfig })).stack);
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Record<string, any>[],
    );
    const found = statements.filter((statement) => statement.Sid === 'StageSecretsKey');
    // Every function that reads a secret, and only those.
    expect(found).toHaveLength(routes.filter((route) => route.access.secrets?.length).length);
    return found[0]!;
  };
  const viaSsm = { 'kms:ViaService': 'ssm.eu-west-1.amazonaws.com' };

  it.each([
    ['a key id', keyId],
    ['a key ARN', `arn:aws:kms:eu-west-1:111111111111:key/${keyId}`],
  ])('%s: grants Decrypt on that key', async (_, kmsKeyId) => {
    const statement = await keyStatement(kmsKeyId);
    expect(JSON.stringify(statement.Resource)).toContain(`key/${keyId}`);
    expect(statement.Condition).toEqual({ StringEquals: viaSsm });
  }, 120_000);

  it.each([
    ['an alias', 'alias/chatshyld-dev', 'alias/chatshyld-dev'],
    ['an alias ARN', 'arn:aws:kms:eu-west-1:111111111111:alias/chatshyld-dev', 'alias/chatshyld-dev'],
  ])('%s: grants on the account keys that carry the alias, never on the alias ARN', async (_, kmsKeyId, alias) => {
    const statement = await keyStatement(kmsKeyId);
    const resource = JSON.stringify(statement.Resource);
    expect(resource).toContain(':key/*');
    expect(resource).not.toContain('alias');
    expect(resource).toContain('111111111111');
    expect(statement.Condition).toEqual({ StringEquals: viaSsm, 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [alias] } });
  }, 120_000);

  it.each(['alias/aws/ssm', 'my-key', `arn:aws:kms:eu-west-1:111111111111:${keyId}`])('refuses %s', async (kmsKeyId) => {
    const stageConfig = { ...(await shippedStage('dev')), kmsKeyId };
    await expect(synthStage('dev', { stageConfig })).rejects.toThrow(/kmsKeyId/);
  }, 120_000);
});

describe('cdk-nag AwsSolutions', () => {
  it.each(['dev', 'prod'])('%s: no unacknowledged errors, and every acknowledgment says why', async (stage) => {
    const { app } = await synthStage(stage, { nag: true });
    expect(() => app.synth()).not.toThrow();

    const acknowledgments: { id: string; reason: string }[] = [];
    const visit = (node: IConstruct) => {
      for (const entry of node.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) acknowledgments.push({ id, reason });
      }
      node.node.children.forEach(visit);
    };
    visit(app);
    expect(acknowledgments.length).toBeGreaterThan(0);
    for (const { id, reason } of acknowledgments) {
      expect(id).toMatch(/AwsSolutions-/);
      expect(reason.length, id).toBeGreaterThan(30);
    }
  }, 120_000);

  it('would catch a non-compliant resource added to the stack', async () => {
    const { app, stack } = await synthStage('dev');
    new Bucket(stack, 'CarelessBucket');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
  }, 120_000);
});
