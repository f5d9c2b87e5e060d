/**
 * Who may use `/__sandbox/*`: the developer's own browser tab on the sandbox's own origin, or a tool
 * on this machine — never a web page the developer happens to visit. Such a page can make the
 * browser send requests to 127.0.0.1 (a form post, an image, a script tag), and with DNS rebinding
 * can even make them look same-origin to the browser under its own hostname. So:
 *  - the `Host` must be the loopback address (or `localhost`) and the sandbox's port: a rebound
 *    hostname arrives with the attacker's name in `Host`;
 *  - a request that says where it comes from must come from here: `Origin` equal to our origin,
 *    `Sec-Fetch-Site` `same-origin` or `none` (typed into the address bar);
 *  - reads are GET (or HEAD); actions are POST with a JSON body and our `Origin` (or a same-origin
 *    `Sec-Fetch-Site`): a cross-site form can send neither, and a JSON body from another origin
 *    needs a preflight, which is never granted (no `access-control-allow-origin` on any answer).
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** Headers on every `/__sandbox/*` answer: not framed, not cached, not read across origins. */
export const consoleHeaders = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
} as const;

const loopbackHosts = ['127.0.0.1', 'localhost'];

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Undefined when the request may go on; otherwise why not. */
export function refuseConsoleRequest(method: string, headers: IncomingHttpHeaders, port: number): Refusal | undefined {
  const host = header(headers, 'host')?.toLowerCase();
  if (!host || !loopbackHosts.some((name) => host === `${name}:${port}`)) {
    return { status: 403, code: 'not_loopback', message: `The sandbox console answers only at http://127.0.0.1:${port}.` };
  }
  const origin = header(headers, 'origin');
  if (origin !== undefined && origin.toLowerCase() !== `http://${host}`) {
    return { status: 403, code: 'cross_origin', message: 'The sandbox console answers only its own pages.' };
  }
  const site = header(headers, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return { status: 403, code: 'cross_origin', message: 'The sandbox console answers only its own pages.' };
  }
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (method !== 'POST') {
    return { status: 405, code: 'method_not_allowed', message: 'The sandbox console reads with GET and acts with POST.' };
  }
  if (origin === undefined && site !== 'same-origin') {
    return { status: 403, code: 'cross_origin', message: `An action needs the header Origin: http://${host}.` };
  }
  if (!/^application\/json\s*(;|$)/i.test(header(headers, 'content-type') ?? '')) {
    return { status: 415, code: 'unsupported_media_type', message: 'Send actions as application/json.' };
  }
  return undefined;
}
