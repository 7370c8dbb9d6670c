import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { OWNER, type TestApp } from './support/harness.js';
import { alertText, clickAndWait, screenshot, signInThroughPage } from './support/portal.js';
import { PortalTeam } from './support/portal-team.js';

const MINUTE_MS = 60_000;

let team: PortalTeam;
let t: TestApp;
let origin: string;
let owner: Page;
let people: PortalTeam['people'];
const agentPage = (id: string) => team.agentPage(id);
const passwordSection = (page: Page) => page.locator('#password');
const signedIn = (email: string, password: string) => team.signedIn(email, password);
const visitor = () => team.visitor();

describe("agent portal: the three ways to reset another agent's password, and the refusals", () => {
  before(async () => {
    team = await PortalTeam.start();
    ({ t, origin, owner, people } = team);
  });
  after(async () => team?.close());

  test('option 1, "Send password reset email": the agent gets a link valid for 48 hours', async () => {
    await owner.goto(agentPage(people.bob.id));
    await screenshot(owner, 'agent');
    const section = passwordSection(owner);
    assert.match(await section.innerText(), /valid for 48 hours/);
    const since = t.smtp.messages.length;
    await clickAndWait(owner, section.getByRole('button', { name: 'Send password reset email' }));
    assert.match(await alertText(owner), /A password reset email was sent to Bob Baker \(bob@acme\.test\)\. The link is valid for 48 hours/);
    await screenshot(owner, 'agent-reset-email-sent');

    const mail = await t.mailTo(people.bob.email, /Reset your password/, since);
    assert.match(mail.text, /sent you this link/);
    const { page } = await visitor();
    await page.goto(`${origin}/reset-password/${t.linkToken(mail)}`);
    const password = 'Cobalt-Prairie-Lantern-19';
    t.secrets.add(password);
    await page.getByLabel('New password', { exact: true }).fill(password);
    await page.getByLabel('Confirm new password').fill(password);
    await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    await signInThroughPage(page, origin, people.bob.email, password);
    assert.equal(new URL(page.url()).pathname, '/apps');
    people.bob.password = password;
  });

  test('option 2, Manual Reset Password with "Generate": the password is shown once and works; the email never has it', async () => {
    await owner.goto(agentPage(people.bob.id));
    const section = passwordSection(owner);
    await section.getByRole('button', { name: 'Generate' }).click();
    await section.locator('.generated code').filter({ hasText: /\S/ }).waitFor();
    const generated = (await section.locator('.generated code').innerText()).trim();
    assert.match(generated, /^[a-z0-9]+(-[a-z0-9]+){3,}$/i, 'a readable passphrase: words joined by "-"');
    assert.equal(await section.getByLabel('Password', { exact: true }).inputValue(), generated);
    assert.equal(await section.getByLabel('Confirm password').inputValue(), generated);
    // the safe choice is the default (Keycloak's "Temporary" starts on); a permanent password is the admin's explicit choice
    assert.equal(await section.getByLabel('Require a change of password during next login').isChecked(), true);
    await section.getByLabel('Require a change of password during next login').uncheck();
    t.secrets.add(generated);
    await screenshot(owner, 'agent-generated');

    const since = t.smtp.messages.length;
    await clickAndWait(owner, section.getByRole('button', { name: 'Change password' }));
    assert.match(await alertText(owner), /The password of Bob Baker was changed\. They were signed out everywhere/);
    assert.equal(await owner.locator('.generated code').innerText(), '', 'the generated password is not shown again');
    assert.ok(!(await owner.content()).includes(generated), 'the page that comes back does not carry the password');

    const notice = await t.mailTo(people.bob.email, /a new password was set/i, since);
    assert.ok(!notice.text.includes(generated) && !notice.html.includes(generated), 'the email never contains the password');
    const bob = await signedIn(people.bob.email, generated);
    assert.equal(new URL(bob.url()).pathname, '/apps', 'no change is required');
    people.bob.password = generated;
  });

  test('a rejected manual password lists the rules, and the checkbox stays as the admin left it (not back to its default)', async () => {
    await owner.goto(agentPage(people.bob.id));
    const section = passwordSection(owner);
    await section.getByLabel('Password', { exact: true }).fill('password1234');
    await section.getByLabel('Confirm password').fill('password1234');
    await section.getByLabel('Require a change of password during next login').uncheck();
    const answer = await clickAndWait(owner, section.getByRole('button', { name: 'Change password' }));
    assert.equal(answer?.status(), 422);
    assert.match(await passwordSection(owner).innerText(), /too common/);
    assert.equal(await passwordSection(owner).getByLabel('Require a change of password during next login').isChecked(), false);
    await screenshot(owner, 'agent-password-rejected');
  });

  test('option 3, "Require a change of password during next login": the agent must choose a new password right after signing in', async () => {
    await owner.goto(agentPage(people.bob.id));
    const section = passwordSection(owner);
    const oneTime = 'Pebble-Orchid-Summit-58';
    t.secrets.add(oneTime);
    await section.getByLabel('Password', { exact: true }).fill(oneTime);
    await section.getByLabel('Confirm password').fill(oneTime);
    await section.getByLabel('Require a change of password during next login').check();
    const since = t.smtp.messages.length;
    await clickAndWait(owner, section.getByRole('button', { name: 'Change password' }));
    assert.match(await alertText(owner), /one-time password: they must choose a new one when they next sign in/);
    assert.match(await owner.locator('.page-head').innerText(), /Password change pending/);
    const notice = await t.mailTo(people.bob.email, /at your next sign-in/, since);
    assert.ok(!notice.text.includes(oneTime) && !notice.html.includes(oneTime));

    const bob = await signedIn(people.bob.email, oneTime);
    assert.equal(new URL(bob.url()).pathname, '/password-change-required');
    await bob.goto(`${origin}/my-settings/password`);
    assert.equal(new URL(bob.url()).pathname, '/password-change-required', 'nothing else is reachable');
    assert.equal(await bob.locator('nav.site-nav').count(), 0);
    await screenshot(bob, 'password-required');

    const chosen = 'Harvest-Nebula-Kettle-64';
    t.secrets.add(chosen);
    // the sign-in just proved the one-time password: it is not asked a second time
    assert.equal(await bob.getByLabel('One-time password').count(), 0);
    assert.match(await bob.locator('main').innerText(), /You do not need to type the one-time password again/);
    await bob.getByLabel('New password', { exact: true }).fill(oneTime);
    await bob.getByLabel('Confirm new password').fill(oneTime);
    await clickAndWait(bob, bob.getByRole('button', { name: 'Set password' }));
    assert.match(await alertText(bob), /Your new password was not set[\s\S]*must be different from the current one/);
    await bob.getByLabel('New password', { exact: true }).fill(chosen);
    await bob.getByLabel('Confirm new password').fill(chosen);
    await clickAndWait(bob, bob.getByRole('button', { name: 'Set password' }));
    // on to the page he was on his way to when the change stopped him
    assert.equal(new URL(bob.url()).pathname, '/my-settings/password');
    assert.match(await alertText(bob), /You replaced the one-time password your administrator set/);
    people.bob.password = chosen;
    const again = await signedIn(people.bob.email, chosen);
    assert.equal(new URL(again.url()).pathname, '/apps');
  });

  test("after 10 minutes, the section asks for the acting agent's own password first", async () => {
    t.clock.advanceMs(11 * MINUTE_MS);
    await owner.goto(agentPage(people.bob.id));
    const section = passwordSection(owner);
    assert.match(await section.innerText(), /Confirm it's you/);
    assert.equal(await section.getByRole('button', { name: 'Send password reset email' }).count(), 0);
    assert.equal(await section.getByRole('button', { name: 'Change password' }).count(), 0);
    await screenshot(owner, 'agent-reauthenticate');

    await section.getByLabel('Your password').fill('Not-Olivias-Password-1');
    await clickAndWait(owner, section.getByRole('button', { name: 'Continue' }));
    assert.match(await alertText(owner), /not your current password/);
    await passwordSection(owner).getByLabel('Your password').fill(OWNER.password);
    await clickAndWait(owner, passwordSection(owner).getByRole('button', { name: 'Continue' }));
    assert.match(await alertText(owner), /For the next 10 minutes/);
    assert.equal(await passwordSection(owner).getByRole('button', { name: 'Send password reset email' }).count(), 1);
  });

  test('refusal: nobody else can reset the Account Administrator, whatever their permissions', async () => {
    const ada = await signedIn(people.ada.email, people.ada.password);
    await ada.goto(agentPage(team.ownerId));
    const section = passwordSection(ada);
    assert.match(await section.innerText(), /This is the Account Administrator\. Nobody else can reset or set their password/);
    for (const name of ['Send password reset email', 'Change password', 'Generate', 'Continue']) {
      assert.equal(await section.getByRole('button', { name }).count(), 0, name);
    }
    assert.equal(await ada.getByRole('button', { name: 'Deactivate' }).count(), 0);
    await screenshot(ada, 'agent-account-administrator');

    await ada.goto(agentPage(people.ada.id));
    assert.match(await passwordSection(ada).innerText(), /This is you\. Change your own password from My Settings/);
  });

  test('refusal: a role without "Manage Agent Password" is told why, and sees only the Manage entries it may use', async () => {
    const mia = await signedIn(people.mia.email, people.mia.password);
    const nav = await mia.locator('nav.site-nav').innerText();
    assert.ok(nav.includes('Agents'));
    for (const hidden of ['Roles', 'Audit log', 'Account settings']) assert.ok(!nav.includes(hidden), hidden);
    await mia.goto(agentPage(people.bob.id));
    const section = passwordSection(mia);
    assert.match(await section.innerText(), /needs both the "Manage Agents" and "Manage Agent Password" permissions/);
    assert.equal(await section.getByRole('button').count(), 0);
    await screenshot(mia, 'agent-missing-permission');

    const roles = await mia.goto(`${origin}/manage/roles`);
    assert.equal(roles?.status(), 403);
    assert.match(await mia.locator('main').innerText(), /Your role \(.+\) does not have the Manage Roles permission this page needs/);
    await screenshot(mia, 'forbidden');
  });

  test('no page broke the Content-Security-Policy', () => {
    assert.deepEqual(team.cspViolations, []);
  });
});
