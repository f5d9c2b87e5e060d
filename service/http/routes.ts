/**
 * One thin handler per route of the manifest: read the body, call the use case, shape the answer.
 * Each declares the services it needs, so a Lambda entry builds only those.
 */
import type { AccessTokens } from '../core/access-tokens.js';
import { BadRequestError } from '../core/errors.js';
import type { SendOtp, VerifyOtp } from '../core/otp-login.js';
import { parsePhone } from '../core/phone.js';
import type { AccountDeletion, AvatarUploads, Profiles, UserView } from '../core/profiles.js';
import type { Sessions } from '../core/sessions.js';
import { otpCodePattern } from '../core/test-numbers.js';
import type { RouteId } from '../manifest.js';
import type { ApiResponse, EdgeServices, RouteHandler } from './api.js';
import { objectBody, optionalNullableString, optionalString, requiredString } from './body.js';

export interface Services extends EdgeServices {
  readonly stage: string;
  readonly version: string;
  readonly accessTokens: AccessTokens;
  readonly sendCode: SendOtp;
  readonly verifyCode: VerifyOtp;
  readonly sessions: Sessions;
  readonly profiles: Profiles;
  readonly avatarUploads: AvatarUploads;
  readonly accountDeletion: AccountDeletion;
}

type Needs<K extends keyof Services> = Pick<Services, K | 'log' | 'metrics'>;

const ok = (body: unknown): ApiResponse => ({ statusCode: 200, body });
const noContent: ApiResponse = { statusCode: 204 };

/** The user JSON of the API contract, field by field, so nothing internal leaks out. */
export function userJson(user: UserView) {
  const { id, phone, name, photoKey, photoUrl, createdAt, updatedAt } = user;
  return { id, phone, name, photoKey, photoUrl, createdAt, updatedAt };
}

function phoneField(body: Record<string, unknown>): string {
  return parsePhone(requiredString(body, 'phone', 32));
}

export const health: RouteHandler<Needs<'stage' | 'version'>> = async (_request, { stage, version }) =>
  ok({ ok: true, stage, version });

export const sendOtp: RouteHandler<Needs<'sendCode'>> = async (request, { sendCode }) => {
  const body = objectBody(request.body, ['phone']);
  await sendCode.send(phoneField(body), request.sourceIp);
  return ok({ ok: true });
};

export const verifyOtp: RouteHandler<Needs<'verifyCode' | 'profiles'>> = async (request, { verifyCode, profiles }) => {
  const body = objectBody(request.body, ['phone', 'code']);
  const phone = phoneField(body);
  const code = requiredString(body, 'code', 32);
  if (!otpCodePattern.test(code)) throw new BadRequestError('code must be 4-10 digits.');
  const result = await verifyCode.verify(phone, code, request.sourceIp);
  const user = await profiles.present(result.user);
  return ok({
    token: result.token,
    refreshToken: result.refreshToken,
    expiresIn: result.expiresIn,
    user: userJson(user),
  });
};

export const refresh: RouteHandler<Needs<'sessions'>> = async (request, { sessions }) => {
  const body = objectBody(request.body, ['refreshToken']);
  const tokens = await sessions.refresh(requiredString(body, 'refreshToken', 512), request.sourceIp);
  return ok({ token: tokens.token, refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn });
};

export const logout: RouteHandler<Needs<'sessions'>> = async (request, { sessions }) => {
  const body = objectBody(request.body, ['refreshToken']);
  await sessions.logout(requiredString(body, 'refreshToken', 512), request.sourceIp);
  return noContent;
};

export const getMe: RouteHandler<Needs<'profiles'>> = async (request, { profiles }) =>
  ok(userJson(await profiles.get(request.userId, request.tokenEpoch)));

export const patchMe: RouteHandler<Needs<'profiles'>> = async (request, { profiles }) => {
  const body = objectBody(request.body, ['name', 'photoKey']);
  const name = optionalString(body, 'name', 1024);
  const photoKey = optionalNullableString(body, 'photoKey', 512);
  if (name === undefined && photoKey === undefined) {
    throw new BadRequestError('Send at least one of name, photoKey.');
  }
  const changes = {
    ...(name === undefined ? {} : { name }),
    ...(photoKey === undefined ? {} : { photoKey }),
  };
  return ok(userJson(await profiles.update(request.userId, changes, request.tokenEpoch)));
};

export const presignAvatar: RouteHandler<Needs<'avatarUploads'>> = async (request, { avatarUploads }) => {
  const body = objectBody(request.body, ['contentType']);
  const upload = await avatarUploads.presign(
    request.userId,
    requiredString(body, 'contentType', 128),
    request.tokenEpoch,
  );
  return ok({
    url: upload.url,
    fields: upload.fields,
    key: upload.key,
    expiresIn: upload.expiresIn,
    maxBytes: upload.maxBytes,
  });
};

export const deleteMe: RouteHandler<Needs<'accountDeletion'>> = async (request, { accountDeletion }) => {
  await accountDeletion.delete(request.userId, { tokenEpoch: request.tokenEpoch });
  return noContent;
};

/** Every route's handler by manifest id: what the sandbox mounts. */
export const routeHandlers: { readonly [K in RouteId]: RouteHandler<Services> } = {
  health,
  sendOtp,
  verifyOtp,
  refresh,
  logout,
  getMe,
  patchMe,
  presignAvatar,
  deleteMe,
};
