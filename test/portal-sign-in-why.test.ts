import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { OWNER, type TestApp } from './support/harness.js';
import { enrolTotp } from './support/two-factor.js';
import { alertText, clickAndWait, launchBrowser, newVisitor, PHONE, screenshot, signInThroughPage, startPortal } from './support/portal.js';

/**
 * Issue 12, items 3, 8, 11 and 12 (header): the one-time password is typed once; the sign-in page
 * says why a session ended; an accepted invitation signs in; every page is a page (404, 429, 403);
 * the header's menu on a phone.
 */
let t: TestApp;
let origin: string;
let browser: Browser;
let agentRoleId: string;
const cspViolations: string[] = [];
let counter = 0;

const path = (page: Page) => new URL(page.url()).pathname;
const ownerToken = () => t.login(OWNER.email, OWNER.password);

/** An active agent (Agent role) with their own password. */
async function newAgent(name = 'Rowan Reyes'): Promise<{ id: string; email: string; name: string; password: string }> {
  counter += 1;
  const email = `why${counter}@acme.test`;
  const password = `Quartz-Harbor-Meadow-${30 + counter}`;
  t.secrets.add(password);
  const { id } = await t.addAgent(await ownerToken(), { email, name: `${name} ${counter}`, roleId: agentRoleId, password });
  return { id, email, name: `${name} ${counter}`, password };
}

async function visitor(): Promise<Page> {
  return (await newVisitor(browser, cspViolations)).page;
}

/** A page signed in as this agent, on Your apps. */
async function signedIn(email: string, password: string): Promise<Page> {
  const page = await visitor();
  await signInThroughPage(page, origin, email, password);
  assert.equal(path(page), '/apps');
  return page;
}

/** The page's sign-in notice (why the last session ended), or '' when there is none. */
async function notice(page: Page): Promise<string> {
  const found = page.locator('#sign-in-notice');
  return (await found.count()) ? found.innerText() : '';
}

before(async () => {
  ({ t, origin } = await startPortal());
  ({ agentRoleId } = await t.setup());
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await t?.close();
});

describe('the one-time password is typed once', () => {
  test('after signing in with it, the page asks only for the new password, and the agent lands on their apps', async () => {
    const agent = await newAgent('Tamsin Ode');
    const oneTime = 'Temporary-Kestrel-Lagoon-19';
    t.secrets.add(oneTime);
    assert.equal((await t.put(`/api/v1/agents/${agent.id}/password`, { password: oneTime, requireChangeAtNextLogin: true }, await ownerToken())).status, 204);
    const page = await visitor();
    await signInThroughPage(page, origin, agent.email, oneTime);
    assert.equal(path(page), '/password-change-required');
    assert.equal(await page.getByLabel('One-time password').count(), 0, 'not asked a second time');
    assert.match(await page.locator('main').innerText(), /You do not need to type the one-time password again/);
    await screenshot(page, 'signin-required-change');

    const chosen = 'Chosen-Saffron-Glacier-73';
    t.secrets.add(chosen);
    await page.getByLabel('New password', { exact: true }).fill(chosen);
    await page.getByLabel('Confirm new password').fill(chosen);
    await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    assert.equal(path(page), '/apps', 'home, not another change form');
    assert.match(await alertText(page), /You replaced the one-time password your administrator set/);
    await screenshot(page, 'signin-required-change-done');
    const mail = await t.smtp.waitFor((m) => m.to.includes(agent.email) && /was changed/.test(m.subject) && /one-time password/.test(m.text));
    assert.doesNotMatch(mail.text, /from My Settings/);
    // the new password is the one that works
    assert.equal((await t.post('/api/v1/auth/login', { email: agent.email, password: chosen })).status, 200);
    assert.equal((await t.post('/api/v1/auth/login', { email: agent.email, password: oneTime })).status, 401);
  });

  test('more than 10 minutes after the sign-in, the one-time password is asked again (and a wrong one changes nothing)', async () => {
    const agent = await newAgent('Uma Late');
    const oneTime = 'Temporary-Kestrel-Lagoon-20';
    t.secrets.add(oneTime);
    assert.equal((await t.put(`/api/v1/agents/${agent.id}/password`, { password: oneTime, requireChangeAtNextLogin: true }, await ownerToken())).status, 204);
    const page = await visitor();
    await signInThroughPage(page, origin, agent.email, oneTime);
    t.clock.advanceMs(11 * 60_000);
    await page.reload();
    assert.equal(await page.getByLabel('One-time password').count(), 1);
    const chosen = 'Chosen-Saffron-Glacier-74';
    t.secrets.add(chosen);
    await page.getByLabel('One-time password').fill('Not-The-One-Time-1');
    await page.getByLabel('New password', { exact: true }).fill(chosen);
    await page.getByLabel('Confirm new password').fill(chosen);
    await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    assert.match(await alertText(page), /one-time password is not correct/);
    assert.equal((await t.post('/api/v1/auth/login', { email: agent.email, password: chosen })).status, 401, 'nothing changed');
  });
});

describe('the sign-in page says why the session ended', () => {
  test('signed out by an administrator', async () => {
    const agent = await newAgent();
    const page = await signedIn(agent.email, agent.password);
    assert.equal((await t.post(`/api/v1/agents/${agent.id}/sessions/revoke`, undefined, await ownerToken())).status, 204);
    await page.goto(`${origin}/my-settings/password`);
    assert.equal(path(page), '/login');
    assert.equal(new URL(page.url()).searchParams.get('reason'), 'revoked_by_admin');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/my-settings/password');
    assert.match(await notice(page), /An administrator signed you out of every session/);
    await screenshot(page, 'signin-why-admin');
    // signing in again goes on to where they were going
    await page.getByLabel('Email').fill(agent.email);
    await page.getByLabel('Password', { exact: true }).fill(agent.password);
    await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(path(page), '/my-settings/password');
  });

  test('password changed from another session', async () => {
    const agent = await newAgent();
    const laptop = await signedIn(agent.email, agent.password);
    const phone = await signedIn(agent.email, agent.password);
    const chosen = 'Another-Umber-Lantern-58';
    t.secrets.add(chosen);
    await laptop.goto(`${origin}/my-settings/password`);
    await laptop.getByLabel('Current password').fill(agent.password);
    await laptop.getByLabel('New password', { exact: true }).fill(chosen);
    await laptop.getByLabel('Confirm new password').fill(chosen);
    await clickAndWait(laptop, laptop.locator('main').getByRole('button', { name: 'Change password' }));
    await phone.goto(`${origin}/apps`);
    assert.equal(path(phone), '/login');
    assert.match(await notice(phone), /your password was changed from another session/);
    await laptop.goto(`${origin}/apps`);
    assert.equal(path(laptop), '/apps', 'the session that made the change goes on');
  });

  test('session expired after inactivity', async () => {
    const agent = await newAgent();
    const page = await signedIn(agent.email, agent.password);
    t.clock.advanceHours(9); // the default idle timeout is 8 hours
    await page.goto(`${origin}/apps`);
    assert.equal(path(page), '/login');
    assert.equal(new URL(page.url()).searchParams.get('reason'), 'expired_idle');
    assert.match(await notice(page), /inactive for too long/);
    await screenshot(page, 'signin-why-expired');
  });

  test('password reset with a link: every session ends, and the message says what happened', async () => {
    const agent = await newAgent();
    const signedInPage = await signedIn(agent.email, agent.password);
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: agent.email })).status, 202);
    const token = t.linkToken(await t.mailTo(agent.email, /reset your password/i, since));
    const page = await visitor();
    await page.goto(`${origin}/reset-password/${token}`);
    const chosen = 'Reset-Umber-Lantern-59';
    t.secrets.add(chosen);
    await page.getByLabel('New password', { exact: true }).fill(chosen);
    await page.getByLabel('Confirm new password').fill(chosen);
    await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    assert.equal(path(page), '/login');
    assert.match(await alertText(page), /Your new password is set, and every session that was signed in with the old one was signed out/);
    assert.doesNotMatch(await alertText(page), /everywhere else/);
    await signedInPage.goto(`${origin}/apps`);
    assert.match(await notice(signedInPage), /your password was reset with a reset link/);
  });

  test('nobody learns anything without the session cookie: an unknown reason says nothing, another browser sees nothing', async () => {
    const page = await visitor();
    await page.goto(`${origin}/login?reason=${encodeURIComponent('<b>Your account was hacked</b>')}`);
    assert.equal(await notice(page), '');
    assert.doesNotMatch(await page.locator('main').innerText(), /hacked/);
    await page.goto(`${origin}/login?reason=toString`);
    assert.equal(await notice(page), '');
    // another agent's ended session: a fresh browser opening /login is told nothing
    const agent = await newAgent();
    await signedIn(agent.email, agent.password);
    assert.equal((await t.post(`/api/v1/agents/${agent.id}/sessions/revoke`, undefined, await ownerToken())).status, 204);
    await page.goto(`${origin}/login`);
    assert.equal(await notice(page), '');
  });

  test('a new agent who accepts an invitation is signed in and lands on their apps', async () => {
    const since = t.smtp.messages.length;
    const created = await t.post('/api/v1/agents', { email: 'nia@acme.test', name: 'Nia Newcomer', roleId: agentRoleId }, await ownerToken());
    assert.equal(created.status, 201);
    const token = t.linkToken(await t.mailTo('nia@acme.test', /invited/, since));
    const page = await visitor();
    await page.goto(`${origin}/reset-password/${token}`);
    const password = 'Lilac-Tundra-Beacon-40';
    t.secrets.add(password);
    await page.getByLabel('New password', { exact: true }).fill(password);
    await page.getByLabel('Confirm new password').fill(password);
    await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    assert.equal(path(page), '/apps');
    const alert = await alertText(page);
    assert.match(alert, /Welcome, Nia Newcomer\. Your password is set and you are signed in/);
    assert.doesNotMatch(alert, /signed out/);
    assert.match(await page.locator('.whoami').innerText(), /Nia Newcomer/);
    await screenshot(page, 'signin-invitation-welcome');
    // through the gate: audited as a sign-in
    const events = await t.app.deskpass.deps.db.selectFrom('audit_events').select('type').where('target_agent_id', '=', created.body.id).execute();
    assert.ok(events.some((e) => e.type === 'login.succeeded'));
  });

});

describe('every page is a page', () => {
  test('unknown pages answer the portal 404 page (lang, title, a way back); /api/ keeps its JSON', async () => {
    const page = await visitor();
    const answer = await page.goto(`${origin}/nope`);
    assert.equal(answer?.status(), 404);
    assert.match(answer?.headers()['content-type'] ?? '', /text\/html/);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.match(await page.title(), /^Page not found/);
    assert.equal(await page.locator('h1').innerText(), 'Page not found');
    assert.equal(await page.getByRole('link', { name: 'Sign in' }).getAttribute('href'), '/login');
    await screenshot(page, 'signin-404');

    const agent = await newAgent();
    const signedInPage = await signedIn(agent.email, agent.password);
    for (const url of ['/nope', '/manage/nope', '/my-settings/nope', '/apps/nope/deeper']) {
      const found = await signedInPage.goto(`${origin}${url}`);
      assert.equal(found?.status(), 404, url);
      assert.equal(await signedInPage.locator('html').getAttribute('lang'), 'en', url);
      assert.match(await signedInPage.title(), /^Page not found/, url);
      assert.equal(await signedInPage.getByRole('link', { name: 'Go to your apps' }).getAttribute('href'), '/apps', url);
    }
    await screenshot(signedInPage, 'signin-404-signed-in');

    for (const url of ['/api/v1/nope', '/api/v2/me']) {
      const json = await t.get(url);
      assert.equal(json.status, 404, url);
      assert.equal(json.body.error.code, 'not_found', url);
    }
  });

  test('the rate-limit page says what was limited, when to try again, and the other way forward', async () => {
    const page = await visitor();
    const email = 'someone@acme.test';
    let status = 0;
    for (let i = 0; i < 6; i += 1) {
      await page.goto(`${origin}/forgot-password`);
      await page.getByLabel('Email').fill(email);
      status = (await clickAndWait(page, page.getByRole('button', { name: /send/i })))?.status() ?? 0;
    }
    assert.equal(status, 429);
    const text = await page.locator('main').innerText();
    assert.match(await page.locator('h1').innerText(), /Too many reset emails for this address/);
    assert.match(text, /for this email address in the last hour/);
    assert.match(text, /Try again in \d+ (minutes?|seconds?)/);
    assert.match(text, /ask an administrator/);
    await screenshot(page, 'signin-429');
  });

  test('a 403 page says which permission the role lacks', async () => {
    const agent = await newAgent();
    const page = await signedIn(agent.email, agent.password);
    for (const [url, permission] of [['/manage/agents', 'Manage Agents'], ['/manage/roles', 'Manage Roles'], ['/manage/audit', 'View Audit Log'], ['/manage/apps', 'Manage Apps']]) {
      const answer = await page.goto(`${origin}${url}`);
      assert.equal(answer?.status(), 403, url);
      assert.match(await page.locator('main').innerText(), new RegExp(`Your role \\(Agent\\) does not have the ${permission} permission this page needs\\. Ask an administrator`), url);
    }
    await screenshot(page, 'signin-403');
  });
});

describe('the header on a phone', () => {
  test('at 390 px "Signed in as" is visible and the Menu opens every entry within the screen', async () => {
    const { page } = await newVisitor(browser, cspViolations);
    await page.setViewportSize(PHONE);
    await signInThroughPage(page, origin, OWNER.email, OWNER.password);
    await page.goto(`${origin}/manage/audit`);
    const whoami = page.locator('.whoami');
    assert.ok(await whoami.isVisible());
    assert.match(await whoami.innerText(), new RegExp(`Signed in as\\s+${OWNER.name}`));
    const menu = page.getByRole('button', { name: 'Menu' });
    assert.equal(await menu.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('nav.site-nav').isVisible(), false, 'closed: the list waits behind the button');
    await screenshot(page, 'signin-nav-closed');
    await menu.click();
    assert.equal(await menu.getAttribute('aria-expanded'), 'true');
    const links = page.locator('nav.site-nav a');
    const labels = await links.allInnerTexts();
    for (const entry of ['Your apps', 'My Settings', 'Agents', 'Roles', 'Apps', 'Audit log', 'Account settings']) assert.ok(labels.includes(entry), entry);
    for (let i = 0; i < (await links.count()); i += 1) {
      const box = await links.nth(i).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width && box.y >= 0, `${labels[i]} is within the screen`);
      assert.ok(await links.nth(i).isVisible(), labels[i]);
    }
    await screenshot(page, 'signin-nav-open');
    // Escape closes it and gives focus back to the button
    await page.locator('nav.site-nav a').first().focus();
    await page.keyboard.press('Escape');
    assert.equal(await menu.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Menu');
    // at 1280 px there is no button: every entry is in the bar
    await page.setViewportSize({ width: 1280, height: 800 });
    assert.equal(await menu.isVisible(), false);
    assert.ok(await page.locator('nav.site-nav').getByRole('link', { name: 'Account settings' }).isVisible());
  });

  test('the invitation sign-in goes through the gate: a required second factor is set up first', async () => {
    // (last in the file: the owner needs a factor of their own to require one, and keeps it)
    const owner = await ownerToken();
    await enrolTotp(t, owner);
    assert.equal((await t.patch('/api/v1/account', { twoFactorPolicy: 'required' }, owner)).status, 200);
    try {
      const since = t.smtp.messages.length;
      const created = await t.post('/api/v1/agents', { email: 'noa@acme.test', name: 'Noa Newcomer', roleId: agentRoleId }, owner);
      assert.equal(created.status, 201);
      const token = t.linkToken(await t.mailTo('noa@acme.test', /invited/, since));
      const page = await visitor();
      await page.goto(`${origin}/reset-password/${token}`);
      const password = 'Lilac-Tundra-Beacon-41';
      t.secrets.add(password);
      await page.getByLabel('New password', { exact: true }).fill(password);
      await page.getByLabel('Confirm new password').fill(password);
      await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
      assert.equal(path(page), '/my-settings/two-factor');
      await page.goto(`${origin}/apps`);
      assert.equal(path(page), '/my-settings/two-factor', 'nothing else before the second factor');
    } finally {
      assert.equal((await t.patch('/api/v1/account', { twoFactorPolicy: 'optional' }, owner)).status, 200);
    }
  });

  test('no page broke the Content-Security-Policy', () => {
    assert.deepEqual(cspViolations, []);
  });
});
