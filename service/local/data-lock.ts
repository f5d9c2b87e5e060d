/**
 * One sandbox at a time on a persisted data folder: `dev --persist` takes `<stateDir>/data.lock`
 * (holding its process id) and gives it back when it stops. A second `dev --persist`, or a
 * `dev --reset` from another terminal, is refused with the id of the process that holds the folder,
 * instead of dynalite's "Database is closed" or silently deleted data. A lock left by a process that
 * no longer runs is taken over.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStateError } from './secrets-file.js';

export interface DataLock {
  release(): Promise<void>;
}

/** Whether a process with this id runs (one of another user's counts too). */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live process holding the folder's data, if any. */
export async function dataHolder(stateDir: string): Promise<number | undefined> {
  const pid = Number((await readFile(join(stateDir, 'data.lock'), 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && processRunning(pid) ? pid : undefined;
}

/** Refuses when another live process holds the folder's data; `doing` says what was about to happen. */
export async function refuseIfHeld(stateDir: string, doing: string): Promise<void> {
  const holder = await dataHolder(stateDir);
  if (holder !== undefined) {
    throw new LocalStateError(
      `${doing}: the sandbox data in ${join(stateDir, 'data')} is in use by process ${holder} (a running \`chatshyld dev --persist\`)`,
      `stop that sandbox first (Ctrl-C in its terminal, or kill ${holder}), or run this one without --persist and --reset`,
    );
  }
}

export async function lockData(stateDir: string): Promise<DataLock> {
  await mkdir(stateDir, { recursive: true });
  const path = join(stateDir, 'data.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return { release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      await refuseIfHeld(stateDir, 'cannot start the sandbox');
      await rm(path, { force: true }); // left behind by a process that is gone
    }
  }
  throw new LocalStateError(`could not lock ${path}`, 'another sandbox is starting on the same folder; try again');
}
