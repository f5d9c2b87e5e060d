import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MisconfigurationError } from '../../core/errors.js';
import { avatarBucket } from '../../manifest.js';
import { avatarUrlSigner } from './s3-urls.js';
import { cases, credentials, key, stubCase, stubCleanS3Environment } from './testing/s3-environments.js';

const sessionToken = 'IQoJb3JpZ2luX2VjEXAMPLE/session+token==';
const signingDate = new Date('2026-11-25T12:34:56Z');
const expiresIn = 300;

/** What the S3 client's presigner makes for a GetObject of the bucket in this environment, or why it cannot. */
async function presignedGet(region: string, bucket: string): Promise<string | Error> {
  // The client's default checksum features would add x-amz-checksum-mode to the query; a presigned
  // GET does without it, so the reference turns them off (as in url-signer.test.ts).
  const client = new S3Client({
    region,
    credentials: { ...credentials, sessionToken },
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  try {
    return await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn });
  } catch (error) {
    return error as Error;
  } finally {
    client.destroy();
  }
}

/** The URL without the parameters that change with the time of signing, its query sorted. */
const untimed = (url: string) => {
  const parsed = new URL(url);
  const query = [...parsed.searchParams].filter(([name]) => !['X-Amz-Date', 'X-Amz-Signature', 'X-Amz-Credential'].includes(name));
  return { origin: parsed.origin, path: parsed.pathname, query: query.sort(([a], [b]) => a.localeCompare(b)) };
};

describe('the photoUrl GET URL, against what the S3 presigner makes for a GetObject of the bucket', () => {
  beforeEach(() => {
    stubCleanS3Environment();
    vi.stubEnv('AWS_SESSION_TOKEN', sessionToken);
    // One clock for both signers, so their signatures must be equal too.
    vi.useFakeTimers({ now: signingDate, toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllEnvs();
  });

  it.each(cases)('%s, bucket %s, %o', async (region, bucket, settings) => {
    stubCase(avatarBucket.env, region, bucket, settings);
    const theirs = await presignedGet(region, bucket);
    if (theirs instanceof Error) {
      // The client would fail every S3 call of this environment: the signer fails when it is made.
      expect(() => avatarUrlSigner(), theirs.message).toThrow(MisconfigurationError);
      return;
    }
    const ours = await avatarUrlSigner().downloadUrl(key, expiresIn);
    expect(untimed(ours)).toEqual(untimed(theirs));
    // The credential scope (date, region) and the signature over it all.
    const signed = (url: string) => ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Signature'].map((name) => new URL(url).searchParams.get(name));
    expect(signed(ours)).toEqual(signed(theirs));
    // Not just equal after parsing: the very same text, as a browser would fetch it.
    expect(ours).toBe(theirs);
  });
});
