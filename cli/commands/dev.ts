import { join } from 'node:path';
import { consolePath, sandboxOtpPath, startSandbox, type Sandbox } from '../../service/local/sandbox.js';
import { findConfig, localStage, stageSettings } from '../config.js';
import { CliError, exitCodes } from '../errors.js';
import type { CommandContext } from '../command-context.js';
import { formatLogEntry, shouldPrint } from '../sandbox-log.js';
import { untilSignal } from '../signals.js';

export interface DevOptions {
  readonly port: number;
  readonly persist?: boolean;
  readonly reset?: boolean;
  /** commander's `--no-watch` sets it false. */
  readonly watch?: boolean;
}

function isConsoleTraffic(path: string): boolean {
  return (path === consolePath.slice(0, -1) || path.startsWith(consolePath)) && !path.startsWith(sandboxOtpPath);
}

/**
 * `chatshyld dev`: the sandbox in the foreground until Ctrl-C, one per project (a second one is
 * refused with the first one's process id and URL), reloading the functions a save changes.
 */
export async function dev(options: DevOptions, { out, streams }: CommandContext): Promise<number> {
  const loaded = await findConfig(streams.cwd);
  const root = loaded?.root ?? streams.cwd;
  const stateDir = join(root, '.chatshyld', 'local');
  const paint = out.paintErr;
  const stop = untilSignal();

  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox({
      port: options.port,
      stateDir,
      persist: Boolean(options.persist),
      reset: Boolean(options.reset),
      exclusive: true,
      watch: options.watch !== false,
      prewarm: true,
      onReload: (event) => {
        if (event.kind === 'reloaded') out.info(`reloaded ${event.routes.join(', ')} in ${Math.round(event.ms)} ms`);
        else if (event.kind === 'unchanged') out.debug(`saved: no function changed (${Math.round(event.ms)} ms)`);
        else if (event.kind === 'failed') out.info(`${paint.red('reload failed')}: ${event.message}; still serving the last good build`);
        else out.info(`${paint.bold(event.file)} changed: routes, grants and environments are set at start; restart chatshyld dev to apply it`);
      },
      settings: stageSettings(loaded?.config.stages[localStage]),
      onRequest: ({ method, path, status, ms, logs }) => {
        // The console page's own traffic (assets, its API, its event stream) is noise unless refused.
        if (isConsoleTraffic(path) && status < 400 && !out.verbose) return;
        const colour = status >= 500 ? paint.red : status >= 400 ? paint.bold : paint.green;
        out.info(`${method.padEnd(6)} ${path} ${colour(String(status))} ${paint.dim(`${ms.toFixed(1)} ms`)}`);
        for (const entry of logs) {
          if (shouldPrint(entry, out.verbose)) out.info(formatLogEntry(entry, paint, out.verbose).join('\n'));
        }
      },
      onLog: (entry) => {
        if (shouldPrint(entry, out.verbose)) out.info(formatLogEntry(entry, paint, out.verbose).join('\n'));
      },
      onOtp: ({ phone, code, expiresAt }) =>
        out.info(`${paint.bold('OTP')} for ${phone}: ${paint.bold(code)} ${paint.dim(`(valid until ${expiresAt})`)}`),
    });
  } catch (error) {
    stop.dispose();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new CliError(
        'port_in_use',
        `port ${options.port} on 127.0.0.1 is in use`,
        'pick another with --port <n>, or --port 0 for a free one',
        exitCodes.usage,
      );
    }
    throw error;
  }

  out.result(`ChatShyld sandbox ready at ${sandbox.url} · console ${sandbox.consoleUrl}`);
  out.resultJson({ url: sandbox.url, port: sandbox.port, consoleUrl: sandbox.consoleUrl, secretsFile: sandbox.secretsPath });
  out.debug(`secrets: ${sandbox.secretsPath}${options.persist ? `; data: ${join(stateDir, 'data')}` : ''}`);

  const signal = await stop.promise;
  out.info(`${signal === 'SIGINT' ? 'interrupted' : 'stopping'}: closing the sandbox`);
  await sandbox.close();
  // Stopping is how a foreground server ends: a clean stop is a success.
  return exitCodes.ok;
}
