import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, SourceData } from '@smithy/types';
import type { AvatarUrlSigner } from '../../core/ports.js';

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

/** RFC 3986 escaping, as S3 signs paths and queries. */
const escape = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export interface UrlSignerOptions {
  readonly bucket: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly now?: () => Date;
}

/**
 * Presigned GETs of avatar objects, made with SigV4 alone: the same URL the S3 client's presigner
 * makes (virtual-hosted, `x-id=GetObject`, unsigned payload), without bundling the S3 client into
 * functions that only need `photoUrl`. A test compares the two byte for byte.
 */
export class SigV4AvatarUrlSigner implements AvatarUrlSigner {
  private readonly signer: SignatureV4;

  constructor(private readonly options: UrlSignerOptions) {
    this.signer = new SignatureV4({
      service: 's3',
      region: options.region,
      credentials: options.credentials,
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
  }

  async downloadUrl(key: string, expiresInSeconds: number): Promise<string> {
    // As the SDK does: virtual-hosted, except for names with dots, which would break TLS there.
    const { bucket, region } = this.options;
    const virtualHosted = !bucket.includes('.');
    const hostname = virtualHosted ? `${bucket}.s3.${region}.amazonaws.com` : `s3.${region}.amazonaws.com`;
    const path = `${virtualHosted ? '' : `/${bucket}`}/${key.split('/').map(escape).join('/')}`;
    const signed = await this.signer.presign(
      {
        method: 'GET',
        protocol: 'https:',
        hostname,
        path,
        query: { 'x-id': 'GetObject' },
        headers: { host: hostname, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' },
      },
      {
        expiresIn: expiresInSeconds,
        unsignableHeaders: new Set(['content-type']),
        ...(this.options.now && { signingDate: this.options.now() }),
      },
    );
    const query = Object.entries(signed.query ?? {})
      .map(([name, value]) => `${escape(name)}=${escape(String(value))}`)
      .join('&');
    return `https://${hostname}${path}?${query}`;
  }
}
