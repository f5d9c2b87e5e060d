/**
 * An SSM Parameter Store endpoint for the sandbox: it serves the sandbox's secrets file
 * (`.chatshyld/local/secrets.json`) to the functions' SSM clients as the stage's SecureString
 * parameters, under the names `secretParameterName(stage, name)` that their environment carries.
 *
 * - The file is read on every call, so an edit or a rotation shows exactly as a change in SSM does:
 *   through each function's own cache (Powertools' max age, a forced re-read for an unknown `kid`).
 *   Version and LastModifiedDate come from the file's history; a value edited by hand, with no
 *   history entry of its own, is the next version, modified when the file was.
 * - Who calls, and what it may read: the session token names the route (as the S3 and DynamoDB
 *   fronts read it), and IAM allows `ssm:GetParameter` on exactly the parameters its manifest entry
 *   lists (infra/grants.ts grants that action and no other). Anything else is AccessDeniedException;
 *   a granted parameter the file does not hold is ParameterNotFound (400), as SSM answers.
 * - A damaged file is SSM failing (500 InternalServerError, which the SDK retries and the function
 *   then reports), never a crash of the front.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../../core/ports.js';
import { secretParameterName, type RouteDefinition, type RouteId, type SecretName } from '../../manifest.js';
import { emulatorCredentials, emulatorRegion } from '../emulators.js';
import { sandboxSessionToken } from '../s3-front.js';
import { parseSecretsDocument, type SecretsDocument } from '../secrets-file.js';
import { checkHeaderSignature, headerValue, sha256Hex, signatureExpiredMessage } from '../sigv4.js';
import { announceCall, type OnFrontCall } from './front-call.js';
import { readBody, startLoopbackServer } from './loopback.js';

export interface SsmFrontOptions {
  /** The sandbox's secrets file. */
  readonly secretsPath: string;
  /** The stage whose parameter names the functions are given (`local` in the sandbox). */
  readonly stage: string;
  readonly routes: readonly Pick<RouteDefinition, 'id' | 'access'>[];
  readonly onCall?: OnFrontCall;
  /** Access key id → secret; by default the emulators' keys, which the sandbox gives its functions. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** The clock signatures are dated against: the machine's (the default), which the SDK signs with. */
  readonly clock?: Clock;
}

export interface SsmFront {
  readonly endpoint: string;
  close(): Promise<void>;
}

const account = '000000000000';

class SsmRefusal extends Error {
  constructor(
    readonly type: string,
    message: string | undefined,
    readonly status = 400,
  ) {
    super(message);
  }
}

const invalidToken = () => new SsmRefusal('UnrecognizedClientException', 'The security token included in the request is invalid.');

export async function startSsmFront(options: SsmFrontOptions): Promise<SsmFront> {
  const clock = options.clock ?? systemClock;
  const keys = options.secrets ?? { [emulatorCredentials.accessKeyId]: emulatorCredentials.secretAccessKey };
  const prefix = secretParameterName(options.stage, '' as SecretName);
  const callers = new Map(
    options.routes.map((route) => [
      sandboxSessionToken(route.id),
      { id: route.id, readable: new Set((route.access.secrets ?? []).map((name) => secretParameterName(options.stage, name))) },
    ]),
  );

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request, 1024 * 1024);
    const [rawPath = '/', rawQuery = ''] = (request.url ?? '/').split(/\?(.*)/s);
    const check = checkHeaderSignature({
      request,
      method: request.method ?? 'POST',
      rawPath,
      query: new URLSearchParams(rawQuery),
      payloadHash: sha256Hex(body),
      secrets: keys,
      now: clock.now(),
    });
    if (!check.ok) {
      if (check.reason === 'missing') throw new SsmRefusal('MissingAuthenticationTokenException', 'Request is missing Authentication Token');
      if (check.reason === 'malformed') throw new SsmRefusal('IncompleteSignatureException', 'Authorization header requires \'Credential\', \'Signature\' and \'SignedHeaders\' parameters.');
      if (check.reason === 'unknown-key') throw invalidToken();
      if (check.reason === 'skewed') throw new SsmRefusal('InvalidSignatureException', signatureExpiredMessage(check.signedAt, clock.now()));
      throw new SsmRefusal(
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    const caller = callers.get(headerValue(request, 'x-amz-security-token') ?? '');
    if (!caller) throw invalidToken();
    const region = check.region || emulatorRegion;

    const [api, action = ''] = (headerValue(request, 'x-amz-target') ?? '').split('.');
    if (api !== 'AmazonSSM' || !action) throw new SsmRefusal('UnknownOperationException', undefined);
    let input: { Name?: unknown; Names?: unknown; WithDecryption?: unknown };
    try {
      input = JSON.parse(body.toString('utf8') || '{}') as typeof input;
      if (!input || typeof input !== 'object' || Array.isArray(input)) throw new Error('not an object');
    } catch {
      throw new SsmRefusal('SerializationException', 'Start of structure or map found where not expected.');
    }
    const names = action === 'GetParameters' && Array.isArray(input.Names) ? input.Names.map(String) : [typeof input.Name === 'string' ? input.Name : ''];
    const requested = names.map(parseName);
    // IAM first: the route's role allows ssm:GetParameter on its own parameters and nothing else.
    for (const { name } of requested) {
      if (action !== 'GetParameter' || !caller.readable.has(name)) throw accessDenied(caller.id, action, name, region);
    }
    const [{ name, selector }] = requested as [ParsedName];

    await announceCall(options.onCall, { service: 'ssm', routeId: caller.id, action }, response);
    const document = readDocument(options.secretsPath);
    const secret = name.startsWith(prefix) ? (name.slice(prefix.length) as SecretName) : undefined;
    const versions = versionsOf(document, secret, options.secretsPath);
    if (versions.length === 0) throw new SsmRefusal('ParameterNotFound', undefined);
    const chosen = selector === undefined ? versions.at(-1)! : versions.find((version) => String(version.version) === selector);
    if (!chosen) throw new SsmRefusal('ParameterVersionNotFound', `Systems Manager could not find version ${selector} of ${name}. Verify the version and try again.`);
    const value = input.WithDecryption === true ? chosen.value : ciphertextOf(chosen.value);
    writeJson(response, 200, {
      Parameter: {
        ARN: parameterArn(region, name),
        DataType: 'text',
        LastModifiedDate: chosen.modifiedAt / 1000,
        Name: name,
        ...(selector !== undefined && { Selector: `:${selector}` }),
        Type: 'SecureString',
        Value: value,
        Version: chosen.version,
      },
    });
  }

  const server = await startLoopbackServer(
    (request, response) =>
      handle(request, response).catch((error: unknown) => {
        if (response.headersSent) throw error;
        if (error instanceof SsmRefusal) return writeError(response, error);
        writeError(response, new SsmRefusal('InternalServerError', (error as Error).message, 500));
      }),
    (response, _request, reason) => writeError(response, new SsmRefusal('AccessDeniedException', `The sandbox's SSM front refused this request: ${reason}.`, 403)),
  );
  return { endpoint: server.endpoint, close: () => server.close() };
}

interface ParsedName {
  readonly name: string;
  readonly selector: string | undefined;
}

/** A parameter as GetParameter takes it: a name or an ARN, with an optional `:version`. */
function parseName(given: string): ParsedName {
  const path = given.replace(/^arn:aws[a-z-]*:ssm:[^:]*:\d*:parameter(?=\/)/, '');
  const match = /^(.*?):(\d+)$/.exec(path);
  return match ? { name: match[1]!, selector: match[2] } : { name: path, selector: undefined };
}

const parameterArn = (region: string, name: string) => `arn:aws:ssm:${region}:${account}:parameter${name}`;

function accessDenied(routeId: RouteId, action: string, name: string, region: string): SsmRefusal {
  return new SsmRefusal(
    'AccessDeniedException',
    `User: arn:aws:sts::${account}:assumed-role/${routeId}/sandbox is not authorized to perform: ssm:${action} on resource: ` +
      `${parameterArn(region, name)} because no identity-based policy allows the ssm:${action} action`,
  );
}

/**
 * The file as it is now. Read synchronously: it is a few hundred bytes, and a read split over the
 * thread pool could answer two calls made in one order with versions in the other.
 */
function readDocument(path: string): SecretsDocument | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    // No file is a store with no parameters; one that cannot be read is the store failing.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return parseSecretsDocument(text, path);
  } catch (error) {
    const hint = (error as { hint?: unknown }).hint;
    throw new Error(`${(error as Error).message}${typeof hint === 'string' ? `; ${hint}` : ''}`);
  }
}

interface ParameterVersion {
  readonly version: number;
  readonly value: string;
  /** Epoch ms. */
  readonly modifiedAt: number;
}

/** A secret's versions, oldest first, the current value last; none when the file does not hold it. */
function versionsOf(document: SecretsDocument | undefined, secret: SecretName | undefined, path: string): ParameterVersion[] {
  const current = secret === undefined ? undefined : document?.secrets[secret];
  if (current === undefined) return [];
  const history = [...(document?.history?.[secret!] ?? [])].sort((a, b) => a.version - b.version);
  const versions = history.map((entry) => ({ version: entry.version, value: JSON.stringify(entry.value), modifiedAt: Date.parse(entry.modifiedAt) }));
  const value = JSON.stringify(current);
  if (versions.at(-1)?.value !== value) {
    // Edited by hand, with no history entry: a new version, as a PutParameter would make.
    versions.push({ version: (versions.at(-1)?.version ?? 0) + 1, value, modifiedAt: statSync(path).mtimeMs });
  }
  return versions;
}

/** What SSM returns for a SecureString read without decryption: ciphertext, never the value. */
const ciphertextOf = (value: string) =>
  Buffer.concat([Buffer.from('sandbox-kms:'), createHash('sha256').update(value).digest(), randomBytes(16)]).toString('base64');

function writeJson(response: ServerResponse, status: number, body: unknown): void {
  const text = Buffer.from(JSON.stringify(body));
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': String(text.length),
    'x-amzn-requestid': randomBytes(16).toString('hex'),
  });
  response.end(text);
}

function writeError(response: ServerResponse, refusal: SsmRefusal): void {
  writeJson(response, refusal.status, { __type: refusal.type, ...(refusal.message && { message: refusal.message }) });
}
