import type { SourceTree } from './command-context.js';
import { CliError, exitCodes } from './errors.js';

/**
 * Template, grants and CLI code come from the sources as they were when the CLI started (it was
 * compiled from them); the function bundles are made from the sources as they are when bundled. An
 * edit in between would ship a template and bundles from two trees: refused, to be run again.
 */
export function assertSourcesUnchanged(sources: SourceTree | undefined, what: string): void {
  const changed = sources?.changedSinceStart() ?? [];
  if (changed.length === 0) return;
  throw new CliError(
    'sources_changed',
    `the sources changed while ${what} (${changed.join(', ')}): the template and the function bundles could come from two different trees`,
    'run the command again once your edits are saved',
    exitCodes.failed,
  );
}
