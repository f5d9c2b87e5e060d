/**
 * What the sandbox's functions reach instead of AWS and Twilio: a front per service, each on
 * 127.0.0.1, holding every function to its route's grants (read from the session token its
 * credentials carry). Their endpoints are what the functions' environment points the SDK at.
 */
import type { SandboxOtpSender } from '../adapters/otp/outbox.js';
import type { Clock } from '../core/ports.js';
import { routes } from '../manifest.js';
import type { Emulators } from './emulators.js';
import { emulatorCredentials } from './emulators.js';
import type { OnFrontCall } from './fronts/front-call.js';
import { startDynamoFront } from './fronts/dynamo-front.js';
import { startSsmFront } from './fronts/ssm-front.js';
import { startTwilioFront } from './fronts/twilio-front.js';
import { startS3Front } from './s3-front.js';
import type { FunctionEndpoints } from './functions.js';

export interface FunctionFrontsOptions {
  readonly emulators: Emulators;
  readonly secretsPath: string;
  readonly outbox: SandboxOtpSender;
  readonly clock: Clock;
  readonly onCall?: OnFrontCall;
}

export interface FunctionFronts {
  readonly endpoints: FunctionEndpoints;
  close(): Promise<void>;
}

export async function startFunctionFronts(options: FunctionFrontsOptions): Promise<FunctionFronts> {
  const { emulators, onCall } = options;
  const started: { close(): Promise<void> }[] = [];
  const close = async () => {
    await Promise.all(started.map((front) => front.close()));
  };
  try {
    const s3 = await startS3Front({
      target: emulators.s3Endpoint,
      secrets: { [emulatorCredentials.accessKeyId]: emulatorCredentials.secretAccessKey },
      clock: options.clock,
      ...(onCall && { onCall }),
    });
    started.push(s3);
    const dynamodb = await startDynamoFront({ target: emulators.dynamoEndpoint, tableNames: emulators.tableNames, routes, ...(onCall && { onCall }) });
    started.push(dynamodb);
    const ssm = await startSsmFront({ secretsPath: options.secretsPath, stage: 'local', routes, ...(onCall && { onCall }) });
    started.push(ssm);
    const twilio = await startTwilioFront({ sender: options.outbox, secretsPath: options.secretsPath, clock: options.clock, ...(onCall && { onCall }) });
    started.push(twilio);
    return {
      endpoints: { dynamodb: dynamodb.endpoint, s3: s3.endpoint, ssm: ssm.endpoint, twilio: twilio.endpoint },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
