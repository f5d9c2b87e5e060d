/**
 * The HTTP server every sandbox front runs on: 127.0.0.1 only, on a free port, answering only requests
 * addressed to it by that address (or `localhost`) and port, and none that a browser page sends.
 *
 * A front holds the sandbox's tables, bucket and secrets behind nothing but a session token that
 * names a route, and the SDK never sends an `Origin` header: a request that carries one comes from a
 * web page (any site open in a browser on the same laptop can send requests to 127.0.0.1), and a
 * `Host` other than ours is a page that reached us through a DNS name pointed at 127.0.0.1 (DNS
 * rebinding). Both are refused with 403 before anything else is read.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoopbackServer {
  readonly endpoint: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Why a request is not for this front, or undefined when it is. */
export function foreignRequest(request: IncomingMessage, port: number): string | undefined {
  if (request.headers.origin !== undefined) return 'requests from a web page (with an Origin header) are refused';
  const host = (request.headers.host ?? '').toLowerCase();
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return `requests for host ${JSON.stringify(request.headers.host ?? '')} are refused: this front answers 127.0.0.1:${port} only`;
  return undefined;
}

export async function startLoopbackServer(
  handle: (request: IncomingMessage, response: ServerResponse) => Promise<void>,
  refuse: (response: ServerResponse, request: IncomingMessage, reason: string) => void,
): Promise<LoopbackServer> {
  let port = 0;
  const server = createServer((request, response) => {
    const foreign = foreignRequest(request, port);
    if (foreign) {
      request.resume();
      refuse(response, request, foreign);
      return;
    }
    handle(request, response).catch((error: unknown) => {
      // A front's own failure must never take the sandbox down: the caller gets a broken answer.
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(String(error));
      } else {
        response.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A request body, whole. */
export async function readBody(request: IncomingMessage, cap = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) throw new Error(`request body over ${cap} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
