import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { S3AvatarUploadSigner } from '../../adapters/s3/upload-signer.js';
import { avatarBucket } from '../../manifest.js';
import { avatarUploadSigner } from './s3-uploads.js';

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
