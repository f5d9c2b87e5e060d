/**
 * `ChatShyld-<stage>`: everything one stage runs on, made from the route manifest and the shared
 * table and bucket definitions. The stage's config decides the rest: a protected stage keeps its
 * data (RETAIN, deletion protection, PITR) and cannot be deleted by accident (termination protection).
 */
import { join } from 'node:path';
import { ArnFormat, CfnOutput, CfnResource, Duration, RemovalPolicy, Stack, Tags, Validations, type CfnElement, type StackProps } from 'aws-cdk-lib';
import { CfnStage, CorsHttpMethod, HttpApi, HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  Alarm,
  AlarmRule,
  AlarmState,
  CompositeAlarm,
  MathExpression,
  Metric,
  TreatMissingData,
  type AlarmProps,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, Table, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Architecture, Code, Function as LambdaFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, HttpMethods } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { StageConfig } from '../service/stage.js';
import { avatarBucket, routeEnvironment, routes, tables, userOperationsAccess, type RouteDefinition, type TableId } from '../service/manifest.js';
import { resolveSettings, type SettingsOverrides } from '../service/settings.js';
import { addCheckovSkips, skipCheckov } from './checkov.js';
import { routeStatements, stageKeyGrant, type StageKeyGrant } from './grants.js';
import { functionName, stackName } from './names.js';

export interface ChatShyldStackProps extends StackProps {
  readonly stage: string;
  readonly stageConfig: StageConfig;
  readonly settings: SettingsOverrides;
  readonly version: string;
  /**
   * A protected stage's first create: without termination protection and without the tables'
   * deletion protection, so a create that fails rolls back and can be deployed again (both would
   * make CloudFormation refuse to delete what it made). The deploy then deploys again without it.
   */
  readonly firstCreate?: boolean;
  /** Where `bundleFunctions` wrote one folder per route. */
  readonly bundleDir: string;
}

export { functionName, stackName } from './names.js';

/**
 * Throttles when the config sets none, per route: API Gateway gives every route its own bucket at
 * the stage's default route settings (so nine routes at 50/s may take 450/s together, up to the
 * account's regional limit), and each /auth/* route its own tighter one.
 */
export const defaultThrottles = { rateLimit: 50, burstLimit: 100, authRateLimit: 10, authBurstLimit: 20 };
/** OTP sends in 5 minutes that page someone: a spike is fraud (SMS pumping) or a broken client. */
export const otpSendSpikeThreshold = 300;
/** Functions summed by one Errors or Throttles alarm: half of CloudWatch's 10 metrics per alarm. */
export const functionsPerAlarm = 5;

export class ChatShyldStack extends Stack {
  readonly functions = new Map<string, LambdaFunction>();

  constructor(scope: Construct, id: string, props: ChatShyldStackProps) {
    super(scope, id, { ...props, terminationProtection: Boolean(props.stageConfig.protected) && !props.firstCreate });
    const { stage, stageConfig } = props;
    const retained = Boolean(stageConfig.protected);
    // RetainExceptOnCreate: a protected stage keeps its data on update and delete, but a failed
    // first deploy rolls back cleanly; plain RETAIN would leave named resources behind, and the
    // next deploy would fail with "already exists".
    const removalPolicy = retained ? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE : RemovalPolicy.DESTROY;
    Tags.of(this).add('chatshyld:stage', stage);
    addCheckovSkips(this);

    const tableResources = {} as Record<TableId, ITable>;
    for (const definition of Object.values(tables)) {
      const table = new Table(this, `${definition.logicalName}Table`, {
        partitionKey: { name: definition.partitionKey.name, type: attributeType(definition.partitionKey.type) },
        billingMode: BillingMode.PAY_PER_REQUEST,
        ...(definition.ttlAttribute && { timeToLiveAttribute: definition.ttlAttribute }),
        removalPolicy,
        deletionProtection: retained && !props.firstCreate,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: retained },
      });
      for (const index of definition.indexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: { name: index.partitionKey.name, type: attributeType(index.partitionKey.type) },
          ...(index.sortKey && { sortKey: { name: index.sortKey.name, type: attributeType(index.sortKey.type) } }),
        });
      }
      if (!retained) {
        const reason = 'Point-in-time recovery is for protected stages; this stage holds disposable test data.';
        Validations.of(table).acknowledge({ id: 'AwsSolutions-DDB3', reason });
        skipCheckov(table.node.defaultChild as CfnResource, [{ id: 'CKV_AWS_28', comment: reason }]);
      }
      tableResources[definition.id] = table;
    }

    const bucket = new Bucket(this, 'AvatarsBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      removalPolicy,
      autoDeleteObjects: !retained,
      cors: [
        {
          allowedMethods: [HttpMethods.POST, HttpMethods.GET],
          allowedOrigins: ['*'],
          allowedHeaders: ['*'],
          maxAge: 3000,
        },
      ],
      lifecycleRules: [
        { abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // Every presigned upload is tagged state=pending (its POST policy requires the tag); PATCH
        // re-tags the photo it attaches. So uploads never attached, photos replaced or removed, and
        // uploads into a deleted account expire here.
        {
          id: 'ExpirePendingAvatars',
          tagFilters: { [avatarBucket.stateTag]: 'pending' },
          expiration: Duration.days(avatarBucket.pendingExpirationDays),
        },
      ],
    });
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Avatar objects are reached only through short-lived presigned URLs that the API logs; server access logs would duplicate that.',
    });
    const bucketLogicalId = this.getLogicalId(bucket.node.defaultChild as CfnElement);

    const retention = (stageConfig.logRetentionDays ?? (retained ? 90 : 14)) as RetentionDays;
    const settingsJson = JSON.stringify(props.settings);
    // What the functions will resolve from CHATSHYLD_SETTINGS; it decides their grants too.
    const { allowTestNumbers } = resolveSettings(props.settings);
    const names = {
      stage,
      allowTestNumbers,
      version: props.version,
      settings: settingsJson,
      tableNames: Object.fromEntries(Object.entries(tableResources).map(([id, table]) => [id, table.tableName])) as Record<TableId, string>,
      bucketName: bucket.bucketName,
    };
    const kmsKey = stageConfig.kmsKeyId ? stageKeyGrant(this, stageConfig.kmsKeyId) : undefined;

    const api = new HttpApi(this, 'Api', {
      apiName: stackName(stage),
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: ['*'],
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.PATCH, CorsHttpMethod.DELETE],
        allowHeaders: ['authorization', 'content-type'],
        maxAge: Duration.minutes(10),
      },
    });

    const routeKeys: string[] = [];
    const routeResources: Construct[] = [];
    for (const route of routes) {
      const fn = this.routeFunction(route, { ...props, retention, removalPolicy, names, kmsKey, tableResources, bucketArn: bucket.bucketArn, bucketLogicalId });
      const [created] = api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${route.id}Integration`, fn),
      });
      routeKeys.push(`${route.method} ${route.path}`);
      routeResources.push(created!);
      Validations.of(created!).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: 'Routes authenticate in the handler: public /auth routes by design, bearer JWTs verified with pinned algorithm, issuer and audience elsewhere.',
      });
    }

    const throttles = { ...defaultThrottles, ...stageConfig.throttles };
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention, removalPolicy });
    const apiStage = new CfnStage(this, 'DefaultStage', {
      apiId: api.apiId,
      stageName: '$default',
      autoDeploy: true,
      // A default for each route, not a stage-wide limit: every route throttles on its own.
      defaultRouteSettings: {
        throttlingRateLimit: throttles.rateLimit,
        throttlingBurstLimit: throttles.burstLimit,
        detailedMetricsEnabled: true,
      },
      // HTTP APIs cannot use AWS WAF: per-route throttles are the edge's only brake on /auth/*.
      // (RouteSettings is untyped in CDK, so it takes CloudFormation's own capitalized keys.)
      routeSettings: Object.fromEntries(
        routeKeys
          .filter((key) => key.split(' ')[1]!.startsWith('/auth/'))
          // A route's settings replace the defaults whole: detailed metrics must be named again.
          .map((key) => [
            key,
            { ThrottlingRateLimit: throttles.authRateLimit, ThrottlingBurstLimit: throttles.authBurstLimit, DetailedMetricsEnabled: true },
          ]),
      ),
      accessLogSettings: {
        destinationArn: accessLogs.logGroupArn,
        format: JSON.stringify({
          requestId: '$context.requestId',
          ip: '$context.identity.sourceIp',
          routeKey: '$context.routeKey',
          status: '$context.status',
          latencyMs: '$context.responseLatency',
          integrationError: '$context.integrationErrorMessage',
        }),
      },
    });
    for (const resource of routeResources) apiStage.node.addDependency(resource);

    this.alarms(stage, stageConfig, api, removalPolicy);

    new CfnOutput(this, 'ApiUrl', { value: api.apiEndpoint, description: 'Base URL of the HTTP API' });
    new CfnOutput(this, 'AvatarsBucketName', { value: bucket.bucketName });
    for (const [id, table] of Object.entries(tableResources)) {
      new CfnOutput(this, `${tables[id as TableId].logicalName}TableName`, { value: table.tableName });
    }
    if (stageConfig.onCallPolicy) this.onCallPolicy(stage, tableResources, bucket.bucketArn, bucketLogicalId);
  }

  /**
   * What `chatshyld users` needs, for on-call roles to attach: the grants of `userOperationsAccess`
   * (the same derivation as a route's) and the stack outputs that name the tables and bucket.
   */
  private onCallPolicy(stage: string, tableResources: Record<TableId, ITable>, bucketArn: string, bucketLogicalId: string): void {
    const tableArns = Object.fromEntries(Object.entries(tableResources).map(([id, table]) => [id, table.tableArn])) as Record<TableId, string>;
    const policy = new ManagedPolicy(this, 'OnCallUserOperations', {
      description: `ChatShyld ${stage}: what chatshyld users needs (docs/operations.md)`,
      statements: [
        ...routeStatements(this, { id: 'userOperations', access: userOperationsAccess }, { stage, tableArns, bucketArn, allowTestNumbers: false }),
        new PolicyStatement({ sid: 'StackOutputs', actions: ['cloudformation:DescribeStacks'], resources: [this.stackId] }),
      ],
    });
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/avatar/*]`,
      reason: 'Deleting an account deletes its avatar objects: every key under avatar/ is a per-user UUID the presign route chose.',
    });
    new CfnOutput(this, 'OnCallPolicyArn', { value: policy.managedPolicyArn, description: 'Attach to on-call roles for chatshyld users' });
  }

  private routeFunction(
    route: RouteDefinition,
    inputs: ChatShyldStackProps & {
      retention: RetentionDays;
      removalPolicy: RemovalPolicy;
      names: Parameters<typeof routeEnvironment>[1];
      kmsKey: StageKeyGrant | undefined;
      tableResources: Record<TableId, ITable>;
      bucketArn: string;
      bucketLogicalId: string;
    },
  ): LambdaFunction {
    const name = functionName(inputs.stage, route);
    // No fixed name: a protected stage keeps its log groups when a route or the stack goes, and a
    // kept group would make the next create of that name fail ("already exists"). CloudFormation
    // names it `ChatShyld-<stage>-<routeId>Logs…-<suffix>`; the function's LoggingConfig points at
    // it, which is where `chatshyld logs` and the Lambda console look.
    const logGroup = new LogGroup(this, `${route.id}Logs`, {
      retention: inputs.retention,
      removalPolicy: inputs.removalPolicy,
    });
    // A role of its own with no managed policy: only its log group and its manifest grants.
    const role = new Role(this, `${route.id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(
      new PolicyStatement({
        sid: 'OwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const tableArns = Object.fromEntries(
      Object.entries(inputs.tableResources).map(([id, table]) => [id, table.tableArn]),
    ) as Record<TableId, string>;
    for (const statement of routeStatements(this, route, {
      stage: inputs.stage,
      allowTestNumbers: inputs.names.allowTestNumbers,
      tableArns,
      bucketArn: inputs.bucketArn,
      ...(inputs.kmsKey && { kmsKey: inputs.kmsKey }),
    })) {
      role.addToPolicy(statement);
    }

    const fn = new LambdaFunction(this, `${route.id}Function`, {
      functionName: name,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      handler: 'index.handler',
      code: Code.fromAsset(join(inputs.bundleDir, route.id)),
      memorySize: 512,
      timeout: Duration.seconds(10),
      role,
      logGroup,
      tracing: inputs.stageConfig.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      environment: {
        ...routeEnvironment(route, inputs.names),
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'chatshyld',
        POWERTOOLS_METRICS_NAMESPACE: 'ChatShyld',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      },
      description: `ChatShyld ${inputs.stage}: ${route.method} ${route.path}`,
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the runtime the service is built and tested for (DESIGN §9).',
    });
    Validations.of(role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::<${inputs.bucketLogicalId}.Arn>/avatar/*]`,
        reason: 'Object actions are scoped to the avatar/ prefix, where every key is a per-user UUID the presign route chose.',
      },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray trace writes have no resource-level permissions.' },
    );
    this.functions.set(route.id, fn);
    return fn;
  }

  private alarms(stage: string, stageConfig: StageConfig, api: HttpApi, removalPolicy: RemovalPolicy): void {
    // Alarm names are fixed, so the key policy can name exactly this stage's alarms.
    const alarmNamePrefix = `${stackName(stage)}-`;
    // CloudWatch cannot use the AWS-managed alias/aws/sns key: alarm actions on a topic encrypted
    // with it fail. A key of our own lets cloudwatch.amazonaws.com use it for this stage's alarms only.
    const alarmArns = this.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: `${alarmNamePrefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const fromOurAlarms = { StringEquals: { 'aws:SourceAccount': this.account }, ArnLike: { 'aws:SourceArn': alarmArns } };
    const key = new Key(this, 'AlarmTopicKey', {
      description: `ChatShyld ${stage}: encrypts the alarm topic`,
      enableKeyRotation: true,
      removalPolicy,
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: fromOurAlarms,
      }),
    );
    const topic = new Topic(this, 'AlarmTopic', {
      displayName: `ChatShyld ${stage} alarms`,
      enforceSSL: true,
      masterKey: key,
    });
    // enforceSSL gives the topic a policy of its own, which replaces SNS's default one: without this
    // statement nothing allows CloudWatch to publish, and every alarm action fails ("not authorized
    // to perform: SNS:Publish … because no resource-based policy allows").
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: fromOurAlarms,
      }),
    );
    if (stageConfig.alarmEmail) topic.addSubscription(new EmailSubscription(stageConfig.alarmEmail));
    const action = new SnsAction(topic);
    const period = Duration.minutes(5);
    // No data means no traffic, which is not a failure.
    const quietWhenIdle: Partial<AlarmProps> = { treatMissingData: TreatMissingData.NOT_BREACHING };
    const alarms = [
      new Alarm(this, 'Api5xxAlarm', {
        ...quietWhenIdle,
        alarmName: `${alarmNamePrefix}Api5xx`,
        alarmDescription: 'The API answered 5xx: a handler failed or a dependency is down.',
        metric: api.metricServerError({ period, statistic: 'Sum' }),
        threshold: 5,
        evaluationPeriods: 1,
      }),
      this.everyFunctionAlarm('Errors', `${alarmNamePrefix}FunctionErrors`, 'A function invocation failed.', quietWhenIdle),
      this.everyFunctionAlarm('Throttles', `${alarmNamePrefix}FunctionThrottles`, 'Lambda throttled invocations: concurrency is exhausted.', quietWhenIdle),
      new Alarm(this, 'OtpSendSpikeAlarm', {
        ...quietWhenIdle,
        alarmName: `${alarmNamePrefix}OtpSendSpike`,
        alarmDescription: 'Unusually many OTP sends: SMS pumping fraud, or a client stuck in a loop.',
        metric: new Metric({
          namespace: 'ChatShyld',
          metricName: 'OtpSent',
          dimensionsMap: { service: 'chatshyld', stage },
          statistic: 'Sum',
          period,
        }),
        threshold: otpSendSpikeThreshold,
        evaluationPeriods: 1,
      }),
    ];
    for (const alarm of alarms) alarm.addAlarmAction(action);
  }

  /**
   * One alarm over a Lambda metric of every function. A metric-math alarm may use at most 10
   * metrics, so the functions are summed in groups of `functionsPerAlarm` (alarms without actions),
   * and a composite alarm that fires when any group does is the one that notifies. A new route adds
   * to a group, or adds a group; no expression grows past the limit.
   */
  private everyFunctionAlarm(metric: 'Errors' | 'Throttles', name: string, description: string, props: Partial<AlarmProps>): CompositeAlarm {
    const period = Duration.minutes(5);
    const functions = [...this.functions];
    const groups: Alarm[] = [];
    for (let start = 0; start < functions.length; start += functionsPerAlarm) {
      const group = functions.slice(start, start + functionsPerAlarm);
      const number = groups.length + 1;
      groups.push(
        new Alarm(this, `Function${metric}Alarm${number}`, {
          ...props,
          alarmName: `${name}-${number}`,
          alarmDescription: `${description} (functions ${group.map(([id]) => id).join(', ')})`,
          metric: new MathExpression({
            label: `${metric} of ${group.length} functions`,
            expression: group.map(([id]) => `m${id}`).join(' + '),
            usingMetrics: Object.fromEntries(group.map(([id, fn]) => [`m${id}`, fn.metric(metric, { statistic: 'Sum', period })])),
            period,
          }),
          threshold: 1,
          evaluationPeriods: 1,
        }),
      );
    }
    return new CompositeAlarm(this, `Function${metric}Alarm`, {
      compositeAlarmName: name,
      alarmDescription: description,
      alarmRule: AlarmRule.anyOf(...groups.map((alarm) => AlarmRule.fromAlarm(alarm, AlarmState.ALARM))),
    });
  }
}

function attributeType(type: 'S' | 'N'): AttributeType {
  return type === 'S' ? AttributeType.STRING : AttributeType.NUMBER;
}
