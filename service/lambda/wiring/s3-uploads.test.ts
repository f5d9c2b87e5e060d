import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { HttpRequest } from '@smithy/types';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { S3AvatarUploadSigner } from '../../adapters/s3/upload-signer.js';
import { MisconfigurationError } from '../../core/errors.js';
import { avatarBucket } from '../../manifest.js';
import { avatarUploadSigner } from './s3-uploads.js';
import { cases, credentials, key, stubCase, stubCleanS3Environment } from './testing/s3-environments.js';

describe('the presignAvatar upload signer', () => {
  afterEach(() => vi.unstubAllEnvs());

  it.each([
    [{}],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }],
    [{ AWS_ENDPOINT_URL: 'https://s3.example.test:8443' }],
    [{ AWS_ENDPOINT_URL: 'https://other.example.test', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }],
    [{ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }],
  ])('posts where the S3 client of the same environment would (%o)', async (endpoints: Record<string, string>) => {
    const env = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', [avatarBucket.env]: 'chatshyld-dev-avatars', ...endpoints };
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    const ours = await avatarUploadSigner().presignUpload('avatar/u/a.png', 'image/png', 1024, 60);
    const client = new S3Client({});
    const theirs = await new S3AvatarUploadSigner(client, 'chatshyld-dev-avatars').presignUpload('avatar/u/a.png', 'image/png', 1024, 60);
    client.destroy();
    expect(ours.url).toBe(theirs.url);
    expect(ours.fields['X-Amz-Credential']).toBe(theirs.fields['X-Amz-Credential']);
  });
});

/** Where the S3 client sends a PutObject: the request its handler is given, which sends nothing. */
async function putObjectTarget(region: string, bucket: string): Promise<{ url: string; scope: string } | Error> {
  let sent: HttpRequest | undefined;
  const handler = {
    handle: async (request: HttpRequest) => {
      sent = request;
      throw new Error('not sent');
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({}),
  };
  const client = new S3Client({ region, credentials, maxAttempts: 1, requestHandler: handler });
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    throw new Error('the request handler did not run');
  } catch (error) {
    if (!sent) return error as Error;
    // The credential scope after the key id and date: region/s3/aws4_request, what S3 checks a signature for.
    const scope = /Credential=[^/]+\/\d{8}\/([^,]+)/.exec(String(sent.headers.authorization))?.[1] ?? '';
    return { url: `${sent.protocol}//${sent.hostname}${sent.port ? `:${sent.port}` : ''}${sent.path}`, scope };
  } finally {
    client.destroy();
  }
}

/** The object URL of a POST target, joined as the S3 client joins an endpoint's path and a key (a bare `/` drops). */
const objectUrl = (postUrl: string) => {
  const url = new URL(postUrl);
  return `${url.origin}${url.pathname === '/' ? '' : url.pathname}/${key}`;
};

describe('the presignAvatar upload URL, against where the S3 client sends a PutObject of the bucket', () => {
  beforeEach(() => {
    stubCleanS3Environment();
  });
  afterEach(() => vi.unstubAllEnvs());

  it.each(cases)('%s, bucket %s, %o', async (region, bucket, settings) => {
    stubCase(avatarBucket.env, region, bucket, settings);
    const theirs = await putObjectTarget(region, bucket);
    if (theirs instanceof Error) {
      // The client would fail every S3 call of this environment: the signer fails when it is made.
      expect(() => avatarUploadSigner(), theirs.message).toThrow(MisconfigurationError);
      return;
    }
    const { url, fields } = await avatarUploadSigner().presignUpload(key, 'image/png', 1024, 60);
    expect(objectUrl(url)).toBe(theirs.url);
    // Signed for the region the S3 client signs this bucket's requests for (us-east-1 for aws-global).
    expect(fields['X-Amz-Credential']!.split('/').slice(2).join('/')).toBe(theirs.scope);
    // The form a presigned POST of the S3 client's own presigner has, field for field.
    const client = new S3Client({ region, credentials });
    const reference = await new S3AvatarUploadSigner(client, bucket).presignUpload(key, 'image/png', 1024, 60);
    client.destroy();
    expect(url).toBe(reference.url);
    // createPresignedPost signs aws-global as a region of its own, which S3 would refuse.
    if (region !== 'aws-global') expect(fields['X-Amz-Credential']).toBe(reference.fields['X-Amz-Credential']);
  });
});
