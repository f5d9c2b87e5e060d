import type { S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import type { AvatarUploadSigner, PresignedUpload } from '../../core/ports.js';
import { avatarBucket, type AvatarState } from '../../manifest.js';

/** The `tagging` form field of a POST upload: S3 takes the tag set as an XML Tagging document. */
export function stateTagging(state: AvatarState): string {
  return `<Tagging><TagSet><Tag><Key>${avatarBucket.stateTag}</Key><Value>${state}</Value></Tag></TagSet></Tagging>`;
}

/** Presigned POST uploads: the only presigned form of S3 upload whose policy can bound the size. */
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
    // exact condition of its own: so the upload must carry `state=pending`, exactly as signed, and
    // the lifecycle rule expires it unless PATCH attaches it.
    const { url, fields } = await createPresignedPost(this.client, {
      Bucket: this.bucket,
      Key: key,
      Conditions: [
        ['content-length-range', 1, maxBytes],
        ['eq', '$Content-Type', contentType],
      ],
      Fields: { 'Content-Type': contentType, tagging: stateTagging('pending') },
      Expires: expiresInSeconds,
    });
    return { url, fields };
  }
}
