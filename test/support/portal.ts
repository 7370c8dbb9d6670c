import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import type { Config } from '../../src/config.js';
import { TestApp } from './harness.js';

/** Debian's chromium, driven by playwright-core (no browser download). */
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const SCREENSHOT_DIR = join(process.cwd(), 'test-output', 'screenshots');

export function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} is missing: install it with "apt-get install -y chromium" (.ci/run does)`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A real Deskpass on a real port, its PUBLIC_URL that very origin (links in emails point at
 * it, and the session cookie is scoped to it), with the harness's SMTP capture and clock.
 * `hostname: 'localhost'` for passkeys: WebAuthn wants the page's origin to be PUBLIC_URL's
 * and the RP ID to be a domain, not an IP address (the server still listens on 127.0.0.1).
 */
export async function startPortal(overrides: Partial<Config> = {}, options: { hostname?: 'localhost' | '127.0.0.1' } = {}): Promise<{ t: TestApp; origin: string }> {
  const port = await freePort();
  const origin = `http://${options.hostname ?? '127.0.0.1'}:${port}`;
  const t = await TestApp.start({ publicUrl: origin, port, ...overrides });
  await t.app.listen({ port, host: '127.0.0.1' });
  return { t, origin };
}

/**
 * A browser profile of its own (cookies and all), desktop-sized. Confirmation dialogs are
 * accepted, and any Content-Security-Policy violation is added to `cspViolations`, so tests
 * can assert there were none.
 */
export async function newVisitor(browser: Browser, cspViolations: string[]): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  page.on('dialog', (dialog) => void dialog.accept());
  return { context, page };
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** One axe finding, short enough to read in a failed assertion. */
export interface AxeFinding {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * axe-core over the page as it is now (WCAG 2.2 A and AA rules, plus axe's best practices).
 * Injected through the DevTools protocol, which the page's Content-Security-Policy does not
 * govern, so the page is checked with its real CSP in force.
 */
export async function axeFindings(page: Page): Promise<AxeFinding[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.map(String).join(' ')) }));
  });
}

/** Every page a test screenshots is checked by axe at each width; the findings are collected here. */
export const axeReport: Array<{ page: string; width: string; findings: AxeFinding[] }> = [];

/** Fails with the findings when axe finds anything on the page (at its current width and media). */
export async function assertAccessible(page: Page, name: string, width = 'desktop'): Promise<void> {
  const findings = await axeFindings(page);
  axeReport.push({ page: name, width, findings });
  if (findings.length > 0) {
    throw new Error(`axe found ${findings.length} violation(s) on ${name} (${width}):\n` + findings.map((f) => `- ${f.id} (${f.impact}): ${f.help} at ${f.targets.join(', ')}`).join('\n'));
  }
}

/**
 * A full-page screenshot at desktop (1280×800 unless told) and phone (390×844) widths:
 * NAME-desktop.png, NAME-phone.png; axe checks the page at each width (0 violations or it throws).
 */
export async function screenshot(page: Page, name: string, desktop: { width: number; height: number } = DESKTOP): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const original = page.viewportSize() ?? desktop;
  await page.setViewportSize(desktop);
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}-desktop.png`), fullPage: true });
  await assertAccessible(page, name, 'desktop');
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}-phone.png`), fullPage: true });
  await assertAccessible(page, name, 'phone');
  await page.setViewportSize(original);
}

/** Fills the sign-in form and sends it; resolves once the next page has loaded. */
export async function signInThroughPage(page: Page, origin: string, email: string, password: string): Promise<Response | null> {
  await page.goto(`${origin}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  return clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
}

/** Clicks something that submits a form or follows a link, and waits for the page it leads to. */
export async function clickAndWait(page: Page, target: { click(): Promise<void> }): Promise<Response | null> {
  const [response] = await Promise.all([page.waitForNavigation(), target.click()]);
  return response;
}

/** The text of the page's flash message or form error, for assertions. */
export async function alertText(page: Page): Promise<string> {
  // flash messages (.alert) and the error summary of a refused form (.error-summary)
  const texts = await page.locator('.alert, .error-summary').allInnerTexts();
  return texts.join('\n');
}
