import { isIpAddress, isVirtualHostableS3Bucket, partition } from '@aws-sdk/core/client';
import { isValidHostLabel } from '@smithy/core/endpoints';
import { MisconfigurationError } from '../../core/errors.js';

/**
 * Where the S3 client sends a bucket's requests, worked out without the S3 client, so that the
 * signers of functions that only hand out URLs carry none: the S3 endpoint rules for a bucket name
 * that is neither an ARN nor an S3 Express name, and the environment settings that move them.
 */

/** Where the S3 client would send this bucket's requests, as the environment configures it. */
export interface S3EndpointSettings {
  /** The endpoint override (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`), as the S3 client would take it. */
  readonly endpoint?: string;
  /** `AWS_USE_FIPS_ENDPOINT`: the FIPS endpoints, `s3-fips.<region>`. */
  readonly useFipsEndpoint?: boolean;
  /** `AWS_USE_DUALSTACK_ENDPOINT`: the IPv4-and-IPv6 endpoints, `s3.dualstack.<region>`. */
  readonly useDualstackEndpoint?: boolean;
}

/**
 * A boolean setting as the S3 client reads it from the environment: only `true` and `false` count;
 * any other spelling (`TRUE`, `1`, empty) is passed over for the shared config file, which functions
 * do not have, so it stays off.
 */
const envFlag = (value: string | undefined): boolean => value === 'true';

/**
 * The settings the S3 client would take from this environment that move where a request goes: the
 * endpoint override (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, unless
 * `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`), FIPS and dual-stack. The functions' S3 client
 * sets none of them itself, so the client takes these.
 */
export function configuredS3EndpointSettings(env: NodeJS.ProcessEnv): S3EndpointSettings {
  return {
    endpoint: envFlag(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) ? undefined : env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
    useFipsEndpoint: envFlag(env.AWS_USE_FIPS_ENDPOINT),
    useDualstackEndpoint: envFlag(env.AWS_USE_DUALSTACK_ENDPOINT),
  };
}

/**
 * The region the S3 client signs for and puts in host names, and whether the name asks for FIPS:
 * it reads `fips-<region>` and `<region>-fips` as `<region>` with FIPS on.
 */
export function s3Region(region: string): { region: string; fips: boolean } {
  const fips = region.startsWith('fips-') || region.endsWith('-fips');
  const real = !fips ? region : ['fips-aws-global', 'aws-fips'].includes(region) ? 'us-east-1' : region.replace(/fips-(dkr-|prod-)?|-fips/, '');
  if (!isValidHostLabel(real)) throw new MisconfigurationError(`region ${JSON.stringify(region)} is not a valid host name label`);
  return { region: real, fips };
}

/**
 * The region of a request's credential scope, as the S3 endpoint rules give it (`signingRegion`):
 * `s3Region`'s, but us-east-1 for `aws-global`, whose endpoint S3 serves from there.
 */
export const s3SigningRegion = (region: string): string => {
  const named = s3Region(region).region;
  return named === 'aws-global' ? 'us-east-1' : named;
};

/** RFC 3986 escaping, as S3 signs and the S3 client writes paths and queries. */
export const uriEscape = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The bucket's URL: where the S3 client would send a request for the bucket itself (a POST
 * upload goes here). Virtual-hosted unless the name cannot be a host name (or the override endpoint
 * is an IP address), then path-style; the host from the region's partition, with FIPS and
 * dual-stack as set. Throws where the S3 client would fail every call: FIPS or dual-stack with an
 * override endpoint, FIPS in China, an endpoint that is not an http(s) URL, a region that cannot be
 * a host name.
 */
export function bucketUrl(bucket: string, region: string, settings: S3EndpointSettings = {}): string {
  const named = s3Region(region);
  const fips = named.fips || settings.useFipsEndpoint === true;
  const dualstack = settings.useDualstackEndpoint === true;
  // The S3 client addresses by path a name that is no DNS name, has capitals, or has dots
  // (unless the endpoint is plain http, where no certificate has to match).
  const http = settings.endpoint !== undefined && /^http:/i.test(settings.endpoint);
  const byPath =
    !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || /(\d+\.){3}\d+/.test(bucket) || bucket.includes('..') || (bucket.includes('.') && !http);
  const pathStyle = (base: string) => `${base}${uriEscape(bucket)}`;
  const checked = (url: string) => {
    try {
      return new URL(url).href;
    } catch (cause) {
      throw new MisconfigurationError(`the S3 bucket URL ${url} is not a valid URL`, { cause });
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

/** Where a request for one object goes: the parts of its URL, as the S3 client's request holds them. */
export interface ObjectLocation {
  readonly protocol: string;
  readonly hostname: string;
  /** Only when the URL names one other than the scheme's default. */
  readonly port?: number;
  readonly path: string;
}

/**
 * An object's location under a bucket URL, joined as the S3 client joins the endpoint's path and
 * the key: each key segment escaped, a bare `/` dropped, any other path kept as it is (a trailing
 * slash too: `/base/` and key `k` make `/base//k`).
 */
export function objectLocation(bucket: string, key: string): ObjectLocation {
  const url = new URL(bucket);
  return {
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port && { port: Number(url.port) }),
    path: `${url.pathname === '/' ? '' : url.pathname}/${key.split('/').map(uriEscape).join('/')}`,
  };
}
