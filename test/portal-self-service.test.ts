import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { OWNER, ACCOUNT_NAME, type TestApp } from './support/harness.js';
import { alertText, clickAndWait, launchBrowser, newVisitor, screenshot, signInThroughPage, startPortal } from './support/portal.js';

const HOUR_MS = 3_600_000;
const AGENT = { email: 'sam@acme.test', name: 'Sam Rivers', password: 'Harbor-Quilt-Lantern-61' };

let t: TestApp;
let origin: string;
let browser: Browser;
const cspViolations: string[] = [];

const visitor = () => newVisitor(browser, cspViolations);

describe('agent portal: setup and self-service', () => {
  before(async () => {
    ({ t, origin } = await startPortal());
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test('before setup, the sign-in page says the help desk is not set up', async () => {
    const { page, context } = await visitor();
    await page.goto(`${origin}/login`);
    assert.match(await page.locator('h1').innerText(), /not set up yet/);
    await screenshot(page, 'not-set-up');
    await context.close();
  });

  test('first-run setup: the one-time link creates the help desk and its Account Administrator, signed in', async () => {
    const token = t.app.deskpass.setupLink.issue();
    const { page, context } = await visitor();
    const shown = await page.goto(`${origin}/setup/${token}`);
    assert.equal(shown?.status(), 200);
    assert.equal(shown?.headers()['referrer-policy'], 'no-referrer');
    await screenshot(page, 'setup');

    await page.getByLabel('Help desk name').fill(ACCOUNT_NAME);
    await page.getByLabel('Your name').fill(OWNER.name);
    await page.getByLabel('Your email').fill(OWNER.email);
    await page.getByLabel('Password', { exact: true }).fill(OWNER.password);
    await page.getByLabel('Confirm password').fill('not the same');
    await clickAndWait(page, page.getByRole('button', { name: 'Create help desk' }));
    assert.match(await alertText(page), /do not match/);
    assert.equal(await page.getByLabel('Help desk name').inputValue(), ACCOUNT_NAME, 'typed fields are kept');

    await page.getByLabel('Password', { exact: true }).fill(OWNER.password);
    await page.getByLabel('Confirm password').fill(OWNER.password);
    await clickAndWait(page, page.getByRole('button', { name: 'Create help desk' }));
    assert.equal(new URL(page.url()).pathname, '/manage/agents');
    assert.match(await alertText(page), /help desk is ready/);
    assert.match(await page.locator('.site-header').innerText(), new RegExp(`${ACCOUNT_NAME}[\\s\\S]*${OWNER.name}`));

    // The link worked once.
    const again = await page.goto(`${origin}/setup/${token}`);
    assert.equal(again?.status(), 410);
    assert.match(await page.locator('h1').innerText(), /already set up/);
    await context.close();
  });

  test('forgot password → email → link → new password → sign in', async () => {
    const ownerToken = await t.login(OWNER.email, OWNER.password);
    const roles = await t.get('/api/v1/roles', ownerToken);
    const agentRoleId = roles.body.roles.find((r: { name: string }) => r.name === 'Agent').id;
    await t.addAgent(ownerToken, { ...AGENT, roleId: agentRoleId });

    const { page, context } = await visitor();
    await page.goto(`${origin}/login`);
    await screenshot(page, 'login');
    await clickAndWait(page, page.getByRole('link', { name: 'Forgot password?' }));
    await screenshot(page, 'forgot-password');
    const since = t.smtp.messages.length;
    await page.getByLabel('Email').fill(AGENT.email);
    await clickAndWait(page, page.getByRole('button', { name: 'Send reset link' }));
    assert.match(await page.locator('main').innerText(), /If an agent with this email address exists, we have sent a link/);
    await screenshot(page, 'forgot-password-sent');

    const mail = await t.mailTo(AGENT.email, /Reset your password/, since);
    const token = t.linkToken(mail);
    const link = `${origin}/reset-password/${token}`;
    assert.ok(mail.text.includes(link), 'the email links to this portal');

    const opened = await page.goto(link);
    assert.equal(opened?.status(), 200);
    assert.equal(opened?.headers()['referrer-policy'], 'no-referrer');
    assert.equal(opened?.headers()['cache-control'], 'no-store');
    assert.match(await page.locator('main').innerText(), new RegExp(AGENT.email));

    // Live hints: length in code points ("é" typed as e + combining accent is one).
    await page.getByLabel('New password', { exact: true }).fill('cafe\u0301');
    assert.match(await page.locator('#new-password-length').innerText(), /^4 of at least 12 characters/);
    await page.getByLabel('New password', { exact: true }).fill('Harbor-Quilt');
    assert.match(await page.locator('#new-password-length').innerText(), /12 characters: long enough/);
    // the meter shows a strength once the server has judged the value ("Checking…" until then)
    await page.waitForFunction(() => /Strength: /.test(document.querySelector('#new-password-strength')?.textContent ?? ''));
    assert.match(await page.locator('#new-password-strength').innerText(), /Strength: /);
    await page.getByLabel('Confirm new password').fill('Harbor-Qui');
    assert.match(await page.locator('#new-password-confirm-match').innerText(), /do not match yet/);
    await screenshot(page, 'reset-password');

    // The server's rules, said on submit (the link stays usable).
    await page.getByLabel('New password', { exact: true }).fill('password1234');
    await page.getByLabel('Confirm new password').fill('password1234');
    const rejected = await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    assert.equal(rejected?.status(), 422);
    assert.match(await alertText(page), /too common/);
    await screenshot(page, 'reset-password-rejected');

    const newPassword = 'Meadow-Copper-Violin-27';
    t.secrets.add(newPassword);
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('Confirm new password').fill(newPassword);
    await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.match(await alertText(page), /Your password is set/);

    await signInThroughPage(page, origin, AGENT.email, newPassword);
    assert.equal(new URL(page.url()).pathname, '/apps', 'every agent lands on Your apps');
    assert.equal(await page.locator('nav.site-nav').getByRole('link', { name: 'Agents' }).count(), 0, 'no Manage entries without the permissions');
    AGENT.password = newPassword;

    // A used link is dead and says so, offering a new one.
    const reused = await page.goto(link);
    assert.equal(reused?.status(), 410);
    assert.match(await page.locator('h1').innerText(), /already been used/);
    assert.equal(await page.getByRole('button', { name: 'Send me a new link' }).count(), 1);
    await screenshot(page, 'reset-link-used');
    await context.close();
  });

  test('an unknown link says it is not valid', async () => {
    const { page, context } = await visitor();
    const answer = await page.goto(`${origin}/reset-password/${'A'.repeat(43)}`);
    assert.equal(answer?.status(), 410);
    assert.equal(answer?.headers()['referrer-policy'], 'no-referrer');
    assert.match(await page.locator('h1').innerText(), /not valid/);
    await context.close();
  });

  test('a form whose CSRF cookie is gone is refused with a page that says so', async () => {
    const { page, context } = await visitor();
    await page.goto(`${origin}/forgot-password`);
    await context.clearCookies();
    await page.getByLabel('Email').fill(AGENT.email);
    const refused = await clickAndWait(page, page.getByRole('button', { name: 'Send reset link' }));
    assert.equal(refused?.status(), 403);
    assert.match(await page.locator('h1').innerText(), /This form has expired/);
    await screenshot(page, 'form-expired');
    await clickAndWait(page, page.getByRole('link', { name: 'Reload the form' }));
    assert.equal(new URL(page.url()).pathname, '/forgot-password');
    await context.close();
  });

  test('signing in returns to the page that was asked for; a wrong password is one sentence', async () => {
    const { page, context } = await visitor();
    await page.goto(`${origin}/my-settings/sessions`);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/my-settings/sessions');

    await page.getByLabel('Email').fill(AGENT.email);
    await page.getByLabel('Password', { exact: true }).fill('Wrong-Password-Again-1');
    const refused = await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(refused?.status(), 401);
    assert.match(await alertText(page), /email or password is not correct/);
    assert.equal(await page.getByLabel('Email').inputValue(), AGENT.email);
    await screenshot(page, 'login-error');

    await page.getByLabel('Password', { exact: true }).fill(AGENT.password);
    await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(new URL(page.url()).pathname, '/my-settings/sessions');
    await context.close();
  });

  test('My Settings › Change password: other sessions are signed out, and the page says so', async () => {
    const a = await visitor();
    const b = await visitor();
    await signInThroughPage(a.page, origin, AGENT.email, AGENT.password);
    await signInThroughPage(b.page, origin, AGENT.email, AGENT.password);

    await a.page.goto(`${origin}/my-settings/sessions`);
    assert.ok((await a.page.locator('tbody tr').count()) >= 2, 'both sessions are listed');
    assert.equal(await a.page.getByText('This browser').count(), 1);
    await screenshot(a.page, 'my-sessions');

    await a.page.goto(`${origin}/my-settings/password`);
    await screenshot(a.page, 'my-password');
    const next = 'Willow-Granite-Sparrow-83';
    t.secrets.add(next);
    await a.page.getByLabel('Current password').fill('Not-My-Password-99');
    await a.page.getByLabel('New password', { exact: true }).fill(next);
    await a.page.getByLabel('Confirm new password').fill(next);
    const wrong = await clickAndWait(a.page, a.page.getByRole('button', { name: 'Change password' }));
    assert.equal(wrong?.status(), 400);
    assert.match(await alertText(a.page), /current password is not correct/);

    await a.page.getByLabel('Current password').fill(AGENT.password);
    await a.page.getByLabel('New password', { exact: true }).fill(next);
    await a.page.getByLabel('Confirm new password').fill(next);
    await clickAndWait(a.page, a.page.getByRole('button', { name: 'Change password' }));
    assert.match(await alertText(a.page), /Your password has been changed\. Your other sessions were signed out/);
    await screenshot(a.page, 'my-password-changed');
    AGENT.password = next;

    await b.page.goto(`${origin}/my-settings/password`);
    assert.equal(new URL(b.page.url()).pathname, '/login', 'the other browser was signed out');
    await a.page.goto(`${origin}/my-settings/password`);
    assert.equal(new URL(a.page.url()).pathname, '/my-settings/password', 'this browser stays signed in');
    await Promise.all([a.context.close(), b.context.close()]);
  });

  test('My Settings › Sessions: signing out another session ends it', async () => {
    const a = await visitor();
    const b = await visitor();
    await signInThroughPage(a.page, origin, AGENT.email, AGENT.password);
    await signInThroughPage(b.page, origin, AGENT.email, AGENT.password);
    await a.page.goto(`${origin}/my-settings/sessions`);
    const others = await a.page.locator('tbody tr', { hasNot: a.page.getByText('This browser') }).count();
    assert.ok(others >= 1);
    // One by one (the row's own button), then the rest at once.
    const other = a.page.locator('tbody tr', { hasNot: a.page.getByText('This browser') }).first();
    await clickAndWait(a.page, other.getByRole('button', { name: 'Sign out' }));
    assert.match(await alertText(a.page), /That session is signed out/);
    assert.equal(await a.page.locator('tbody tr').count(), others, 'one row fewer');
    if (others > 1) {
      await clickAndWait(a.page, a.page.getByRole('button', { name: 'Sign out all other sessions' }));
      assert.match(await alertText(a.page), /other sessions? (is|are) signed out/);
    }
    assert.equal(await a.page.locator('tbody tr').count(), 1, 'only this browser is left');
    await b.page.goto(`${origin}/my-settings/sessions`);
    assert.equal(new URL(b.page.url()).pathname, '/login');

    // Sign out from the header.
    await clickAndWait(a.page, a.page.locator('.site-header').getByRole('button', { name: 'Sign out' }));
    assert.equal(new URL(a.page.url()).pathname, '/login');
    assert.match(await alertText(a.page), /You are signed out/);
    await a.page.goto(`${origin}/my-settings/password`);
    assert.equal(new URL(a.page.url()).pathname, '/login');
    await Promise.all([a.context.close(), b.context.close()]);
  });

  test('a locked-out agent is told when to try again', async () => {
    const { page, context } = await visitor();
    await page.goto(`${origin}/login`);
    let last = null;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await page.getByLabel('Email').fill(AGENT.email);
      await page.getByLabel('Password', { exact: true }).fill(`Wrong-Guess-Number-${attempt}`);
      last = await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    }
    assert.equal(last?.status(), 423);
    assert.match(await alertText(page), /try again in 60 minutes/);
    await screenshot(page, 'login-locked');

    // Even the right password waits for the lock to end.
    await page.getByLabel('Password', { exact: true }).fill(AGENT.password);
    const locked = await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(locked?.status(), 423);
    await context.close();
  });

  test('an expired link says it expired and offers a new one', async () => {
    const since = t.smtp.messages.length;
    const { page, context } = await visitor();
    await page.goto(`${origin}/forgot-password`);
    await page.getByLabel('Email').fill(OWNER.email);
    await clickAndWait(page, page.getByRole('button', { name: 'Send reset link' }));
    const token = t.linkToken(await t.mailTo(OWNER.email, /Reset your password/, since));
    t.clock.advanceMs(48 * HOUR_MS + 1000);
    const answer = await page.goto(`${origin}/reset-password/${token}`);
    assert.equal(answer?.status(), 410);
    assert.match(await page.locator('h1').innerText(), /expired/);
    await screenshot(page, 'reset-link-expired');

    const again = t.smtp.messages.length;
    await page.getByLabel('Email').fill(OWNER.email);
    await clickAndWait(page, page.getByRole('button', { name: 'Send me a new link' }));
    assert.match(await page.locator('h1').innerText(), /Check your email/);
    await t.mailTo(OWNER.email, /Reset your password/, again);
    await context.close();
  });

  test('no page broke the Content-Security-Policy', () => {
    assert.deepEqual(cspViolations, []);
  });
});
