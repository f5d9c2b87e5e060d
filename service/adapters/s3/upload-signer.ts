import type { S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import type { AvatarUploadSigner, PresignedUpload } from '../../core/ports.js';
import { avatarUploadTerms } from './post-signer.js';

/**
 * Presigned POST uploads through the S3 client's presigner: the sandbox's signer (its route clients
 * carry the S3 front's path-style endpoint and route credentials), and the reference the SigV4
 * signer is tested against. Deployed functions use `SigV4AvatarUploadSigner`.
 */
export class S3AvatarUploadSigner implements AvatarUploadSigner {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async presignUpload(
    key: string,
    contentType: string,
    maxBytes: number,
    expiresInSeconds: number,
  ): Promise<PresignedUpload> {
    // `Key` adds the exact-key condition, `bucket` the bucket condition, and each of `Fields` an
    // exact condition of its own.
    const { conditions, fields } = avatarUploadTerms(contentType, maxBytes);
    const { url, fields: signed } = await createPresignedPost(this.client, {
      Bucket: this.bucket,
      Key: key,
      Conditions: conditions,
      Fields: fields,
      Expires: expiresInSeconds,
    });
    return { url, fields: signed };
  }
}
