import { getSigningKey } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { AvatarUploadSigner, PresignedUpload } from '../../core/ports.js';
import { avatarBucket, type AvatarState } from '../../manifest.js';
import { bucketUrl, s3SigningRegion, type S3EndpointSettings } from './s3-endpoints.js';
import { NodeSha256 } from './url-signer.js';

/** The `tagging` form field of a POST upload: S3 takes the tag set as an XML Tagging document. */
export function stateTagging(state: AvatarState): string {
  return `<Tagging><TagSet><Tag><Key>${avatarBucket.stateTag}</Key><Value>${state}</Value></Tag></TagSet></Tagging>`;
}

/**
 * What an avatar upload's policy holds besides the bucket, the key and the signature fields: the
 * size range, the Content-Type, and the fields the form must carry exactly as signed (so the
 * upload carries `state=pending`, and the lifecycle rule expires it unless PATCH attaches it).
 * Both upload signers sign these terms.
 */
export function avatarUploadTerms(contentType: string, maxBytes: number) {
  return {
    conditions: [
      ['content-length-range', 1, maxBytes] as ['content-length-range', number, number],
      ['eq', '$Content-Type', contentType] as ['eq', string, string],
    ],
    fields: { 'Content-Type': contentType, tagging: stateTagging('pending') } as Record<string, string>,
  };
}

export interface PostSignerOptions extends S3EndpointSettings {
  readonly bucket: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly now?: () => Date;
}

/** ISO 8601 in whole seconds, as S3 policies and SigV4 dates are written. */
const wholeSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Presigned POST uploads (the only presigned form of S3 upload whose policy can bound the size),
 * made with SigV4 alone: the policy and fields `createPresignedPost` makes,
 * signed with the s3/<region>/<date> signing key, without bundling the S3 client into the presign
 * function. A test compares the two field by field.
 */
export class SigV4AvatarUploadSigner implements AvatarUploadSigner {
  /**
   * Where every upload goes: the bucket's URL, where the S3 client would send a PutObject of it
   * (without the key). Worked out when the signer is made, so a setting S3 refuses fails at start.
   */
  private readonly url: string;
  /** The region of the credential scope: the one the S3 client signs for (a FIPS region name read as its region, us-east-1 for aws-global). */
  private readonly region: string;

  constructor(private readonly options: PostSignerOptions) {
    this.url = bucketUrl(options.bucket, options.region, options);
    this.region = s3SigningRegion(options.region);
  }

  async presignUpload(key: string, contentType: string, maxBytes: number, expiresInSeconds: number): Promise<PresignedUpload> {
    const { bucket } = this.options;
    const region = this.region;
    const credentials = typeof this.options.credentials === 'function' ? await this.options.credentials() : this.options.credentials;
    const now = this.options.now?.() ?? new Date();
    const amzDate = wholeSeconds(now).replace(/[-:]/g, '');
    const shortDate = amzDate.slice(0, 8);
    const terms = avatarUploadTerms(contentType, maxBytes);
    const fields: Record<string, string> = {
      ...terms.fields,
      bucket,
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': `${credentials.accessKeyId}/${shortDate}/${region}/s3/aws4_request`,
      'X-Amz-Date': amzDate,
      ...(credentials.sessionToken && { 'X-Amz-Security-Token': credentials.sessionToken }),
    };
    // Conditions in createPresignedPost's order: the terms, one exact match per field, the key.
    const policy = Buffer.from(
      JSON.stringify({
        expiration: wholeSeconds(new Date(now.getTime() + expiresInSeconds * 1000)),
        conditions: [...terms.conditions, ...Object.entries(fields).map(([name, value]) => ({ [name]: value })), { key }],
      }),
      'utf8',
    ).toString('base64');
    const hmac = new NodeSha256(await getSigningKey(NodeSha256, credentials, shortDate, region, 's3'));
    hmac.update(policy);
    const signature = Buffer.from(await hmac.digest()).toString('hex');
    return { url: this.url, fields: { ...fields, key, Policy: policy, 'X-Amz-Signature': signature } };
  }
}
