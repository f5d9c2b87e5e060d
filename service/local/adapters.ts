import { DynamoOtpChallengeStore, DynamoRateLimiter } from '../adapters/dynamodb/rate-limits.js';
import { DynamoRefreshTokenStore } from '../adapters/dynamodb/refresh-tokens.js';
import { DynamoUserStore } from '../adapters/dynamodb/users.js';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3AvatarStore } from '../adapters/s3/avatars.js';
import { S3AvatarUploadSigner } from '../adapters/s3/upload-signer.js';
import { FileSecretSource } from '../adapters/secrets/file.js';
import type { Adapters } from '../composition.js';
import type { Clock, Log, Metrics, OtpSender } from '../core/ports.js';
import type { ServiceSettings } from '../settings.js';
import type { Emulators } from './emulators.js';

export interface LocalAdapterOptions {
  readonly emulators: Emulators;
  readonly secretsPath: string;
  readonly otpSender: OtpSender;
  readonly settings: ServiceSettings;
  readonly clock: Clock;
  readonly log: Log;
  readonly metrics: Metrics;
  readonly stage?: string;
  readonly version?: string;
  /** The S3 client the avatar adapters use (the sandbox passes one per route, through its S3 front). */
  readonly s3?: S3Client;
  /** The DynamoDB client the stores use (the sandbox and the harness pass one per route, held to its grants). */
  readonly dynamo?: DynamoDBClient;
}

/** The adapters of a deployed stage, pointed at the emulators and the local secrets file. */
export function localAdapters(options: LocalAdapterOptions): Adapters {
  const { emulators, clock, settings } = options;
  const s3 = options.s3 ?? emulators.s3;
  const dynamo = options.dynamo ?? emulators.dynamo;
  return {
    stage: options.stage ?? 'local',
    version: options.version ?? 'local',
    settings,
    clock,
    log: options.log,
    metrics: options.metrics,
    secrets: () => new FileSecretSource(options.secretsPath, clock, settings.secretsCacheSeconds),
    userStore: () => new DynamoUserStore(dynamo, emulators.tableNames.users),
    refreshTokenStore: () => new DynamoRefreshTokenStore(dynamo, emulators.tableNames.refreshTokens),
    rateLimiter: () => new DynamoRateLimiter(dynamo, emulators.tableNames.rateLimits, clock),
    otpChallenges: () => new DynamoOtpChallengeStore(dynamo, emulators.tableNames.rateLimits),
    otpSender: () => options.otpSender,
    avatarStore: () => new S3AvatarStore(s3, emulators.bucket),
    // s3rver is path-style on loopback: the S3 client's presigner signs for it.
    avatarUrlSigner: () => new S3AvatarStore(s3, emulators.bucket),
    avatarUploadSigner: () => new S3AvatarUploadSigner(s3, emulators.bucket),
  };
}
