/** Every DynamoDB partition key the service writes is built here, and nowhere else. */

export const userKey = (userId: string) => `user#${userId}`;
export const phoneClaimKey = (phone: string) => `phone#${phone}`;
/** An operator's block of a phone number (Users table; expires by TTL when it has an end). */
export const phoneBlockKey = (phone: string) => `block#${phone}`;
/** One day's operator audit records (Users table), `day` as YYYY-MM-DD in UTC. */
export const auditDayKey = (day: string) => `audit#${day}`;
export const refreshTokenKey = (hash: string) => `token#${hash}`;
export const tokenFamilyKey = (familyId: string) => `family#${familyId}`;
export const rateLimitCounterKey = (name: string) => `rl#${name}`;
export const otpChallengeKey = (phone: string) => `otp#${phone}`;

/** DynamoDB TTL wants epoch seconds; the core speaks milliseconds. */
export const ttlSeconds = (epochMs: number) => Math.ceil(epochMs / 1000);
