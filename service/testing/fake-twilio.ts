/** A local HTTP server that answers like Twilio Verify, for adapter and end-to-end tests. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const twilioCredentials = {
  accountSid: `AC${'a'.repeat(32)}`,
  authToken: 'b'.repeat(32),
  verifyServiceSid: `VA${'c'.repeat(32)}`,
};

export interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  form: URLSearchParams;
}

export type Answer = { status: number; body?: unknown; delayMs?: number };

/**
 * A local stand-in for verify.twilio.com: records requests, answers what the test queued, then
 * `otherwise` (a 500 unless set; a function may answer from the request, slowly if it likes).
 */
export class FakeTwilio {
  readonly requests: Recorded[] = [];
  answers: Answer[] = [];
  otherwise: Answer | ((request: Recorded) => Answer) = { status: 500 };
  private server: Server | undefined;
  url = '';

  async start() {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop() {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(request: IncomingMessage, response: ServerResponse) {
    let text = '';
    for await (const chunk of request) text += chunk;
    const recorded = {
      method: request.method!,
      url: request.url!,
      authorization: request.headers.authorization,
      contentType: request.headers['content-type'],
      form: new URLSearchParams(text),
    };
    this.requests.push(recorded);
    const answer = this.answers.shift() ?? (typeof this.otherwise === 'function' ? this.otherwise(recorded) : this.otherwise);
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (response.destroyed) return;
    response.writeHead(answer.status, { 'content-type': 'application/json' });
    response.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
  }
}

