import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { OWNER, type TestApp } from './support/harness.js';
import { alertText, clickAndWait, screenshot, signInThroughPage } from './support/portal.js';
import { PortalTeam } from './support/portal-team.js';

// Issue 12, the agent page: an invited agent is offered a new invitation (not the password
// options), the page tells the supervisor the agent's sign-in state, each session can be signed
// out, the one-time password starts ticked, and Roles count their agents and delete unused ones.

let team: PortalTeam;
let t: TestApp;
let origin: string;
let owner: Page;
let people: PortalTeam['people'];
const state = (page: Page) => page.locator('#state');
const passwordSection = (page: Page) => page.locator('#password');
/** Ivy's invitation link as resent from her page (the last test lets it expire) */
let ivyLink = '';

describe('the agent page tells the supervisor where the agent stands (issue 12)', () => {
  before(async () => {
    team = await PortalTeam.start();
    ({ t, origin, owner, people } = team);
  });
  after(async () => team?.close());

  test("an invited agent's page offers Resend invitation with the invitation's dates, not the password options", async () => {
    await owner.goto(team.agentPage(people.ivy.id));
    const section = passwordSection(owner);
    const text = await section.innerText();
    assert.match(text, /Ivy Invited has not accepted their invitation yet, so there is no password to reset/);
    assert.match(text, /Invitation pending/);
    assert.match(text, /Sent\s+\S/);
    assert.match(text, /Works until\s+\S/);
    assert.equal(await section.getByRole('button', { name: 'Send password reset email' }).count(), 0);
    assert.equal(await section.getByRole('button', { name: 'Change password' }).count(), 0);
    assert.equal(await owner.getByRole('button', { name: 'Resend invitation' }).count(), 1, 'one Resend invitation on the page');
    assert.equal(await owner.getByRole('button', { name: 'Sign out everywhere' }).count(), 0, 'an invited agent has no session to end');
    await screenshot(owner, 'agentpage-invited');

    const tokensBefore = await t.app.deskpass.deps.db.selectFrom('password_reset_tokens').select(['id', 'purpose']).where('agent_id', '=', people.ivy.id).execute();
    const since = t.smtp.messages.length;
    await clickAndWait(owner, section.getByRole('button', { name: 'Resend invitation' }));
    assert.match(await passwordSection(owner).locator('.alert').innerText(), /A new invitation was emailed\. It is valid for 7 days/);
    const mail = await t.mailTo(people.ivy.email, /invited/, since);
    ivyLink = t.linkToken(mail);
    assert.equal((await t.get(`/api/v1/auth/reset-password/${ivyLink}`)).status, 200, 'the new invitation works');
    const tokensAfter = await t.app.deskpass.deps.db.selectFrom('password_reset_tokens').select(['id', 'purpose', 'revoked_at']).where('agent_id', '=', people.ivy.id).execute();
    assert.equal(tokensAfter.length, tokensBefore.length + 1);
    assert.ok(tokensAfter.every((row) => row.purpose === 'invitation'), 'no reset link was made');
    assert.equal(tokensAfter.filter((row) => row.revoked_at === null).length, 1, 'the old invitation is dead');
    await screenshot(owner, 'agentpage-invitation-resent');
  });

  test('a locked agent: locked until when, after what; Unlock clears it', async () => {
    await owner.goto(team.agentPage(people.lou.id));
    const text = await state(owner).innerText();
    assert.match(text, /Locked until .+, after 5 failed password attempts/);
    assert.match(text, /Last sign-in\s+\S/);
    assert.equal(await state(owner).getByRole('link', { name: "See Lou Locksmith's audit events" }).getAttribute('href'), `/manage/audit?agent=${people.lou.id}`);
    await screenshot(owner, 'agentpage-locked');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Unlock' }));
    assert.match(await state(owner).innerText(), /Lock\s+Not locked/);
  });

  test('"Require a change of password during next login" starts ticked; a reset link is shown sent by you, then used', async () => {
    await owner.goto(team.agentPage(people.bob.id));
    assert.equal(await passwordSection(owner).getByLabel('Require a change of password during next login').isChecked(), true);
    const since = t.smtp.messages.length;
    await clickAndWait(owner, passwordSection(owner).getByRole('button', { name: 'Send password reset email' }));
    assert.match(await state(owner).innerText(), /Reset link\s+Sent .+, by you: not used yet; works until/);
    await screenshot(owner, 'agentpage-reset-link-sent');
    const link = t.linkToken(await t.mailTo(people.bob.email, /Reset your password/, since));
    const chosen = 'Walnut-Comet-Harbor-73';
    t.secrets.add(chosen);
    assert.equal((await t.post('/api/v1/auth/reset-password', { token: link, newPassword: chosen })).status, 204);
    people.bob.password = chosen;
    await owner.reload();
    assert.match(await state(owner).innerText(), /Reset link\s+Sent .+, by you: used at /);
  });

  test('a password with the agent\'s name is refused about "their name", not the administrator\'s', async () => {
    await owner.goto(team.agentPage(people.bob.id));
    const section = passwordSection(owner);
    await section.getByLabel('Password', { exact: true }).fill('Bob-Baker-Lighthouse-42');
    await section.getByLabel('Confirm password').fill('Bob-Baker-Lighthouse-42');
    const answer = await clickAndWait(owner, section.getByRole('button', { name: 'Change password' }));
    assert.equal(answer?.status(), 422);
    const text = await passwordSection(owner).innerText();
    assert.match(text, /Do not use their name, their email address or the help desk name in the password\./);
    assert.doesNotMatch(text, /your name/);
    assert.equal(await passwordSection(owner).getByLabel('Require a change of password during next login').isChecked(), true, 'the admin left it ticked');
    await screenshot(owner, 'agentpage-their-name');
  });

  test("Bob's sessions are listed as devices; Sign out ends that one session and not the other", async () => {
    const first = await team.signedIn(people.bob.email, people.bob.password);
    t.clock.advanceMs(2 * 60_000); // two sign-ins minutes apart: the newer one is listed first
    const second = await team.signedIn(people.bob.email, people.bob.password);
    await owner.goto(team.agentPage(people.bob.id));
    const rows = state(owner).locator('tbody tr');
    assert.equal(await rows.count(), 2);
    assert.match(await rows.first().innerText(), /Chrome on Linux/);
    assert.match(await rows.first().innerText(), /127\.0\.0\.1/);
    await screenshot(owner, 'agentpage-sessions');

    // the newest session is listed first: that is `second`
    const button = rows.first().getByRole('button', { name: /^Sign out Chrome on Linux signed in / });
    await clickAndWait(owner, button);
    assert.match(await state(owner).locator('.alert').innerText(), /signed out of that session/);
    assert.equal(await state(owner).locator('tbody tr').count(), 1);

    await second.goto(`${origin}/my-settings/sessions`);
    assert.equal(new URL(second.url()).pathname, '/login', 'that session is dead');
    await first.goto(`${origin}/my-settings/sessions`);
    assert.equal(new URL(first.url()).pathname, '/my-settings/sessions', 'the other one lives on');
    const [event] = (await t.get(`/api/v1/audit-events?type=session.revoked&agentId=${people.bob.id}`, team.ownerToken)).body.events;
    assert.equal(event.actor.email, OWNER.email);
    await screenshot(owner, 'agentpage-session-signed-out');
  });

  test('Roles show how many agents hold each; an unused role is deleted, a held one says what to do first', async () => {
    assert.equal((await t.post('/api/v1/roles', { name: 'Night shift', permissions: [] }, team.ownerToken)).status, 201);
    await owner.goto(`${origin}/manage/roles`);
    const card = (name: string) => owner.locator('section.role-card', { has: owner.getByRole('heading', { name, exact: true }) });
    assert.match(await card('Agent managers').innerText(), /1 agent\b/);
    assert.match(await card('Agent managers').innerText(), /To delete this role, first give its agent another role/);
    assert.match(await card('Night shift').innerText(), /No agents/);
    assert.equal(await card('Administrator').getByRole('button', { name: 'Delete role' }).count(), 0, 'built-in roles are never offered');
    await screenshot(owner, 'agentpage-roles');
    await clickAndWait(owner, card('Night shift').getByRole('button', { name: 'Delete role' }));
    assert.match(await alertText(owner), /The role "Night shift" was deleted/);
    assert.equal(await card('Night shift').count(), 0);
    const roles = (await t.get('/api/v1/roles', team.ownerToken)).body.roles as { name: string }[];
    assert.equal(roles.some((r) => r.name === 'Night shift'), false);
  });

  test('a one-time password past its time is shown expired, not pending', async () => {
    t.clock.advanceHours(73);
    await signInThroughPage(owner, origin, OWNER.email, OWNER.password);
    await owner.goto(team.agentPage(people.pat.id));
    assert.match(await state(owner).innerText(), /One-time password\s+Expired at .+: it no longer signs them in/);
    assert.match(await owner.locator('.page-head').innerText(), /One-time password expired/);
    assert.doesNotMatch(await owner.locator('.page-head').innerText(), /Password change pending/);
    await screenshot(owner, 'agentpage-otp-expired');
  });

  test('a dead invitation link offers "Send me a new invitation", which sends one to that address', async () => {
    t.clock.advanceHours(7 * 24);
    const { page } = await team.visitor();
    const response = await page.goto(`${origin}/reset-password/${ivyLink}`);
    assert.equal(response?.status(), 410);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'This invitation link no longer works');
    assert.equal(await page.getByRole('button', { name: 'Send me a new link' }).count(), 0, 'not the Forgot password form: it sends nothing to an invited agent');
    await screenshot(page, 'agentpage-invitation-dead');
    const since = t.smtp.messages.length;
    await clickAndWait(page, page.getByRole('button', { name: 'Send me a new invitation' }));
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Check your email');
    assert.match(await page.locator('main').innerText(), /a new one is on its way to the address the first one was sent to/);
    assert.match(await page.title(), /Acme Support/, "the help desk's own name, as on the page before");
    const fresh = t.linkToken(await t.mailTo(people.ivy.email, /invited/, since));
    await page.goto(`${origin}/reset-password/${fresh}`);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Welcome, Ivy Invited', 'the new invitation opens the set-password page');
    await screenshot(page, 'agentpage-invitation-renewed');
  });
});
