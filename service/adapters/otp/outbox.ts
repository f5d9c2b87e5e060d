/**
 * The sandbox's OTP provider: makes a random 6-digit code, keeps the plaintext only in an in-memory
 * outbox (what a phone would have received), and remembers only the code's hash for checking.
 */
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Clock, OtpCheckResult, OtpSender } from '../../core/ports.js';

export interface OutboxMessage {
  readonly phone: string;
  readonly code: string;
  /** ISO 8601. */
  readonly expiresAt: string;
}

/** A code as the sandbox console lists it: sent, then used, replaced by a newer one, or expired. */
export interface SentCode extends OutboxMessage {
  readonly sentAt: string;
  readonly state: 'pending' | 'used' | 'replaced' | 'expired';
  readonly usedAt: string | null;
}

/** How many sent codes the console can list. */
const sentKept = 100;

export interface SandboxOtpOptions {
  readonly ttlSeconds?: number;
  /** Called with every code sent (the sandbox prints it). */
  readonly onSend?: (message: OutboxMessage) => void;
}

export class SandboxOtpSender implements OtpSender {
  private readonly hashKey = randomBytes(32);
  private readonly pending = new Map<string, { hash: Buffer; expiresAt: number }>();
  private readonly outbox = new Map<string, OutboxMessage>();
  private readonly sent: { message: OutboxMessage; sentAt: number; usedAt?: number }[] = [];
  private readonly ttlMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly options: SandboxOtpOptions = {},
  ) {
    this.ttlMs = (options.ttlSeconds ?? 600) * 1000;
  }

  async send(phone: string): Promise<void> {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const expiresAt = this.clock.now() + this.ttlMs;
    this.pending.set(phone, { hash: this.hash(phone, code), expiresAt });
    const message = { phone, code, expiresAt: new Date(expiresAt).toISOString() };
    this.outbox.set(phone, message);
    this.sent.push({ message, sentAt: this.clock.now() });
    if (this.sent.length > sentKept) this.sent.shift();
    this.options.onSend?.(message);
  }

  async check(phone: string, code: string): Promise<OtpCheckResult> {
    const entry = this.pending.get(phone);
    if (!entry || entry.expiresAt <= this.clock.now()) return 'rejected';
    if (!timingSafeEqual(entry.hash, this.hash(phone, code))) return 'rejected';
    // Single use, as with Twilio: an approved code is forgotten.
    this.pending.delete(phone);
    const used = this.outbox.get(phone);
    this.outbox.delete(phone);
    const sent = this.sent.findLast((candidate) => candidate.message === used);
    if (sent) sent.usedAt = this.clock.now();
    return 'approved';
  }

  /** The pending code for a phone, as `GET /__sandbox/otp/<phone>` serves it. */
  latest(phone: string): OutboxMessage | undefined {
    const message = this.outbox.get(phone);
    if (!message || Date.parse(message.expiresAt) <= this.clock.now()) return undefined;
    return message;
  }

  /** Every code sent (the last hundred), newest first. */
  history(): SentCode[] {
    const now = this.clock.now();
    return this.sent
      .map(({ message, sentAt, usedAt }) => ({
        ...message,
        sentAt: new Date(sentAt).toISOString(),
        usedAt: usedAt === undefined ? null : new Date(usedAt).toISOString(),
        state:
          usedAt !== undefined
            ? ('used' as const)
            : this.outbox.get(message.phone) !== message
              ? ('replaced' as const)
              : Date.parse(message.expiresAt) <= now
                ? ('expired' as const)
                : ('pending' as const),
      }))
      .reverse();
  }

  private hash(phone: string, code: string): Buffer {
    return createHmac('sha256', this.hashKey).update(`${phone}:${code}`).digest();
  }
}
