/** Strict readers for JSON request bodies: unknown fields and wrong types are a 400, never a 500. */
import { BadRequestError } from '../core/errors.js';

export type JsonObject = Readonly<Record<string, unknown>>;

export function objectBody(body: unknown, allowed: readonly string[]): JsonObject {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('The body must be a JSON object.');
  }
  const unknown = Object.keys(body).filter((field) => !allowed.includes(field));
  if (unknown.length > 0) {
    const list = unknown.slice(0, 5).map((field) => JSON.stringify(field.slice(0, 40)));
    throw new BadRequestError(`Unknown field${unknown.length > 1 ? 's' : ''}: ${list.join(', ')}.`);
  }
  return body as JsonObject;
}

export function requiredString(body: JsonObject, field: string, maxLength = 256): string {
  const value = body[field];
  if (value === undefined) throw new BadRequestError(`${field} is required.`);
  return asString(field, value, maxLength);
}

export function optionalString(body: JsonObject, field: string, maxLength = 256): string | undefined {
  const value = body[field];
  return value === undefined ? undefined : asString(field, value, maxLength);
}

export function optionalNullableString(
  body: JsonObject,
  field: string,
  maxLength = 256,
): string | null | undefined {
  const value = body[field];
  return value === undefined || value === null ? value : asString(field, value, maxLength);
}

function asString(field: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string') throw new BadRequestError(`${field} must be a string.`);
  if (value.length > maxLength) throw new BadRequestError(`${field} must be at most ${maxLength} characters.`);
  return value;
}
