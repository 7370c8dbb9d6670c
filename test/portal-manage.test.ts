import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { OWNER, type TestApp } from './support/harness.js';
import { alertText, clickAndWait, screenshot, signInThroughPage } from './support/portal.js';
import { PortalTeam } from './support/portal-team.js';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

let team: PortalTeam;
let t: TestApp;
let origin: string;
let owner: Page;
let people: PortalTeam['people'];
const agentPage = (id: string) => team.agentPage(id);
const passwordSection = (page: Page) => page.locator('#password');
const signedIn = (email: string, password: string) => team.signedIn(email, password);
const visitor = () => team.visitor();

describe('agent portal: Manage › Agents, Roles, Audit log and Account settings', () => {
  before(async () => {
    team = await PortalTeam.start();
    ({ t, origin, owner, people } = team);
  });
  after(async () => team?.close());

  test('Manage › Agents: the list shows each flag, and searches, filters and pages', async () => {
    assert.equal(new URL(owner.url()).pathname, '/apps', 'every agent, managers too, lands on Your apps');
    await owner.goto(`${origin}/manage/agents`);
    const nav = await owner.locator('nav.site-nav').innerText();
    for (const entry of ['My Settings', 'Agents', 'Roles', 'Audit log', 'Account settings']) assert.ok(nav.includes(entry), entry);
    const row = (name: string) => owner.locator('tbody tr', { hasText: name });
    assert.match(await row(OWNER.name).innerText(), /Account Administrator/);
    assert.match(await row(people.ivy.name).innerText(), /Invitation pending/);
    assert.match(await row(people.dee.name).innerText(), /Deactivated/);
    assert.match(await row(people.lou.name).innerText(), /Locked/);
    assert.match(await row(people.pat.name).innerText(), /Password change pending/);
    assert.equal(await owner.locator('tbody tr').count(), 25);
    await screenshot(owner, 'agents');

    await clickAndWait(owner, owner.getByRole('link', { name: 'Next →' }));
    assert.equal(await owner.locator('tbody tr').count(), 3, '28 agents: 25 + 3');
    await clickAndWait(owner, owner.getByRole('link', { name: '← Previous' }));
    assert.equal(await owner.locator('tbody tr').count(), 25);

    await owner.getByLabel('Search').fill('ivy');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.deepEqual(await owner.locator('tbody tr .cell-name a').allInnerTexts(), [people.ivy.name]);
    await owner.getByLabel('Search').fill('');
    await owner.getByLabel('Status').selectOption('deactivated');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.deepEqual(await owner.locator('tbody tr .cell-name a').allInnerTexts(), [people.dee.name]);
    await screenshot(owner, 'agents-filtered');
  });

  test('"Add agent": the new agent is emailed an invitation and sets a first password from it', async () => {
    await owner.goto(`${origin}/manage/agents`);
    await clickAndWait(owner, owner.getByRole('link', { name: 'Add agent' }));
    await screenshot(owner, 'agent-new');
    const since = t.smtp.messages.length;
    await owner.getByLabel('Name').fill('Nia Newcomer');
    await owner.getByLabel('Email').fill('nia@acme.test');
    await owner.getByLabel('Role').selectOption({ label: 'Agent' });
    await clickAndWait(owner, owner.getByRole('button', { name: 'Add agent and send invitation' }));
    assert.match(await alertText(owner), /Nia Newcomer was added\. We emailed nia@acme\.test an invitation/);
    assert.match(await owner.locator('.page-head').innerText(), /Invitation pending/);

    // The same address again is refused with a sentence.
    await owner.goto(`${origin}/manage/agents/new`);
    await owner.getByLabel('Name').fill('Nia Again');
    await owner.getByLabel('Email').fill('NIA@acme.test');
    const taken = await clickAndWait(owner, owner.getByRole('button', { name: 'Add agent and send invitation' }));
    assert.equal(taken?.status(), 409);
    assert.match(await alertText(owner), /already exists/);

    const token = t.linkToken(await t.mailTo('nia@acme.test', /invited/, since));
    const { page } = await visitor();
    await page.goto(`${origin}/reset-password/${token}`);
    assert.match(await page.locator('h1').innerText(), /Welcome, Nia Newcomer/);
    await screenshot(page, 'invitation');
    const password = 'Lilac-Tundra-Beacon-40';
    t.secrets.add(password);
    await page.getByLabel('New password', { exact: true }).fill(password);
    await page.getByLabel('Confirm new password').fill(password);
    await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    // accepting the invitation signs her in
    assert.equal(new URL(page.url()).pathname, '/apps');
    assert.match(await alertText(page), /Welcome, Nia Newcomer\. Your password is set and you are signed in/);
  });

  test('profile and access: rename, role, unlock, deactivate and activate, sign out everywhere, resend invitation', async () => {
    await owner.goto(agentPage(people.lou.id));
    await clickAndWait(owner, owner.getByRole('button', { name: 'Unlock' }));
    assert.match(await alertText(owner), /unlocked/);
    assert.doesNotMatch(await owner.locator('.page-head').innerText(), /Locked/);
    assert.ok(await signedIn(people.lou.email, people.lou.password));

    await owner.goto(agentPage(people.dee.id));
    await clickAndWait(owner, owner.getByRole('button', { name: 'Activate' }));
    assert.match(await alertText(owner), /active again/);

    const bob = await signedIn(people.bob.email, people.bob.password);
    await owner.goto(agentPage(people.bob.id));
    await clickAndWait(owner, owner.getByRole('button', { name: 'Sign out everywhere' }));
    assert.match(await alertText(owner), /signed out everywhere/);
    await bob.goto(`${origin}/my-settings/password`);
    assert.equal(new URL(bob.url()).pathname, '/login');

    await clickAndWait(owner, owner.getByRole('button', { name: 'Deactivate' }));
    assert.match(await alertText(owner), /is deactivated/);
    assert.match(await owner.locator('.page-head').innerText(), /Deactivated/);
    await clickAndWait(owner, owner.getByRole('button', { name: 'Activate' }));

    await owner.getByLabel('Name').fill('Robert Baker');
    await owner.getByLabel('Role').selectOption({ label: 'Agent managers' });
    await clickAndWait(owner, owner.getByRole('button', { name: 'Save profile' }));
    assert.match(await alertText(owner), /Robert Baker's profile was saved/);
    assert.match(await owner.locator('.page-head').innerText(), /Robert Baker[\s\S]*Agent managers/);

    const since = t.smtp.messages.length;
    await owner.goto(agentPage(people.ivy.id));
    await clickAndWait(owner, owner.getByRole('button', { name: 'Resend invitation' }));
    assert.match(await alertText(owner), /A new invitation was emailed\. It is valid for 7 days/);
    await t.mailTo(people.ivy.email, /invited/, since);
  });

  test('Manage › Roles: permissions as checkboxes with plain-language descriptions', async () => {
    await owner.goto(`${origin}/manage/roles`);
    assert.match(await owner.locator('main').innerText(), /Reset another agent's password: email a reset link, set it, or set a one-time password\./);
    await screenshot(owner, 'roles');
    const form = owner.locator('#new-role');
    await form.getByLabel('Name').fill('Auditors');
    await form.getByLabel('View Audit Log').check();
    await clickAndWait(owner, form.getByRole('button', { name: 'Create role' }));
    assert.match(await alertText(owner), /The role "Auditors" was created/);

    const card = owner.locator('section.role-card', { hasText: 'Auditors' });
    await card.getByLabel('Name').fill('Audit team');
    await card.getByLabel('Manage Roles').check();
    await clickAndWait(owner, card.getByRole('button', { name: 'Save Auditors' }));
    assert.match(await alertText(owner), /The role "Audit team" was saved/);
    const roles = await t.get('/api/v1/roles', team.ownerToken);
    const saved = roles.body.roles.find((r: { name: string }) => r.name === 'Audit team');
    assert.deepEqual(saved.permissions, ['manage_roles', 'view_audit_log']);
    assert.equal(await owner.locator('section.role-card', { hasText: 'Administrator' }).first().getByRole('button').count(), 0, 'Administrator keeps every permission');
  });

  test('Manage › Audit log: filter by agent and by type', async () => {
    await owner.goto(`${origin}/manage/audit`);
    assert.ok((await owner.locator('tbody tr').count()) > 5);
    await owner.getByLabel('Agent email').fill(people.bob.email);
    await owner.getByLabel('Event').selectOption('agent.updated');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    const rows = await owner.locator('tbody tr').allInnerTexts();
    assert.equal(rows.length, 3, 'deactivated, activated, renamed and given a role');
    for (const row of rows) assert.match(row, /Agent updated[\s\S]*Olivia Owner[\s\S]*Robert Baker[\s\S]*Portal/);
    assert.match(rows[0], /changed: name, role/);
    await screenshot(owner, 'audit');

    // From any row: the person's name filters by them.
    await clickAndWait(owner, owner.locator('tbody tr').first().getByRole('link', { name: 'Olivia Owner' }));
    assert.equal(new URL(owner.url()).searchParams.get('agent'), team.ownerId, 'the link names the agent by id');
    assert.match(await owner.locator('main').innerText(), /Events for Olivia Owner \(owner@acme\.test\)/);
  });

  test('Manage › Account settings: lifetimes and policy, with the plan shown', async () => {
    await owner.goto(`${origin}/manage/account`);
    assert.match(await owner.locator('.page-head').innerText(), /Plan: Enterprise/);
    await owner.getByLabel('Reset link lifetime').fill('100');
    const refused = await clickAndWait(owner, owner.getByRole('button', { name: 'Save settings' }));
    assert.equal(refused?.status(), 400);
    assert.match(await alertText(owner), /Reset link lifetime must be a whole number from 1 to 72/);
    assert.equal(await owner.getByLabel('Reset link lifetime').getAttribute('aria-invalid'), 'true', 'on the field it is about');
    await owner.getByLabel('Reset link lifetime').fill('24');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Save settings' }));
    assert.match(await alertText(owner), /settings were saved/);
    assert.equal(await owner.getByLabel('Reset link lifetime').inputValue(), '24');
    await screenshot(owner, 'account-settings');

    await owner.goto(agentPage(people.bob.id));
    const section = passwordSection(owner);
    if ((await section.getByLabel('Your password').count()) > 0) {
      await section.getByLabel('Your password').fill(OWNER.password);
      await clickAndWait(owner, section.getByRole('button', { name: 'Continue' }));
    }
    assert.match(await passwordSection(owner).innerText(), /valid for 24 hours/);

    // "Administrators may only send reset emails": Manual Reset Password says so instead of a form.
    await owner.goto(`${origin}/manage/account`);
    await owner.getByLabel('Administrators may only send reset emails').check();
    await clickAndWait(owner, owner.getByRole('button', { name: 'Save settings' }));
    await owner.goto(agentPage(people.bob.id));
    assert.match(await passwordSection(owner).innerText(), /lets administrators only send password reset emails/);
    assert.equal(await passwordSection(owner).getByRole('button', { name: 'Change password' }).count(), 0);
    assert.equal(await passwordSection(owner).getByRole('button', { name: 'Send password reset email' }).count(), 1);
    await screenshot(owner, 'agent-manual-reset-off');
  });

  test('an invitation nobody used in 7 days is flagged as expired', async () => {
    t.clock.advanceMs(8 * DAY_MS);
    const page = await signedIn(OWNER.email, OWNER.password);
    await page.goto(`${origin}/manage/agents?status=invited&search=ivy`);
    assert.match(await page.locator('tbody tr', { hasText: people.ivy.name }).innerText(), /Invitation expired/);
  });

  test('no page broke the Content-Security-Policy', () => {
    assert.deepEqual(team.cspViolations, []);
  });
});
