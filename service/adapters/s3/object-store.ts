import type { AvatarObject, AvatarStore } from '../../core/ports.js';
import { avatarBucket, type AvatarState } from '../../manifest.js';
import { BucketRequests, escapeXml, S3RequestError, unescapeXml, type BucketRequestsOptions } from './bucket-requests.js';

const s3Namespace = 'http://s3.amazonaws.com/doc/2006-03-01/';

/**
 * Avatar objects in S3 through signed requests of our own (`BucketRequests`): the HeadObject,
 * PutObjectTagging, DeleteObject, ListObjectsV2 and DeleteObjects calls of `S3AvatarStore`, the
 * same requests, and the same answers to the core, without the S3 client in the bundles of the
 * functions that make them (patchMe, deleteMe).
 */
export class SigV4AvatarStore implements AvatarStore {
  private readonly s3: BucketRequests;

  constructor(options: BucketRequestsOptions) {
    this.s3 = new BucketRequests(options);
  }

  async describe(key: string): Promise<AvatarObject | undefined> {
    try {
      const { headers } = await this.s3.send({ operation: 'HeadObject', method: 'HEAD', key });
      return { contentType: headers['content-type'], size: Number(headers['content-length'] ?? 0) };
    } catch (error) {
      // A function without s3:ListBucket (patchMe) gets 403 for a missing key: S3 will not tell it
      // whether the key exists. HEAD has no body to tell that from a missing s3:GetObject grant;
      // the template test holds every reader to its grant.
      if (error instanceof S3RequestError && (error.statusCode === 404 || error.statusCode === 403)) return undefined;
      throw error;
    }
  }

  async setState(key: string, state: AvatarState): Promise<void> {
    // PutObjectTagging replaces the whole tag set; the state is the only tag an avatar carries.
    const tagging = `<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="${s3Namespace}"><TagSet><Tag><Key>${avatarBucket.stateTag}</Key><Value>${state}</Value></Tag></TagSet></Tagging>`;
    await this.s3.send({ operation: 'PutObjectTagging', method: 'PUT', key, query: { tagging: '' }, xml: tagging });
  }

  async delete(key: string): Promise<void> {
    await this.s3.send({ operation: 'DeleteObject', method: 'DELETE', key, query: { 'x-id': 'DeleteObject' } });
  }

  async deleteAllUnder(prefix: string): Promise<void> {
    let token: string | undefined;
    do {
      const page = listing(
        (
          await this.s3.send({
            operation: 'ListObjectsV2',
            method: 'GET',
            query: { 'list-type': '2', prefix, ...(token !== undefined && { 'continuation-token': token }) },
          })
        ).body,
      );
      if (page.keys.length > 0) {
        const objects = page.keys.map((key) => `<Object><Key>${escapeXml(key)}</Key></Object>`).join('');
        const { body } = await this.s3.send({
          operation: 'DeleteObjects',
          method: 'POST',
          query: { delete: '' },
          xml: `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="${s3Namespace}">${objects}<Quiet>true</Quiet></Delete>`,
        });
        // Quiet: the result lists only the keys S3 could not delete.
        const failed = [...body.matchAll(/<Error>([\s\S]*?)<\/Error>/g)].map(([, error]) => /<Code>([^<]*)<\/Code>/.exec(error!)?.[1] ?? 'unknown');
        if (failed.length > 0) {
          throw new Error(`could not delete ${failed.length} avatar objects under ${prefix} (${[...new Set(failed)].join(', ')})`);
        }
      }
      token = page.next;
    } while (token !== undefined);
  }
}

/** The keys of a ListObjectsV2 page, and the token of the next page when it is truncated. */
function listing(body: string): { keys: string[]; next: string | undefined } {
  if (!/<ListBucketResult[\s>]/.test(body)) throw new Error(`S3 ListObjectsV2 answered without a listing: ${body.slice(0, 200)}`);
  const keys = [...body.matchAll(/<Contents>[\s\S]*?<Key>([^<]*)<\/Key>[\s\S]*?<\/Contents>/g)].map(([, key]) => unescapeXml(key!));
  const truncated = /<IsTruncated>\s*true\s*<\/IsTruncated>/.test(body);
  const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(body)?.[1];
  if (truncated && !next) throw new Error('S3 ListObjectsV2 answered a truncated listing without a continuation token');
  return { keys, next: truncated ? unescapeXml(next!) : undefined };
}
