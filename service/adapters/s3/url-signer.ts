import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, SourceData } from '@smithy/types';
import type { AvatarUrlSigner } from '../../core/ports.js';
import { bucketUrl, objectLocation, s3SigningRegion, uriEscape, type S3EndpointSettings } from './s3-endpoints.js';

/** SHA-256 (or its HMAC, given a secret) in the shape SignatureV4 wants, from node:crypto. */
export class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string' || data instanceof Uint8Array) return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

export interface UrlSignerOptions extends S3EndpointSettings {
  readonly bucket: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly now?: () => Date;
}

/**
 * Presigned GETs of avatar objects, made with SigV4 alone: the same URL the S3 client's presigner
 * makes (`x-id=GetObject`, unsigned payload) for the same environment, at the host and path where
 * the S3 client would send the GetObject (`bucketUrl`'s rules), without bundling the S3 client into
 * functions that only need `photoUrl`. A test compares the two byte for byte.
 */
export class SigV4AvatarUrlSigner implements AvatarUrlSigner {
  private readonly signer: SignatureV4;
  /** The bucket's URL, worked out when the signer is made, so a setting S3 refuses fails at start. */
  private readonly bucketUrl: string;

  constructor(private readonly options: UrlSignerOptions) {
    this.bucketUrl = bucketUrl(options.bucket, options.region, options);
    this.signer = new SignatureV4({
      service: 's3',
      // The credential scope's region is the presigner's: a FIPS region name read as its region, aws-global as us-east-1.
      region: s3SigningRegion(options.region),
      credentials: options.credentials,
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
  }

  async downloadUrl(key: string, expiresInSeconds: number): Promise<string> {
    const { protocol, hostname, port, path } = objectLocation(this.bucketUrl, key);
    // The Host header as the S3 client writes it: the port only when the URL names one.
    const host = port === undefined ? hostname : `${hostname}:${port}`;
    const signed = await this.signer.presign(
      {
        method: 'GET',
        protocol,
        hostname,
        port,
        path,
        query: { 'x-id': 'GetObject' },
        headers: { host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' },
      },
      {
        expiresIn: expiresInSeconds,
        unsignableHeaders: new Set(['content-type']),
        ...(this.options.now && { signingDate: this.options.now() }),
      },
    );
    // The parameters in code-unit order, as the S3 client's presigner writes them.
    const query = Object.entries(signed.query ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `${uriEscape(name)}=${uriEscape(String(value))}`)
      .join('&');
    return `${protocol}//${host}${path}?${query}`;
  }
}
