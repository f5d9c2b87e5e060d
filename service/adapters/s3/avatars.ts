import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { AvatarObject, AvatarStore, AvatarUrlSigner } from '../../core/ports.js';
import { avatarBucket, type AvatarState } from '../../manifest.js';

/**
 * Avatar objects in S3 through the S3 client: their metadata, presigned downloads, and deletion.
 * The sandbox's functions and `chatshyld users` use it; deployed functions send the same calls
 * without the client (`SigV4AvatarStore`, object-store.ts), held to this client's requests.
 */
export class S3AvatarStore implements AvatarStore, AvatarUrlSigner {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async describe(key: string): Promise<AvatarObject | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { contentType: head.ContentType, size: head.ContentLength ?? 0 };
    } catch (error) {
      // A function without s3:ListBucket (patchMe) gets 403 for a missing key: S3 will not tell it
      // whether the key exists. HEAD has no body to tell that from a missing s3:GetObject grant;
      // the template test holds every reader to its grant.
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || status === 403) return undefined;
      throw error;
    }
  }

  downloadUrl(key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: expiresInSeconds,
    });
  }

  async setState(key: string, state: AvatarState): Promise<void> {
    // PutObjectTagging replaces the whole tag set; the state is the only tag an avatar carries.
    await this.client.send(
      new PutObjectTaggingCommand({ Bucket: this.bucket, Key: key, Tagging: { TagSet: [{ Key: avatarBucket.stateTag, Value: state }] } }),
    );
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async deleteAllUnder(prefix: string): Promise<void> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      const objects = (page.Contents ?? []).flatMap((object) => (object.Key ? [{ Key: object.Key }] : []));
      if (objects.length > 0) {
        const result = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: objects, Quiet: true } }),
        );
        if (result.Errors?.length) {
          throw new Error(`could not delete ${result.Errors.length} avatar objects under ${prefix}`);
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
