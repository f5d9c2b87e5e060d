/**
 * Headless Chromium for the console's browser tests: the system's browser (Debian's `chromium`),
 * driven by playwright-core through its executable path, so nothing downloads a browser.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

/** CHROMIUM_PATH, else /usr/bin/chromium, else whatever `chromium` is on the PATH. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium'];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  try {
    const found = execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
    if (found) return found;
  } catch {
    // not on the PATH either
  }
  throw new Error(
    'No Chromium found for the browser tests: install it (`sudo apt-get install -y chromium`, as .ci/run does) or set CHROMIUM_PATH.',
  );
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Chromium's own sandbox cannot start as root (CI containers); the pages it loads are our own.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** Where tests leave files for people to look at (screenshots): `test-output/<name>/`, or $CHATSHYLD_TEST_OUTPUT/<name>. */
export async function testOutputFolder(name: string): Promise<string> {
  const root = process.env.CHATSHYLD_TEST_OUTPUT ?? fileURLToPath(new URL('../../test-output/', import.meta.url));
  const folder = `${root.replace(/\/$/, '')}/${name}`;
  await mkdir(folder, { recursive: true });
  return folder;
}
