import { getSigningKey } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { AvatarUploadSigner, PresignedUpload } from '../../core/ports.js';
import { avatarBucket, type AvatarState } from '../../manifest.js';
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

export interface PostSignerOptions {
  readonly bucket: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** The S3 endpoint override (`AWS_ENDPOINT_URL_S3`), as the S3 client would take it. */
  readonly endpoint?: string;
  readonly now?: () => Date;
}

/** ISO 8601 in whole seconds, as S3 policies and SigV4 dates are written. */
const wholeSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A bucket name S3 can put in a host name: one DNS label, or (`dots`) several. */
const hostable = (bucket: string, dots: boolean): boolean =>
  dots
    ? bucket.split('.').every((label) => hostable(label, false)) && !/^\d+\.\d+\.\d+\.\d+$/.test(bucket)
    : /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket);

/**
 * The URL a POST upload goes to, where the S3 client would send a PutObject of this bucket:
 * virtual-hosted unless the name cannot be a host name (or the override endpoint is an IP address),
 * then path-style.
 */
export function postUrl(bucket: string, region: string, endpoint?: string): string {
  if (!endpoint) {
    return hostable(bucket, false) ? `https://${bucket}.s3.${region}.amazonaws.com/` : `https://s3.${region}.amazonaws.com/${bucket}`;
  }
  const url = new URL(endpoint);
  const path = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  const ip = /^\d+\.\d+\.\d+\.\d+$/.test(url.hostname) || url.hostname.startsWith('[');
  const virtual = !ip && (hostable(bucket, false) || (url.protocol === 'http:' && hostable(bucket, true)));
  return virtual ? `${url.protocol}//${bucket}.${url.host}${path === '/' ? '/' : path.slice(0, -1)}` : `${url.protocol}//${url.host}${path}${bucket}`;
}

/**
 * Presigned POST uploads (the only presigned form of S3 upload whose policy can bound the size),
 * made with SigV4 alone: the policy and fields `createPresignedPost` makes,
 * signed with the s3/<region>/<date> signing key, without bundling the S3 client into the presign
 * function. A test compares the two field by field.
 */
export class SigV4AvatarUploadSigner implements AvatarUploadSigner {
  constructor(private readonly options: PostSignerOptions) {}

  async presignUpload(key: string, contentType: string, maxBytes: number, expiresInSeconds: number): Promise<PresignedUpload> {
    const { bucket, region } = this.options;
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
    return { url: postUrl(bucket, region, this.options.endpoint), fields: { ...fields, key, Policy: policy, 'X-Amz-Signature': signature } };
  }
}
