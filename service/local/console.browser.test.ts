/**
 * The sandbox console in a real browser: headless Chromium (the system's, through playwright-core)
 * against a sandbox this test starts on 127.0.0.1. A developer's afternoon: send a code through the
 * API, see it in the outbox, sign in with it, find the user, expire its access tokens, revoke its
 * sessions (the next refresh fails), look at the requests, rotate a key ring, delete the account.
 * Screenshots of every panel at 1280×800 and 390×844 go to test-output/console/.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, testOutputFolder } from '../testing/chromium.js';
import { startSandbox, type Sandbox } from './sandbox.js';

const phone = '+14155550160';
const panels = ['outbox', 'users', 'requests', 'secrets'] as const;
/** What each panel shows once it has loaded what the test made. */
const ready = { outbox: '#outbox-list table', users: '#user-detail .profile', requests: '#request-detail pre', secrets: '#secret-rings .card' };
const sizes = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;

interface Session {
  readonly token: string;
  readonly refreshToken: string;
  readonly user: { readonly id: string };
}

describe('the sandbox console, in Chromium', () => {
  let stateDir: string;
  let sandbox: Sandbox;
  let browser: Browser;
  let output: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'chatshyld-console-'));
    output = await testOutputFolder('console');
    [sandbox, browser] = await Promise.all([startSandbox({ stateDir }), launchChromium()]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await sandbox?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  const api = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(`${sandbox.url}${path}`, {
      method,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...(token && { authorization: `Bearer ${token}` }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as any) : undefined };
  };

  /** Sends a code through the API and reads it off the console's outbox, as a developer would. */
  const codeFromOutbox = async (page: Page) => {
    expect((await api('POST', '/auth/send-otp', { phone })).status).toBe(200);
    const row = page.locator(`#outbox-list tr[data-phone="${phone}"][data-state="pending"]`);
    await row.waitFor({ timeout: 10_000 });
    return (await row.locator('.code-button').textContent())!.trim();
  };

  const signIn = async (code: string): Promise<Session> => {
    const login = await api('POST', '/auth/verify-otp', { phone, code });
    expect(login.status).toBe(200);
    return login.body as Session;
  };

  /** An avatar the browser paints itself, uploaded through the presigned POST as the app does. */
  const uploadAvatar = async (page: Page, session: Session) => {
    const painter = await page.context().newPage();
    await painter.setViewportSize({ width: 96, height: 96 });
    await painter.setContent(
      '<body style="margin:0"><div style="width:96px;height:96px;display:grid;place-items:center;background:linear-gradient(135deg,#7c3aed,#2563eb);color:#fff;font:600 40px system-ui">AL</div></body>',
    );
    const png = await painter.screenshot({ type: 'png' });
    await painter.close();
    const presign = await api('POST', '/profile/avatar/presign', { contentType: 'image/png' }, session.token);
    expect(presign.status).toBe(200);
    const form = new FormData();
    for (const [name, value] of Object.entries(presign.body.fields as Record<string, string>)) form.append(name, value);
    form.append('file', new Blob([png], { type: 'image/png' }), 'avatar.png');
    expect((await fetch(presign.body.url, { method: 'POST', body: form })).status).toBeLessThan(300);
    const patched = await api('PATCH', '/profile/me', { name: 'Ada Lovelace', photoKey: presign.body.key }, session.token);
    expect(patched.status).toBe(200);
  };

  const openUser = async (page: Page, userId: string) => {
    await page.goto(`${sandbox.consoleUrl}#users`);
    await page.fill('#user-search', '415 555 0160');
    const row = page.locator(`#user-list .row[data-user="${userId}"]`);
    await row.waitFor();
    await expect.poll(() => page.locator('#user-list .row').count(), { timeout: 15_000 }).toBe(1);
    await row.click();
    await page.locator('#user-detail .profile').waitFor();
  };

  /** A sign-in of another number, with the code read from the outbox the test holds. */
  const signInAs = async (number: string): Promise<Session> => {
    expect((await api('POST', '/auth/send-otp', { phone: number })).status).toBe(200);
    const login = await api('POST', '/auth/verify-otp', { phone: number, code: sandbox.outbox.latest(number)!.code });
    expect(login.status).toBe(200);
    return login.body as Session;
  };

  /** At phone width the detail is below the list: picking a row must scroll it to the top of the window. */
  const expectInView = async (page: Page, selector: string) => {
    // Scrolled to: its top near the top of the window, or the page scrolled as far as it goes.
    const scrolledTo = () =>
      page.locator(selector).evaluate((detail: any) => {
        const view = (globalThis as any).window;
        const top = detail.getBoundingClientRect().top;
        return Math.abs(top) <= 80 || (view.scrollY > 0 && view.scrollY + view.innerHeight >= view.document.documentElement.scrollHeight - 2);
      });
    await expect.poll(scrolledTo, { timeout: 15_000, message: selector }).toBe(true);
  };

  const screenshots = async (page: Page, size: keyof typeof sizes) => {
    for (const panel of panels) {
      await page.goto(`${sandbox.consoleUrl}#${panel}`);
      await page.locator(`#${panel}`).waitFor();
      await page.locator('#live[data-state="live"]').waitFor();
      if (size === 'phone') {
        // All four tabs fit (or the bar shows it scrolls): none is cut off at the window's edge.
        for (const name of panels) {
          const box = (await page.locator(`#tab-${name}`).boundingBox())!;
          expect(box.x + box.width, `tab ${name} at ${size}`).toBeLessThanOrEqual(sizes.phone.width);
        }
      }
      if (panel === 'users') {
        // Everyone listed (no search left over), so the newest — the 64-W name — is the one opened.
        await page.fill('#user-search', '');
        await expect.poll(() => page.locator('#user-list .row').first().textContent(), { timeout: 15_000 }).toContain('W'.repeat(64));
        await page.locator('#user-list .row').first().click();
      }
      if (panel === 'requests') await page.locator('#request-list .row', { hasText: '/profile/me' }).first().click();
      await page.locator(ready[panel]).first().waitFor();
      if (size === 'phone' && panel === 'users') await expectInView(page, '#user-detail');
      if (size === 'phone' && panel === 'requests') await expectInView(page, '#request-detail');
      // Tidy at this width: nothing sticks out sideways.
      const overflow = await page.evaluate(() => {
        // Runs in the page (this project's types have no DOM).
        const root = (globalThis as any).document.documentElement;
        return root.scrollWidth - root.clientWidth;
      });
      expect(overflow, `${panel} at ${size} is wider than the window`).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(output, `${panel}-${size}.png`), fullPage: size === 'phone' });
    }
  };

  it('follows a code from the API to the outbox, a user through sign-in, revocation and deletion', async () => {
    const context = await browser.newContext({ viewport: sizes.desktop });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${sandbox.consoleUrl}#outbox`);
    await page.locator('#live[data-state="live"]').waitFor();
    await page.locator('#outbox-list .empty').waitFor();

    // A code sent through the API appears live, and one click copies it.
    const code = await codeFromOutbox(page);
    expect(code).toBe(sandbox.outbox.latest(phone)!.code);
    await page.locator(`#outbox-list tr[data-phone="${phone}"] .code-button`).click();
    await expect.poll(() => page.locator('#toast').textContent(), { timeout: 15_000 }).toBe(`Copied ${code}`);

    // Signing in with it marks it used; a second sign-in is a second device.
    const first = await signIn(code);
    await page.locator(`#outbox-list tr[data-phone="${phone}"][data-state="used"]`).waitFor();
    const second = await signIn(await codeFromOutbox(page));
    expect(second.user.id).toBe(first.user.id);
    await uploadAvatar(page, second);
    expect((await api('GET', '/profile/me', undefined, second.token)).status).toBe(200);

    // The user, found by any spelling of the number, with profile, avatar and both sessions.
    await openUser(page, first.user.id);
    const detail = page.locator('#user-detail');
    await expect.poll(() => detail.locator('h3').textContent(), { timeout: 15_000 }).toBe('Ada Lovelace');
    await expect.poll(() => detail.locator('[data-devices]').getAttribute('data-devices'), { timeout: 15_000 }).toBe('2');
    expect(await detail.locator('tr[data-status="active"]').count()).toBe(2);
    const avatar = detail.locator('img.avatar');
    await avatar.waitFor();
    await expect.poll(() => avatar.evaluate((image: any) => image.complete && image.naturalWidth), { timeout: 15_000 }).toBe(96);

    // A valid name with no spaces must not push anything sideways: this user is the newest, so the
    // one the screenshots open.
    const wide = await signInAs('+14155550161');
    expect((await api('PATCH', '/profile/me', { name: 'W'.repeat(64) }, wide.token)).status).toBe(200);

    // Every panel, at both sizes, while there is something to show.
    await screenshots(page, 'desktop');
    const phoneContext = await browser.newContext({ viewport: sizes.phone, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await screenshots(await phoneContext.newPage(), 'phone');
    await phoneContext.close();

    // "Expire access tokens now": the app's next call is refused, its refresh still works.
    await openUser(page, first.user.id);
    await detail.getByRole('button', { name: 'Expire access tokens now' }).click();
    await expect.poll(() => page.locator('#toast').textContent(), { timeout: 15_000 }).toBe('Access tokens expired');
    expect((await api('GET', '/profile/me', undefined, second.token)).status).toBe(401);
    const refreshed = await api('POST', '/auth/refresh', { refreshToken: second.refreshToken });
    expect(refreshed.status).toBe(200);
    expect((await api('GET', '/profile/me', undefined, refreshed.body.token)).status).toBe(200);

    // Revoke one family, then all: the next refresh of each fails with 401.
    const families = await detail.locator('tr[data-family]').evaluateAll((rows: any[]) => rows.map((row) => row.dataset.family as string));
    expect(families).toHaveLength(2);
    await detail.locator(`tr[data-family="${families[1]}"]`).getByRole('button', { name: 'Revoke' }).click();
    await detail.locator(`tr[data-family="${families[1]}"][data-status="revoked"]`).waitFor();
    await detail.getByRole('button', { name: 'Revoke all sessions' }).click();
    await expect.poll(() => detail.locator('tr[data-status="active"]').count(), { timeout: 15_000 }).toBe(0);
    expect((await api('POST', '/auth/refresh', { refreshToken: first.refreshToken })).status).toBe(401);
    expect((await api('POST', '/auth/refresh', { refreshToken: refreshed.body.refreshToken })).status).toBe(401);
    expect((await api('GET', '/profile/me', undefined, refreshed.body.token)).status).toBe(401);

    // The requests, with what the handler received: authorization redacted, no token anywhere.
    await page.goto(`${sandbox.consoleUrl}#requests`);
    const refused = page.locator('#request-list .row', { hasText: '/auth/refresh' }).first();
    await refused.waitFor();
    expect(await refused.locator('.badge').textContent()).toBe('401');
    await page.locator('#request-list .row', { hasText: '/profile/me' }).first().click();
    await page.locator('#request-detail pre').first().waitFor();
    const shown = (await page.locator('#request-detail').textContent())!;
    expect(shown).toContain('"authorization": "[redacted]"');
    for (const secret of [first.token, second.token, refreshed.body.token, first.refreshToken, refreshed.body.refreshToken]) {
      expect(await page.content()).not.toContain(secret);
    }

    // Rotate the JWT key ring from the console: the CLI's rotation, kids and fingerprints only.
    await page.goto(`${sandbox.consoleUrl}#secrets`);
    const ring = page.locator('.card[data-ring="jwt-secret"]');
    const signingBefore = await ring.locator('tr[data-role="signing"]').getAttribute('data-kid');
    await ring.getByRole('button', { name: 'Rotate' }).click();
    await ring.locator('.rotation[data-state="done"]').waitFor({ timeout: 20_000 });
    const signingAfter = await ring.locator('tr[data-role="signing"]').getAttribute('data-kid');
    expect(signingAfter).not.toBe(signingBefore);
    expect(await ring.locator(`tr[data-kid="${signingBefore}"]`).getAttribute('data-role')).toBe('verify-only');
    const file = JSON.parse(await readFile(sandbox.secretsPath, 'utf8'));
    expect(file.secrets['jwt-secret'].current.kid).toBe(signingAfter);
    const html = await page.content();
    for (const name of ['jwt-secret', 'refresh-pepper'] as const) {
      const keys = [file.secrets[name].current, ...(file.secrets[name].verifyOnly ?? [])];
      for (const key of keys) expect(html).not.toContain(key.secret);
    }
    // Tokens signed with the new key work at once: the sandbox's handlers re-read the ring.
    const third = await signIn(await (async () => {
      await page.goto(`${sandbox.consoleUrl}#outbox`);
      return codeFromOutbox(page);
    })());
    expect(JSON.parse(Buffer.from(third.token.split('.')[0]!, 'base64url').toString()).kid).toBe(signingAfter);
    expect((await api('GET', '/profile/me', undefined, third.token)).status).toBe(200);

    // Delete the account: gone from the list, its tokens refused.
    await openUser(page, first.user.id);
    page.once('dialog', (dialog) => void dialog.accept());
    await detail.getByRole('button', { name: 'Delete account' }).click();
    await page.locator('#user-list .empty').waitFor();
    expect((await api('GET', '/profile/me', undefined, third.token)).status).toBe(401);
    expect((await api('POST', '/auth/refresh', { refreshToken: third.refreshToken })).status).toBe(401);

    expect(pageErrors).toEqual([]);
    await context.close();
  }, 120_000);

  it('drops the selected request when the page reconnects to a restarted sandbox (its ids start again at 1), and shows why a damaged secrets file cannot be read', async () => {
    const restartDir = await mkdtemp(join(tmpdir(), 'chatshyld-console-restart-'));
    const first = await startSandbox({ stateDir: restartDir });
    const context = await browser.newContext({ viewport: sizes.desktop });
    let second: Sandbox | undefined;
    try {
      const page = await context.newPage();
      await page.goto(`${first.consoleUrl}#requests`);
      await page.locator('#live[data-state="live"]').waitFor({ timeout: 15_000 });
      expect((await fetch(`${first.url}/profile/me`)).status).toBe(401);
      await page.locator('#request-list .row', { hasText: '/profile/me' }).first().click();
      await page.locator('#request-detail pre').first().waitFor({ timeout: 15_000 });

      await first.close();
      await page.locator('#live[data-state="lost"]').waitFor({ timeout: 15_000 });
      second = await startSandbox({ stateDir: restartDir, port: first.port });
      await page.locator('#live[data-state="live"]').waitFor({ timeout: 30_000 });
      await page.locator('#request-detail .empty').waitFor({ timeout: 15_000 });
      expect(await page.locator('#request-detail pre').count()).toBe(0);

      // A secrets file damaged while the sandbox runs: the Secrets panel says why, naming the file.
      const good = await readFile(second.secretsPath, 'utf8');
      await writeFile(second.secretsPath, good.slice(0, 30));
      await page.goto(`${second.consoleUrl}#secrets`);
      const problem = page.locator('#secret-rings [data-problem="file"]');
      await problem.waitFor({ timeout: 15_000 });
      expect(await problem.textContent()).toContain(second.secretsPath);
      await writeFile(second.secretsPath, good);
    } finally {
      await context.close();
      await second?.close();
      await rm(restartDir, { recursive: true, force: true });
    }
  }, 120_000);
});
