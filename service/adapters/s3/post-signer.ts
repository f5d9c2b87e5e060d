import { getSigningKey } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { isIpAddress, isVirtualHostableS3Bucket, partition } from '@aws-sdk/core/client';
import { isValidHostLabel } from '@smithy/core/endpoints';
import { MisconfigurationError } from '../../core/errors.js';
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

/** Where the S3 client would send this bucket's requests, as the environment configures it. */
export interface S3EndpointSettings {
  /** The endpoint override (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`), as the S3 client would take it. */
  readonly endpoint?: string;
  /** `AWS_USE_FIPS_ENDPOINT`: the FIPS endpoints, `s3-fips.<region>`. */
  readonly useFipsEndpoint?: boolean;
  /** `AWS_USE_DUALSTACK_ENDPOINT`: the IPv4-and-IPv6 endpoints, `s3.dualstack.<region>`. */
  readonly useDualstackEndpoint?: boolean;
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
 * The region the S3 client signs for and puts in host names, and whether the name asks for FIPS:
 * it reads `fips-<region>` and `<region>-fips` as `<region>` with FIPS on.
 */
function s3Region(region: string): { region: string; fips: boolean } {
  const fips = region.startsWith('fips-') || region.endsWith('-fips');
  const real = !fips ? region : ['fips-aws-global', 'aws-fips'].includes(region) ? 'us-east-1' : region.replace(/fips-(dkr-|prod-)?|-fips/, '');
  if (!isValidHostLabel(real)) throw new MisconfigurationError(`region ${JSON.stringify(region)} is not a valid host name label`);
  return { region: real, fips };
}

/**
 * The URL a POST upload goes to: where the S3 client would send a PutObject of this bucket (the
 * S3 endpoint rules for a bucket name that is neither an ARN nor an S3 Express name). Virtual-hosted
 * unless the name cannot be a host name (or the override endpoint is an IP address), then
 * path-style; the host from the region's partition, with FIPS and dual-stack as set. Throws where
 * the S3 client would fail every call: FIPS or dual-stack with an override endpoint, FIPS in China,
 * an endpoint that is not an http(s) URL, a region that cannot be a host name.
 */
export function postUrl(bucket: string, region: string, settings: S3EndpointSettings = {}): string {
  const named = s3Region(region);
  const fips = named.fips || settings.useFipsEndpoint === true;
  const dualstack = settings.useDualstackEndpoint === true;
  // The S3 client addresses by path a name that is no DNS name, has capitals, or has dots
  // (unless the endpoint is plain http, where no certificate has to match).
  const http = settings.endpoint !== undefined && /^http:/i.test(settings.endpoint);
  const byPath =
    !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || /(\d+\.){3}\d+/.test(bucket) || bucket.includes('..') || (bucket.includes('.') && !http);
  const pathStyle = (base: string) => `${base}${encodeURIComponent(bucket).replace(/[!*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
  const checked = (url: string) => {
    try {
      return new URL(url).href;
    } catch (cause) {
      throw new MisconfigurationError(`the S3 upload URL ${url} is not a valid URL`, { cause });
    }
  };

  if (settings.endpoint !== undefined) {
    if (fips) throw new MisconfigurationError('AWS_USE_FIPS_ENDPOINT (or a FIPS region) cannot be combined with an S3 endpoint override, as the S3 client refuses it');
    if (dualstack) throw new MisconfigurationError('AWS_USE_DUALSTACK_ENDPOINT cannot be combined with an S3 endpoint override, as the S3 client refuses it');
    let url: URL;
    try {
      url = new URL(settings.endpoint);
    } catch (cause) {
      throw new MisconfigurationError(`the S3 endpoint override ${JSON.stringify(settings.endpoint)} is not a URL`, { cause });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new MisconfigurationError(`the S3 endpoint override ${JSON.stringify(settings.endpoint)} is not an http or https URL`);
    }
    // The rules' order: a one-label name is virtual-hosted unless the endpoint is an IP address; a
    // dotted one only over http (then even on an IP address, where the S3 client's URL is invalid).
    const virtual =
      !byPath &&
      (isVirtualHostableS3Bucket(bucket, false) ? !isIpAddress(url.hostname) : url.protocol === 'http:' && isVirtualHostableS3Bucket(bucket, true));
    return virtual
      ? checked(`${url.protocol}//${bucket}.${url.host}${url.pathname}`)
      : checked(pathStyle(`${url.protocol}//${url.host}${url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`}`));
  }

  const { dnsSuffix, name } = partition(named.region);
  if (fips && name === 'aws-cn') throw new MisconfigurationError(`S3 has no FIPS endpoints in ${named.region} (AWS_USE_FIPS_ENDPOINT)`);
  // `aws-global` is the global endpoint, unless FIPS or dual-stack ask for us-east-1's.
  const hostRegion = named.region === 'aws-global' ? (fips || dualstack ? '.us-east-1' : '') : `.${named.region}`;
  const host = `s3${fips ? '-fips' : ''}${dualstack ? '.dualstack' : ''}${hostRegion}.${dnsSuffix}`;
  return checked(!byPath && isVirtualHostableS3Bucket(bucket, false) ? `https://${bucket}.${host}/` : pathStyle(`https://${host}/`));
}

/**
 * Presigned POST uploads (the only presigned form of S3 upload whose policy can bound the size),
 * made with SigV4 alone: the policy and fields `createPresignedPost` makes,
 * signed with the s3/<region>/<date> signing key, without bundling the S3 client into the presign
 * function. A test compares the two field by field.
 */
export class SigV4AvatarUploadSigner implements AvatarUploadSigner {
  /** Where every upload goes, worked out when the signer is made, so a setting S3 refuses fails at start. */
  private readonly url: string;
  /** The region of the credential scope: the S3 client's, a FIPS region name read as its region. */
  private readonly region: string;

  constructor(private readonly options: PostSignerOptions) {
    this.url = postUrl(options.bucket, options.region, options);
    this.region = s3Region(options.region).region;
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
