/**
 * Makes a stage's functions read their secrets afresh now, instead of within the cache max age, by
 * touching their configuration (as SST v2 does): Lambda then starts new execution environments, whose
 * caches are empty.
 */
import {
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionUpdatedV2,
  type LambdaClient,
} from '@aws-sdk/client-lambda';

import { functionPrefix } from '../stage.js';

export async function restartStageFunctions(
  client: LambdaClient,
  stage: string,
  progress: (message: string) => void = () => {},
): Promise<string[]> {
  const names: string[] = [];
  let Marker: string | undefined;
  do {
    const page = await client.send(new ListFunctionsCommand({ Marker }));
    for (const fn of page.Functions ?? []) {
      if (fn.FunctionName?.startsWith(functionPrefix(stage))) names.push(fn.FunctionName);
    }
    Marker = page.NextMarker;
  } while (Marker);
  if (names.length === 0) throw new Error(`no functions named ${functionPrefix(stage)}* in this account and region`);

  await Promise.all(
    names.map(async (FunctionName) => {
      const { Environment } = await client.send(new GetFunctionConfigurationCommand({ FunctionName }));
      await client.send(
        new UpdateFunctionConfigurationCommand({
          FunctionName,
          Environment: { Variables: { ...Environment?.Variables, CHATSHYLD_SECRETS_RELOADED_AT: new Date().toISOString() } },
        }),
      );
      await waitUntilFunctionUpdatedV2({ client, maxWaitTime: 300, minDelay: 1 }, { FunctionName });
      progress(`restarted ${FunctionName}`);
    }),
  );
  return names;
}
