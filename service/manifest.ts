/**
 * The one source of truth for what the service is made of: its routes, the tables and bucket they
 * touch, and the secrets they read. Infra builds one Lambda per route with exactly these grants; the
 * sandbox mounts the same list; a test checks that the synthesized template agrees.
 *
 * This module is pure data and must stay free of imports with side effects: the CLI, infra and the
 * Lambdas all load it.
 */

export type TableId = 'users' | 'refreshTokens' | 'rateLimits';
export type SecretName = 'jwt-secret' | 'refresh-pepper' | 'twilio' | 'test-numbers';
export type TableAccess = 'read' | 'readwrite';
/** `tag`: set an object's tags (s3:PutObjectTagging), which a POST carrying a `tagging` field needs too. */
export type BucketAccess = 'read' | 'put' | 'tag' | 'delete' | 'list';

export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S' | 'N';
}

export interface TableIndexDefinition {
  readonly name: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
}

export interface TableDefinition {
  readonly id: TableId;
  /** Logical name: CDK construct id in infra, table-name suffix in the sandbox. */
  readonly logicalName: string;
  /** Environment variable through which a Lambda learns the physical table name. */
  readonly env: string;
  readonly partitionKey: KeyAttribute;
  readonly ttlAttribute?: string;
  readonly indexes: readonly TableIndexDefinition[];
}

export const tables: Readonly<Record<TableId, TableDefinition>> = {
  users: {
    id: 'users',
    logicalName: 'Users',
    env: 'USERS_TABLE',
    partitionKey: { name: 'pk', type: 'S' },
    // Operators' phone blocks with an end, and audit days, expire; users and claims carry no such attribute.
    ttlAttribute: 'expiresAt',
    indexes: [],
  },
  refreshTokens: {
    id: 'refreshTokens',
    logicalName: 'RefreshTokens',
    env: 'REFRESH_TOKENS_TABLE',
    partitionKey: { name: 'pk', type: 'S' },
    ttlAttribute: 'expiresAt',
    indexes: [{ name: 'byUser', partitionKey: { name: 'userId', type: 'S' } }],
  },
  rateLimits: {
    id: 'rateLimits',
    logicalName: 'RateLimits',
    env: 'RATE_LIMITS_TABLE',
    partitionKey: { name: 'pk', type: 'S' },
    ttlAttribute: 'expiresAt',
    indexes: [],
  },
};

export const avatarContentTypes = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
} as const;
export type AvatarContentType = keyof typeof avatarContentTypes;

export const avatarBucket = {
  logicalName: 'Avatars',
  env: 'AVATARS_BUCKET',
  /** Every object the service writes lives under this prefix; write grants are scoped to it. */
  keyPrefix: 'avatar/',
  maxBytes: 5 * 1024 * 1024,
  /**
   * Every upload is tagged `state=pending` by its POST policy, and a lifecycle rule expires pending
   * objects after `pendingExpirationDays`; attaching a photo re-tags it `attached`, and a photo that
   * is replaced or removed goes back to `pending` before it is deleted.
   */
  stateTag: 'state',
  pendingExpirationDays: 1,
} as const;

export type AvatarState = 'pending' | 'attached';

export interface SecretDefinition {
  readonly name: SecretName;
  /** Environment variable holding the SSM parameter name (never the value). */
  readonly env: string;
  readonly description: string;
}

export const secrets: Readonly<Record<SecretName, SecretDefinition>> = {
  'jwt-secret': {
    name: 'jwt-secret',
    env: 'JWT_SECRET_PARAM',
    description: 'key ring signing access tokens (HS256)',
  },
  'refresh-pepper': {
    name: 'refresh-pepper',
    env: 'REFRESH_PEPPER_PARAM',
    description: 'key ring hashing refresh tokens (HMAC-SHA256)',
  },
  twilio: {
    name: 'twilio',
    env: 'TWILIO_PARAM',
    description: 'Twilio Verify credentials {accountSid, authToken, verifyServiceSid}',
  },
  'test-numbers': {
    name: 'test-numbers',
    env: 'TEST_NUMBERS_PARAM',
    description: 'phone numbers with fixed codes that never reach Twilio [{phone, code, expiresAt}]',
  },
};

/** The one function that names an SSM parameter. */
export function secretParameterName(stage: string, name: SecretName): string {
  return `/chatshyld/${stage}/${name}`;
}

export type RouteId =
  | 'health'
  | 'sendOtp'
  | 'verifyOtp'
  | 'refresh'
  | 'logout'
  | 'getMe'
  | 'patchMe'
  | 'presignAvatar'
  | 'deleteMe';

export type DynamoAction = 'GetItem' | 'Query' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'BatchWriteItem';

/**
 * The DynamoDB actions each store method sends (service/adapters/dynamodb), and on which table. A
 * route's table grants are the union over the methods its use cases call (`RouteAccess.calls`); the
 * entry tests record every command a route sends and hold it to this.
 */
export const storeCalls = {
  rateLimiter: {
    table: 'rateLimits',
    hit: ['UpdateItem', 'PutItem'],
    // Several windows of one key and a count per member (per source), all or none: a refused update
    // reads the item to say why, or to write ended windows anew over it; a hit taken back restores it.
    hitAll: ['UpdateItem', 'GetItem', 'PutItem', 'DeleteItem'],
    forget: ['DeleteItem'],
  },
  otpChallenges: {
    table: 'rateLimits',
    open: ['PutItem'],
    openKeepingAttempts: ['UpdateItem', 'PutItem'],
    get: ['GetItem'],
    attempt: ['UpdateItem', 'GetItem'],
    consume: ['DeleteItem'],
    forget: ['DeleteItem'],
  },
  userStore: {
    table: 'users',
    get: ['GetItem'],
    phoneOwner: ['GetItem'],
    phoneBlock: ['GetItem'],
    setStatus: ['UpdateItem'],
    claimPhone: ['PutItem', 'GetItem'],
    createUser: ['PutItem'],
    replaceUser: ['PutItem'],
    releasePhone: ['DeleteItem'],
    deleteUser: ['DeleteItem'],
  },
  refreshTokenStore: {
    table: 'refreshTokens',
    putToken: ['PutItem'],
    getToken: ['GetItem'],
    putDerivedToken: ['PutItem'],
    deleteFamily: ['DeleteItem'],
    deleteToken: ['DeleteItem'],
    createFamily: ['PutItem'],
    getFamily: ['GetItem'],
    advanceHead: ['UpdateItem'],
    revokeFamily: ['UpdateItem'],
    deleteAllForUser: ['Query', 'BatchWriteItem'],
  },
  // On-call only (adapters/dynamodb/operator-store.ts), in two parts: one per table.
  userOperations: {
    table: 'users',
    putPhoneBlock: ['PutItem'],
    deletePhoneBlock: ['DeleteItem'],
    blockUser: ['UpdateItem'],
    unblockUser: ['UpdateItem'],
    bumpAccessEpoch: ['UpdateItem'],
    appendAudit: ['UpdateItem'],
    auditDay: ['GetItem'],
  },
  familyOperations: {
    table: 'refreshTokens',
    familiesOf: ['Query', 'GetItem'],
  },
} as const satisfies Record<string, { table: TableId } & Record<string, TableId | readonly DynamoAction[]>>;

export type StoreCall = { [S in keyof typeof storeCalls]: `${S}.${Exclude<keyof (typeof storeCalls)[S], 'table'> & string}` }[keyof typeof storeCalls];

/** The DynamoDB actions a route needs on each table: what its store calls send, nothing more. */
export function routeTableActions(route: Pick<RouteDefinition, 'access'>): Partial<Record<TableId, DynamoAction[]>> {
  const actions: Partial<Record<TableId, Set<DynamoAction>>> = {};
  for (const call of route.access.calls ?? []) {
    const [store, method] = call.split('.') as [keyof typeof storeCalls, string];
    const definition = storeCalls[store] as unknown as { table: TableId } & Record<string, readonly DynamoAction[]>;
    for (const action of definition[method]!) (actions[definition.table] ??= new Set()).add(action);
  }
  return Object.fromEntries(Object.entries(actions).map(([table, set]) => [table, [...set].sort()]));
}

export interface RouteAccess {
  readonly tables?: Partial<Record<TableId, TableAccess>>;
  /** The store methods its use cases call; they decide its table actions (`routeTableActions`). */
  readonly calls?: readonly StoreCall[];
  readonly bucket?: readonly BucketAccess[];
  readonly secrets?: readonly SecretName[];
}

export interface RouteDefinition {
  readonly id: RouteId;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: string;
  /** Lambda entry module, relative to the repo root; it exports `handler`. */
  readonly entry: string;
  readonly auth: boolean;
  /** Whether the route takes a JSON body. */
  readonly body: boolean;
  readonly access: RouteAccess;
}

const jwt = 'jwt-secret' satisfies SecretName;
const pepper = 'refresh-pepper' satisfies SecretName;

export const routes: readonly RouteDefinition[] = [
  {
    id: 'health',
    method: 'GET',
    path: '/health',
    entry: 'service/lambda/health.ts',
    auth: false,
    body: false,
    access: {},
  },
  {
    id: 'sendOtp',
    method: 'POST',
    path: '/auth/send-otp',
    entry: 'service/lambda/send-otp.ts',
    auth: false,
    body: true,
    access: {
      // users: a blocked number gets no code.
      tables: { rateLimits: 'readwrite', users: 'read' },
      calls: [
        'rateLimiter.hit',
        'rateLimiter.hitAll',
        'otpChallenges.open',
        'otpChallenges.openKeepingAttempts',
        'userStore.phoneBlock',
      ],
      secrets: ['twilio', 'test-numbers'],
    },
  },
  {
    id: 'verifyOtp',
    method: 'POST',
    path: '/auth/verify-otp',
    entry: 'service/lambda/verify-otp.ts',
    auth: false,
    body: true,
    access: {
      tables: { rateLimits: 'readwrite', users: 'readwrite', refreshTokens: 'readwrite' },
      calls: [
        'rateLimiter.hit',
        'otpChallenges.attempt',
        'otpChallenges.consume',
        'userStore.phoneBlock',
        'userStore.claimPhone',
        'userStore.get',
        'userStore.createUser',
        // A login meeting a deletion: frees the deleted account's claim, or removes a user item
        // written for a claim that vanished; its new session removes itself if the account closed.
        'userStore.phoneOwner',
        'userStore.releasePhone',
        'userStore.deleteUser',
        'refreshTokenStore.putToken',
        'refreshTokenStore.createFamily',
        'refreshTokenStore.deleteFamily',
        'refreshTokenStore.deleteToken',
      ],
      // read: the user in the answer carries a presigned URL of their photo.
      bucket: ['read'],
      secrets: ['twilio', 'test-numbers', jwt, pepper],
    },
  },
  {
    id: 'refresh',
    method: 'POST',
    path: '/auth/refresh',
    entry: 'service/lambda/refresh.ts',
    auth: false,
    body: true,
    access: {
      // users: a refresh refuses a deleted or blocked account.
      tables: { rateLimits: 'readwrite', refreshTokens: 'readwrite', users: 'read' },
      calls: [
        'rateLimiter.hit',
        'userStore.get',
        'refreshTokenStore.putDerivedToken',
        'refreshTokenStore.getToken',
        'refreshTokenStore.getFamily',
        'refreshTokenStore.revokeFamily',
        'refreshTokenStore.putToken',
        'refreshTokenStore.advanceHead',
        'refreshTokenStore.deleteToken',
      ],
      secrets: [jwt, pepper],
    },
  },
  {
    id: 'logout',
    method: 'POST',
    path: '/auth/logout',
    entry: 'service/lambda/logout.ts',
    auth: false,
    body: true,
    access: {
      tables: { rateLimits: 'readwrite', refreshTokens: 'readwrite' },
      calls: ['rateLimiter.hit', 'refreshTokenStore.getToken', 'refreshTokenStore.revokeFamily'],
      secrets: [pepper],
    },
  },
  {
    id: 'getMe',
    method: 'GET',
    path: '/profile/me',
    entry: 'service/lambda/get-me.ts',
    auth: true,
    body: false,
    access: { tables: { users: 'read' }, calls: ['userStore.get'], bucket: ['read'], secrets: [jwt] },
  },
  {
    id: 'patchMe',
    method: 'PATCH',
    path: '/profile/me',
    entry: 'service/lambda/patch-me.ts',
    auth: true,
    body: true,
    // tag: an attached photo is re-tagged `attached`, a replaced one `pending`, before it is deleted.
    access: { tables: { users: 'readwrite' }, calls: ['userStore.get', 'userStore.replaceUser'], bucket: ['read', 'tag', 'delete'], secrets: [jwt] },
  },
  {
    id: 'presignAvatar',
    method: 'POST',
    path: '/profile/avatar/presign',
    entry: 'service/lambda/presign-avatar.ts',
    auth: true,
    body: true,
    access: {
      tables: { users: 'read', rateLimits: 'readwrite' },
      calls: ['userStore.get', 'rateLimiter.hit'],
      // tag: the POST it signs carries the `state=pending` tag, which S3 authorizes as PutObjectTagging.
      bucket: ['put', 'tag'],
      secrets: [jwt],
    },
  },
  {
    id: 'deleteMe',
    method: 'DELETE',
    path: '/profile/me',
    entry: 'service/lambda/delete-me.ts',
    auth: true,
    body: false,
    access: {
      tables: { users: 'readwrite', refreshTokens: 'readwrite', rateLimits: 'readwrite' },
      calls: [
        'userStore.setStatus',
        // Only after a refused mark: to tell a blocked account (401) from one already gone (204).
        'userStore.get',
        'refreshTokenStore.deleteAllForUser',
        'rateLimiter.forget',
        'otpChallenges.forget',
        'userStore.releasePhone',
        'userStore.deleteUser',
      ],
      bucket: ['list', 'delete'],
      secrets: [jwt],
    },
  },
];

export function routeById(id: RouteId): RouteDefinition {
  const route = routes.find((r) => r.id === id);
  if (!route) throw new Error(`no route ${id} in the manifest`);
  return route;
}

export interface DeployedNames {
  readonly stage: string;
  readonly version: string;
  /** JSON of the stage's service settings. */
  readonly settings: string;
  readonly tableNames: Readonly<Record<TableId, string>>;
  readonly bucketName: string;
  /** The stage's `allowTestNumbers` setting: without it no function is told of the test-numbers secret. */
  readonly allowTestNumbers: boolean;
}

/**
 * The secrets a route's function may read on a stage: its manifest's, except `test-numbers` where the
 * stage does not honour test numbers. Infra grants exactly these and names exactly these in the
 * function's environment, so a stage without test numbers cannot read the list at all.
 */
export function routeSecrets(route: Pick<RouteDefinition, 'access'>, stage: { readonly allowTestNumbers: boolean }): SecretName[] {
  return (route.access.secrets ?? []).filter((name) => name !== 'test-numbers' || stage.allowTestNumbers);
}

/**
 * A route's function environment: the names of exactly the tables, bucket and secrets it is granted
 * (never a secret value). Infra deploys it; the entry tests run each function with nothing more.
 */
export function routeEnvironment(route: RouteDefinition, names: DeployedNames): Record<string, string> {
  const env: Record<string, string> = {
    CHATSHYLD_STAGE: names.stage,
    CHATSHYLD_VERSION: names.version,
    CHATSHYLD_SETTINGS: names.settings,
  };
  for (const id of Object.keys(route.access.tables ?? {}) as TableId[]) env[tables[id].env] = names.tableNames[id];
  if (route.access.bucket?.length) env[avatarBucket.env] = names.bucketName;
  for (const name of routeSecrets(route, names)) env[secrets[name].env] = secretParameterName(names.stage, name);
  return env;
}

/**
 * What `chatshyld users` (service/ops/user-admin.ts) may do, in the shape of a route's access: the
 * on-call role's grants (infra: the stage's optional `onCallPolicy`) and, in tests, the client the
 * operations run with. Its deletion is DELETE /profile/me's, so it takes that route's calls and bucket
 * access as they are.
 */
export const userOperationsAccess: RouteAccess = {
  tables: { users: 'readwrite', refreshTokens: 'readwrite', rateLimits: 'readwrite' },
  calls: [
    'userStore.get',
    'userStore.phoneOwner',
    'userStore.phoneBlock',
    'refreshTokenStore.revokeFamily',
    'userOperations.putPhoneBlock',
    'userOperations.deletePhoneBlock',
    'userOperations.blockUser',
    'userOperations.unblockUser',
    'userOperations.bumpAccessEpoch',
    'userOperations.appendAudit',
    'userOperations.auditDay',
    'otpChallenges.forget',
    'familyOperations.familiesOf',
    ...(routeById('deleteMe').access.calls ?? []),
  ],
  bucket: routeById('deleteMe').access.bucket ?? [],
};
