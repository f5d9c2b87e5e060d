/**
 * The one error the deploy lifecycle and the CDK engine both raise. It lives apart from both so that
 * the lifecycle (which drives the engine) imports the engine, and the engine imports neither.
 */

/** Refused before any AWS call: each names the flag or step that would allow it. */
export class LifecycleRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'LifecycleRefused';
  }
}
