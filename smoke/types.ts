export type StepStatus = 'passed' | 'failed' | 'skipped';

export interface Exchange {
  readonly request: { method: string; url: string; headers: Record<string, string>; body?: unknown };
  readonly response?: { status: number; headers: Record<string, string>; body?: unknown };
}

export interface StepResult {
  readonly name: string;
  readonly title: string;
  readonly status: StepStatus;
  readonly durationMs: number;
  /** Why it failed, in one line. */
  readonly message?: string;
  /** The request and response that failed it (redacted). */
  readonly exchange?: Exchange;
}

export interface SmokeReport {
  readonly target: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly passed: boolean;
  /** Stopped by Ctrl-C: the steps not run are skipped; the cleanup still ran if there was a user. */
  readonly interrupted?: boolean;
  readonly steps: readonly StepResult[];
}
