/**
 * The JSON Schema of `chatshyld.config.json`. The CLI validates with it; `chatshyld.config.schema.json`
 * at the repo root is this object written out for editors (a test keeps the two equal; regenerate with
 * `npm run schema`).
 */

import { avatarUrlBounds } from '../service/settings.js';

const windowLimit = {
  type: 'object',
  additionalProperties: false,
  required: ['limit', 'windowSeconds'],
  properties: {
    limit: { type: 'integer', minimum: 1, description: 'How many hits a window allows.' },
    windowSeconds: { type: 'integer', minimum: 1, description: 'Window length; it opens at the first hit.' },
  },
} as const;

export const stageNamePattern = '^[a-z][a-z0-9-]{0,15}$';

export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://chatshyld.dev/schemas/chatshyld.config.json',
  title: 'ChatShyld project configuration',
  type: 'object',
  additionalProperties: false,
  required: ['project', 'stages'],
  properties: {
    $schema: { type: 'string' },
    project: {
      type: 'string',
      pattern: '^[a-z][a-z0-9-]{0,30}$',
      description: 'Project name; prefixes stack and resource names.',
    },
    stages: {
      type: 'object',
      description: 'One entry per stage. The stage "local" is the sandbox and needs no AWS fields.',
      propertyNames: { pattern: stageNamePattern },
      additionalProperties: { $ref: '#/definitions/stage' },
    },
  },
  definitions: {
    stage: {
      type: 'object',
      additionalProperties: false,
      properties: {
        account: { type: 'string', pattern: '^\\d{12}$', description: 'AWS account id, 12 digits.' },
        region: {
          type: 'string',
          pattern: '^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\\d$',
          description: 'AWS region, for example eu-west-1.',
        },
        protected: {
          type: 'boolean',
          description: 'Prod-like: no destroy, no hotswap, confirmation before deploy, RETAIN data, PITR.',
        },
        allowTestNumbers: {
          type: 'boolean',
          description: 'Honour the test-numbers secret. Defaults to false on protected stages, true elsewhere.',
        },
        limits: {
          type: 'object',
          additionalProperties: false,
          properties: {
            sendOtpPhoneCooldown: windowLimit,
            sendOtpPhoneHourly: windowLimit,
            sendOtpPhoneIp: windowLimit,
            sendOtpIp: windowLimit,
            verifyOtpFailures: windowLimit,
            verifyOtpIp: windowLimit,
            refreshIp: windowLimit,
            logoutIp: windowLimit,
            presignUser: windowLimit,
          },
        },
        tokens: {
          type: 'object',
          additionalProperties: false,
          properties: {
            accessTokenTtlSeconds: { type: 'integer', minimum: 60, maximum: 3600 },
            refreshTokenTtlDays: { type: 'integer', minimum: 1, maximum: 365 },
            refreshFamilyTtlDays: { type: 'integer', minimum: 1, maximum: 730 },
          },
        },
        avatar: {
          type: 'object',
          additionalProperties: false,
          properties: {
            uploadExpiresSeconds: {
              type: 'integer',
              minimum: avatarUrlBounds.uploadExpiresSeconds.min,
              maximum: avatarUrlBounds.uploadExpiresSeconds.max,
              description: 'Lifetime of a presigned avatar upload form (default 300).',
            },
            downloadExpiresSeconds: {
              type: 'integer',
              minimum: avatarUrlBounds.downloadExpiresSeconds.min,
              maximum: avatarUrlBounds.downloadExpiresSeconds.max,
              description:
                "Lifetime of a photo URL (default 300). At most an hour: S3 refuses a URL once the signing function's session credentials expire, whatever its expiry says.",
            },
          },
        },
        kmsKeyId: {
          type: 'string',
          minLength: 1,
          description: "KMS key (id, ARN or alias) encrypting the stage's SecureString secrets; default aws/ssm.",
        },
        secretsCacheSeconds: {
          type: 'integer',
          minimum: 1,
          maximum: 3600,
          description: 'How long functions cache secret values before reading them again.',
        },
        logRetentionDays: {
          enum: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
          description: 'CloudWatch Logs retention of every function.',
        },
        alarmEmail: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$', description: 'Where alarms are sent.' },
        tracing: { type: 'boolean', description: 'X-Ray tracing of the functions.' },
        onCallPolicy: {
          type: 'boolean',
          description: 'Add a managed policy with exactly what `chatshyld users` needs, to attach to on-call roles (output OnCallPolicyArn). Default false.',
        },
        throttles: {
          type: 'object',
          additionalProperties: false,
          properties: {
            rateLimit: {
              type: 'number',
              minimum: 1,
              description: 'Requests per second of each route outside /auth/*: a default per route, each with its own bucket, not a limit on the whole stage.',
            },
            burstLimit: { type: 'integer', minimum: 1, description: 'Burst of each route outside /auth/*, per route.' },
            authRateLimit: { type: 'number', minimum: 1, description: 'Requests per second of each /auth/* route, per route.' },
            authBurstLimit: { type: 'integer', minimum: 1, description: 'Burst of each /auth/* route, per route.' },
          },
        },
      },
    },
  },
} as const;
