/**
 * The service's one error hierarchy. Each error carries the HTTP status and the stable snake_case
 * code of DESIGN §2, so a use case can say precisely what went wrong and one function in `http/`
 * turns any thrown value into a response. Messages are for humans and never carry internals.
 */
export class ServiceError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export class BadRequestError extends ServiceError {
  constructor(message: string, code = 'invalid_request') {
    super(400, code, message);
  }
}

export class UnauthorizedError extends ServiceError {
  constructor(code = 'unauthorized', message = 'A valid bearer token is required.') {
    super(401, code, message, code === 'unauthorized' ? { 'www-authenticate': 'Bearer' } : {});
  }
}

export class ForbiddenError extends ServiceError {
  constructor(code: string, message: string) {
    super(403, code, message);
  }
}

/** Another write changed the item first, too often to retry here: the caller may send it again. */
export class ConflictError extends ServiceError {
  constructor(code: string, message: string) {
    super(409, code, message);
  }
}

export class TooManyRequestsError extends ServiceError {
  constructor(
    code: 'rate_limited' | 'too_many_attempts',
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(
      429,
      code,
      message,
      retryAfterSeconds === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    );
  }
}

export class OtpProviderUnavailableError extends ServiceError {
  constructor(cause?: unknown) {
    super(502, 'otp_provider_unavailable', 'The code could not be sent right now; try again shortly.', {}, { cause });
  }
}

/** The service is set up wrongly (a missing or malformed secret): a 500 for the caller, an alarm for us. */
export class MisconfigurationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MisconfigurationError';
  }
}

export const invalidCode = () =>
  new UnauthorizedError('invalid_code', 'The code is wrong or has expired. Request a new one.');

export const invalidRefreshToken = () =>
  new UnauthorizedError('invalid_refresh_token', 'The refresh token is not valid. Sign in again.');

/** An operator blocked this number or account (docs/api.md, "Blocked accounts"). */
export const accountBlocked = () =>
  new ForbiddenError('account_blocked', 'This account is blocked. Contact support.');
