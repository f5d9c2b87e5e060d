import { CloudWatchLogsClient, FilterLogEventsCommand, type FilteredLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { announce, awsError, clientConfig } from '../aws.js';
import { functionLogGroup, functionName } from '../../infra/names.js';
import { routes, type RouteDefinition } from '../../service/manifest.js';
import { exitCodes, operationFailed, usageError } from '../errors.js';
import { parseTimeOption } from '../time-arg.js';
import type { CommandContext } from '../command-context.js';
import { untilSignal } from '../signals.js';
import { deployableStage } from '../stage-target.js';

export interface LogsOptions {
  readonly fn?: string;
  readonly since: string;
  readonly follow?: boolean;
  readonly filter?: string;
}

/** `10m`, `2h`, `1d`, or an ISO date, to epoch ms. */
export function parseSince(value: string, now: number): number {
  return parseTimeOption('--since', value, now, -1);
}

/** `chatshyld logs`: the stage's function logs from CloudWatch, merged in time order. */
export async function logs(options: LogsOptions, context: CommandContext): Promise<number> {
  const { out } = context;
  const target = await deployableStage(context);
  const selected = options.fn ? routes.filter((route) => route.id === options.fn) : routes;
  if (selected.length === 0) {
    throw usageError(`no function "${options.fn}"`, `functions: ${routes.map((route) => route.id).join(', ')}`);
  }
  const region = target.stageConfig.region!;
  const client = new CloudWatchLogsClient(clientConfig(context, region));
  announce(context, `reading the logs of stage ${target.stage} in ${region}`, `stage ${target.stage} (${region})`);
  let since = parseSince(options.since, Date.now());
  const seen = new Set<string>();
  const logGroups = await functionLogGroups(new LambdaClient(clientConfig(context, region)), target.stage, selected, context);

  const fetchOnce = async () => {
    const events: (FilteredLogEvent & { fn: string })[] = [];
    await Promise.all(
      selected.map(async (route) => {
        const logGroupName = logGroups.get(route.id);
        if (!logGroupName) return; // not deployed
        let nextToken: string | undefined;
        do {
          let page;
          try {
            page = await client.send(
              new FilterLogEventsCommand({
                logGroupName,
                startTime: since,
                ...(options.filter && { filterPattern: options.filter }),
                nextToken,
              }),
            );
          } catch (error) {
            if ((error as Error).name === 'ResourceNotFoundException') return; // never invoked yet
            throw awsError(error, context) ?? operationFailed('aws_error', `could not read logs of ${route.id}: ${(error as Error).message}`, 'check your AWS credentials (--profile) and region');
          }
          for (const event of page.events ?? []) {
            if (event.eventId && !seen.has(event.eventId)) {
              seen.add(event.eventId);
              events.push({ ...event, fn: route.id });
            }
          }
          nextToken = page.nextToken;
        } while (nextToken);
      }),
    );
    events.sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0));
    for (const event of events) {
      const time = new Date(event.timestamp ?? 0).toISOString();
      const message = (event.message ?? '').trimEnd();
      if (out.json) context.streams.stdout.write(`${JSON.stringify({ time, fn: event.fn, message })}\n`);
      else out.result(`${time} ${event.fn.padEnd(13)} ${message}`);
      since = Math.max(since, event.timestamp ?? since);
    }
  };

  await fetchOnce();
  if (!options.follow) return exitCodes.ok;
  const stop = untilSignal();
  out.info('following; Ctrl-C stops');
  for (;;) {
    const outcome = await Promise.race([new Promise((resolve) => setTimeout(resolve, 2000)).then(() => 'tick' as const), stop.promise.then(() => 'stop' as const)]);
    if (outcome === 'stop') return exitCodes.ok;
    await fetchOnce();
  }
}

/**
 * Where each function logs: its LoggingConfig names the group (CloudFormation names the stack's log
 * groups, so that a group kept on a protected stage never blocks a new one); a function without one
 * logs to Lambda's default `/aws/lambda/<name>`. A function that is not deployed has no group.
 */
async function functionLogGroups(
  client: LambdaClient,
  stage: string,
  selected: readonly RouteDefinition[],
  context: CommandContext,
): Promise<Map<string, string>> {
  const groups = new Map<string, string>();
  await Promise.all(
    selected.map(async (route) => {
      try {
        const configuration = await client.send(new GetFunctionConfigurationCommand({ FunctionName: functionName(stage, route) }));
        groups.set(route.id, configuration.LoggingConfig?.LogGroup ?? functionLogGroup(stage, route));
      } catch (error) {
        if ((error as Error).name === 'ResourceNotFoundException') return;
        throw awsError(error, context) ?? operationFailed('aws_error', `could not read the function ${functionName(stage, route)}: ${(error as Error).message}`, 'check your AWS credentials (--profile) and region');
      }
    }),
  );
  return groups;
}
