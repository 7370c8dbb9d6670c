import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { assertAccessible, DESKTOP, screenshot } from './support/portal.js';
import { PortalTeam } from './support/portal-team.js';

// Every page of the portal, visited as its users meet it, checked by axe-core at 1280 px and
// 390 px and once more with Windows High Contrast (`forced-colors: active`) emulated. The
// first test proves the tour is complete: every GET route the portal registers is either
// visited here or named below with the test file that visits it.

const SRC_DIR = join(process.cwd(), 'src');
const WEB_DIR = join(SRC_DIR, 'http', 'web');

/** Pages this tour cannot reach on its team's server, and where each is checked instead. */
const VISITED_ELSEWHERE: Record<string, string> = {
  '/setup/:token': 'a help desk that does not exist yet: portal-self-service.test.ts screenshots setup',
  '/interaction/:uid': "an app's sign-in: oidc-browser.test.ts screenshots its steps",
  '/login/two-factor': 'needs a second-step challenge: portal-two-factor.test.ts',
  '/assets/webauthn/simplewebauthn-browser.js': 'a script, not a page',
};

/** Every `const NAME = '…'` (or `= OTHER_NAME`) in the sources, for the route paths kept in constants. */
function pathConstants(): Map<string, string> {
  const constants = new Map<string, string>();
  const aliases = new Map<string, string>();
  for (const file of readdirSync(SRC_DIR, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(SRC_DIR, file), 'utf8');
    for (const m of source.matchAll(/const ([A-Z_]+) = '([^']*)'/g)) constants.set(m[1], m[2]);
    for (const m of source.matchAll(/const ([A-Z_]+) = ([A-Z_]+);/g)) aliases.set(m[1], m[2]);
  }
  for (const [name, target] of aliases) if (constants.has(target)) constants.set(name, constants.get(target)!);
  return constants;
}

/** The GET routes registered in src/http/web, their constants resolved. */
function portalGetRoutes(): string[] {
  const constants = pathConstants();
  const resolve = (name: string) => constants.get(name) ?? name;
  const routes = new Set<string>();
  for (const file of readdirSync(WEB_DIR).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(WEB_DIR, file), 'utf8');
    for (const m of source.matchAll(/\bapp\.get(?:<[^>]*>)?\(\s*(?:'([^']+)'|`([^`]+)`|([A-Z_]+)\s*,)/g)) {
      const raw = m[1] ?? m[2] ?? resolve(m[3]);
      routes.add(raw.replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => resolve(name)));
    }
  }
  return [...routes].sort();
}

let team: PortalTeam;
let appId = '';
let resetToken = '';
const visited = new Set<string>();

/** Opens `path` on `page` and runs axe at both widths and under forced colors. */
async function check(page: Page, route: string, path: string, name: string): Promise<void> {
  visited.add(route);
  await page.goto(`${team.origin}${path}`);
  await screenshot(page, `tour-${name}`);
  await page.setViewportSize(DESKTOP);
  await page.emulateMedia({ forcedColors: 'active' });
  try {
    await assertAccessible(page, `tour-${name}`, 'forced colors');
  } finally {
    await page.emulateMedia({ forcedColors: 'none' });
  }
}

describe('every portal page passes axe at both widths and under forced colors', () => {
  before(async () => {
    team = await PortalTeam.start();
    const created = await team.t.post('/api/v1/apps', { name: 'Zammad', type: 'confidential', redirectUris: ['https://helpdesk.acme.test/auth/openid_connect/callback'] }, team.ownerToken);
    assert.equal(created.status, 201, created.raw);
    appId = created.body.id;
    const since = team.t.smtp.messages.length;
    assert.equal((await team.t.post('/api/v1/auth/forgot-password', { email: team.people.bob.email })).status, 202);
    resetToken = team.t.linkToken(await team.t.mailTo(team.people.bob.email, /reset/i, since));
  });
  after(async () => team?.close());

  test('signed out: sign-in, forgot password, a reset link (live and dead), an unknown page', async () => {
    const { page } = await team.visitor();
    await check(page, '/login', '/login', 'login');
    await check(page, '/forgot-password', '/forgot-password', 'forgot-password');
    await check(page, '/forgot-password/sent', '/forgot-password/sent', 'forgot-password-sent');
    await check(page, '/reset-password/:token', `/reset-password/${resetToken}`, 'reset-password');
    await check(page, '/reset-password/:token', `/reset-password/${'x'.repeat(43)}`, 'reset-link-dead');
    await check(page, '/', '/', 'signed-out-root');
    await page.goto(`${team.origin}/no-such-page`);
    await assertAccessible(page, 'tour-not-found-signed-out');
  });

  test('the Account Administrator: every page of Your apps, My Settings and Manage, every agent', async () => {
    const page = team.owner;
    for (const [route, path, name] of [
      ['/apps', '/apps', 'apps'],
      ['/manage', '/manage', 'manage'],
      ['/my-settings', '/my-settings', 'my-settings'],
      ['/my-settings/password', '/my-settings/password', 'my-password'],
      ['/my-settings/sessions', '/my-settings/sessions', 'my-sessions'],
      ['/my-settings/preferences', '/my-settings/preferences', 'my-preferences'],
      ['/my-settings/two-factor', '/my-settings/two-factor', 'my-two-factor'],
      ['/my-settings/two-factor/totp', '/my-settings/two-factor/totp', 'my-two-factor-totp'],
      ['/manage/agents', '/manage/agents', 'agents'],
      ['/manage/agents/new', '/manage/agents/new', 'agent-new'],
      ['/manage/roles', '/manage/roles', 'roles'],
      ['/manage/audit', '/manage/audit', 'audit'],
      ['/manage/account', '/manage/account', 'account-settings'],
      ['/manage/apps', '/manage/apps', 'manage-apps'],
      ['/manage/apps/new', '/manage/apps/new', 'app-new'],
      ['/manage/apps/:id', `/manage/apps/${appId}`, 'app'],
    ] as const) {
      await check(page, route, path, name);
    }
    for (const [key, person] of Object.entries(team.people)) {
      await check(page, '/manage/agents/:id', `/manage/agents/${person.id}`, `agent-${key}`);
    }
    await check(page, '/manage/agents/:id', `/manage/agents/${team.ownerId}`, 'agent-self');
    await page.goto(`${team.origin}/manage/no-such-page`);
    await assertAccessible(page, 'tour-not-found-signed-in');
  });

  test('an agent without Manage permissions: refused pages; an agent who must change a one-time password', async () => {
    const bob = await team.signedIn(team.people.bob.email, team.people.bob.password);
    await check(bob, '/manage/agents', '/manage/agents', 'forbidden-agents');
    await check(bob, '/manage/audit', '/manage/audit', 'forbidden-audit');
    const pat = await team.signedIn(team.people.pat.email, 'Temporary-Lagoon-Fossil-22');
    const requiredChange = new URL(pat.url()).pathname;
    assert.notEqual(requiredChange, '/apps', 'a one-time password leads to the required change');
    await check(pat, requiredChange, requiredChange, 'required-change');
  });

  test('the tour visited every page the portal registers', () => {
    const missing = portalGetRoutes().filter((route) => !visited.has(route) && !(route in VISITED_ELSEWHERE));
    assert.deepEqual(missing, [], 'GET routes of src/http/web that no axe check visits: add them to this tour');
    assert.ok(visited.size >= 20, `the tour visited ${visited.size} routes`);
  });
});
