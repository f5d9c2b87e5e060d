/**
 * The one place that configures the AWS SDK clients the command line makes: a connect timeout, a
 * request timeout and a bounded number of attempts, so that no command waits forever on a network
 * that accepts a connection and never answers. The environment can change each bound:
 *
 * - `CHATSHYLD_AWS_CONNECT_TIMEOUT_MS` (default 3 000): time to open the TCP/TLS connection
 * - `CHATSHYLD_AWS_REQUEST_TIMEOUT_MS` (default 6 000): time for one request's answer
 * - `CHATSHYLD_AWS_MAX_ATTEMPTS` (default: the SDK's own `AWS_MAX_ATTEMPTS`, else 3): attempts per
 *   call, first try included
 * - `CHATSHYLD_AWS_CREDENTIALS_TIMEOUT_MS` (default 15 000): time to get credentials from their
 *   source (a `credential_process`, SSO, a container credentials endpoint), which the request bounds
 *   above do not cover
 *
 * It also says, in one line, what went wrong when a call fails for a reason a user can cause
 * (no credentials, a missing profile, no network, a timeout), so messages name the real cause.
 */

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentityProvider } from '@smithy/types';

export interface AwsTimeouts {
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxAttempts: number;
  readonly credentialsTimeoutMs: number;
}

export const awsTimeoutVariables = {
  connectTimeoutMs: 'CHATSHYLD_AWS_CONNECT_TIMEOUT_MS',
  requestTimeoutMs: 'CHATSHYLD_AWS_REQUEST_TIMEOUT_MS',
  maxAttempts: 'CHATSHYLD_AWS_MAX_ATTEMPTS',
  credentialsTimeoutMs: 'CHATSHYLD_AWS_CREDENTIALS_TIMEOUT_MS',
} as const;

export const defaultAwsTimeouts: AwsTimeouts = { connectTimeoutMs: 3_000, requestTimeoutMs: 6_000, maxAttempts: 3, credentialsTimeoutMs: 15_000 };

/** The bounds in force: the defaults, each overridden by its variable when that holds a positive integer. */
export function awsTimeouts(env: NodeJS.ProcessEnv = process.env): AwsTimeouts {
  const read = (key: keyof AwsTimeouts) => {
    const value = Number(env[awsTimeoutVariables[key]] ?? (key === 'maxAttempts' ? env.AWS_MAX_ATTEMPTS : undefined));
    return Number.isInteger(value) && value > 0 ? value : defaultAwsTimeouts[key];
  };
  return {
    connectTimeoutMs: read('connectTimeoutMs'),
    requestTimeoutMs: read('requestTimeoutMs'),
    maxAttempts: read('maxAttempts'),
    credentialsTimeoutMs: read('credentialsTimeoutMs'),
  };
}

/** The credential source took longer than its bound (a hung credential_process or endpoint). */
export class CredentialsTimeoutError extends Error {
  override readonly name = 'CredentialsTimeoutError';
}

/**
 * The SDK's own credential chain (environment, profile, SSO, credential_process, container,
 * instance metadata), given up on after `ms`: a `credential_process` that never exits, or a container
 * endpoint that accepts and never answers, would otherwise hold a command forever.
 */
function boundedCredentials(profile: string | undefined, ms: number): AwsCredentialIdentityProvider {
  const chain = defaultProvider(profile ? { profile } : {});
  return (options) => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CredentialsTimeoutError(`the AWS credential source gave nothing within ${ms} ms`)), ms);
    });
    return Promise.race([chain(options), deadline]).finally(() => clearTimeout(timer));
  };
}

/** The config every SDK client of the command line is built with. */
export function awsClientConfig(target: { region?: string; profile?: string }, env: NodeJS.ProcessEnv = process.env) {
  const bounds = awsTimeouts(env);
  return {
    ...(target.region && { region: target.region }),
    ...(target.profile && { profile: target.profile }),
    credentials: boundedCredentials(target.profile, bounds.credentialsTimeoutMs),
    maxAttempts: bounds.maxAttempts,
    requestHandler: {
      connectionTimeout: bounds.connectTimeoutMs,
      requestTimeout: bounds.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  };
}

export type AwsFailureKind = 'credentials' | 'profile' | 'network' | 'timeout' | 'access';

export interface AwsFailure {
  readonly kind: AwsFailureKind;
  /** What failed, in one line. */
  readonly message: string;
  /** What to do next. */
  readonly hint: string;
}

const networkCodes: Record<string, string> = {
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve (DNS unavailable)',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ETIMEDOUT: 'the connection timed out',
};

const credentialErrorNames = new Set([
  'CredentialsProviderError',
  'ExpiredTokenException',
  'ExpiredToken',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'AuthenticationError',
  'TokenProviderError',
]);

const configFile = (env: NodeJS.ProcessEnv) => env.AWS_CONFIG_FILE ?? join(env.HOME ?? homedir(), '.aws', 'config');
const credentialsFile = (env: NodeJS.ProcessEnv) => env.AWS_SHARED_CREDENTIALS_FILE ?? join(env.HOME ?? homedir(), '.aws', 'credentials');

/** Whether the shared config or credentials file has a section for the profile. */
function profileKnown(name: string, env: NodeJS.ProcessEnv): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const section = new RegExp(`^\\s*\\[\\s*(?:profile\\s+)?${escaped}\\s*\\]`, 'm');
  return [configFile(env), credentialsFile(env)].some((path) => {
    try {
      return section.test(readFileSync(path, 'utf8'));
    } catch {
      return false;
    }
  });
}

/** Walks `cause` chains: the SDK and the toolkit wrap the network error that really happened. */
function causes(error: unknown): (Error & { code?: string; hostname?: string; address?: string; port?: number })[] {
  const chain = [];
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 6; depth++) {
    chain.push(current as Error & { code?: string });
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/**
 * Names an AWS failure a user can cause and fix, or undefined for anything else (which is then
 * treated as a bug and keeps its stack). `where` says whose call it was ("stage dev (eu-west-1)").
 */
export function describeAwsFailure(
  error: unknown,
  context: { where?: string; profile?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): AwsFailure | undefined {
  const chain = causes(error);
  const where = context.where ?? 'AWS';
  const profileName = context.profile ?? env.AWS_PROFILE;
  const bounds = awsTimeouts(env);
  const endpoint = env.AWS_ENDPOINT_URL ? ` (AWS_ENDPOINT_URL=${env.AWS_ENDPOINT_URL})` : '';
  for (const err of chain) {
    const text = `${err.name ?? ''} ${err.message ?? ''}`;
    const profile = /profile[^\w]*(?:"|')?([\w.@-]+)(?:"|')? (?:could not be found|not found|does not exist)|could not resolve credentials using profile:? \[?([\w.@-]+)\]?/i.exec(err.message ?? '');
    if (profile) {
      const name = profile[1] ?? profile[2];
      return {
        kind: 'profile',
        message: `AWS profile "${name}" is not in your AWS config (${env.AWS_CONFIG_FILE ?? '~/.aws/config'}) or credentials file`,
        hint: 'check the name with `aws configure list-profiles`, or pass another --profile',
      };
    }
    const code = err.code ?? '';
    if (err.name === 'CredentialsTimeoutError') {
      return {
        kind: 'credentials',
        message: `no AWS credentials for ${where}: their source${profileName ? ` (profile "${profileName}")` : ''} gave none within ${bounds.credentialsTimeoutMs} ms`,
        hint: `check the profile's credential_process or sso settings (or AWS_CONTAINER_CREDENTIALS_FULL_URI), or sign in again; ${awsTimeoutVariables.credentialsTimeoutMs} changes the limit`,
      };
    }
    if (err.name === 'TimeoutError' || /timed? ?out|exceeded the configured \d+ ms/i.test(text)) {
      return {
        kind: 'timeout',
        message: `AWS did not answer for ${where}${endpoint} within ${bounds.requestTimeoutMs} ms (${bounds.maxAttempts} attempts)`,
        hint: `check your network connection, then try again; ${awsTimeoutVariables.requestTimeoutMs} and ${awsTimeoutVariables.connectTimeoutMs} change the limits`,
      };
    }
    if (code in networkCodes) {
      const host = err.hostname ?? err.address;
      return {
        kind: 'network',
        message: `could not reach AWS for ${where}${endpoint}: ${networkCodes[code]}${host ? ` (${host}${err.port ? `:${err.port}` : ''})` : ''}`,
        hint: 'check your network connection (and AWS_ENDPOINT_URL or a proxy, if set), then try again',
      };
    }
    if (err.name === 'CredentialsProviderError' || /could not load credentials|no credentials have been configured|Unable to find a valid credentials/i.test(text)) {
      if (profileName && !profileKnown(profileName, env)) {
        return {
          kind: 'profile',
          message: `AWS profile "${profileName}" is not in ${configFile(env)} or ${credentialsFile(env)}`,
          hint: 'check the name with `aws configure list-profiles`, or pass another --profile',
        };
      }
      return {
        kind: 'credentials',
        message: profileName ? `AWS profile "${profileName}" gave no usable credentials for ${where}: ${err.message}` : `no AWS credentials found for ${where}`,
        hint: 'sign in (aws sso login --profile <name>, then --profile <name> or AWS_PROFILE), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      };
    }
    if (credentialErrorNames.has(err.name) || credentialErrorNames.has(code)) {
      return {
        kind: 'credentials',
        message: `AWS refused the credentials for ${where}: ${err.message}`,
        hint: 'the keys are wrong or expired: sign in again (aws sso login), or use other keys or --profile',
      };
    }
    if (/AccessDenied/.test(err.name) || code === 'AccessDenied') {
      return { kind: 'access', message: `AWS refused access for ${where}: ${err.message}`, hint: 'use a role that is allowed to do this (--profile <name>)' };
    }
  }
  return undefined;
}
