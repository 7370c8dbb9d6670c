import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { OWNER, type TestApp } from './support/harness.js';
import { DESKTOP, PHONE, alertText, clickAndWait, screenshot, signInThroughPage } from './support/portal.js';
import { PortalTeam } from './support/portal-team.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import { checkPasswordRules } from '../src/domain/password-policy.js';
import { DEFAULT_SETTINGS } from '../src/domain/account-settings.js';

/**
 * Issue 12, items 1, 9, 13 and 14: a refused form is seen and heard (its error summary takes the
 * focus and is on screen at 390 px, each failing field is marked and tied to its message, typed
 * values stay); the password meter shows the server's verdict; show/hide on password fields;
 * the focus ring survives forced colors; "Generate" makes a readable passphrase that works.
 */

let team: PortalTeam;
let t: TestApp;
let origin: string;
let owner: Page;
let people: PortalTeam['people'];

const path = (page: Page) => new URL(page.url()).pathname;

/** The element with the focus, once the page has given it (autofocus, or assets/form-errors.js). */
async function focusedId(page: Page, expected: string): Promise<string | undefined> {
  await page.waitForFunction((id) => document.activeElement?.id === id, expected).catch(() => undefined);
  return page.evaluate(() => document.activeElement?.id);
}

/** Is the element's top inside the window (what a phone shows without scrolling)? */
async function inViewport(page: Page, selector: string): Promise<boolean> {
  return page.locator(selector).evaluate((element) => {
    const box = element.getBoundingClientRect();
    return box.top >= 0 && box.top < window.innerHeight && box.bottom > 0;
  });
}

/** The field is marked invalid and described by an element holding `message`. */
async function assertFieldError(page: Page, id: string, message: RegExp): Promise<void> {
  const field = page.locator(`[id="${id}"]`);
  assert.equal(await field.getAttribute('aria-invalid'), 'true', `#${id} is aria-invalid`);
  const describedBy = ((await field.getAttribute('aria-describedby')) ?? '').split(/\s+/);
  assert.ok(describedBy.includes(`${id}-error`), `#${id} is described by its message (${describedBy.join(' ')})`);
  assert.match(await page.locator(`[id="${id}-error"]`).innerText(), message);
  assert.ok((await page.locator(`.error-summary a[href="#${id}"]`).count()) >= 1, `the summary links to #${id}`);
}

/** A refused submit at 390 px: the summary has the focus and is on screen. */
async function assertSummaryFocused(page: Page, summaryId: string): Promise<void> {
  assert.equal(await focusedId(page, summaryId), summaryId, 'the error summary has the focus');
  assert.equal(await page.locator(`#${summaryId}`).getAttribute('role'), 'alert');
  assert.ok(await inViewport(page, `#${summaryId}`), `#${summaryId} is in the viewport at ${page.viewportSize()?.width} px`);
}

/** POSTs from the page (its cookies, the CSRF token of its first form), as the page's scripts do. */
async function postFromPage(page: Page, url: string, fields: Record<string, string>, withCsrf = true): Promise<{ status: number; body: string }> {
  return page.evaluate(
    async ({ url, fields, withCsrf }) => {
      const body = new URLSearchParams(fields);
      const csrf = document.querySelector<HTMLInputElement>('input[name="_csrf"]');
      if (withCsrf && csrf) body.set('_csrf', csrf.value);
      const response = await fetch(url, { method: 'POST', body, redirect: 'manual' });
      return { status: response.status, body: await response.text() };
    },
    { url, fields, withCsrf },
  );
}

async function passwordHash(id: string): Promise<string | null> {
  const row = await t.app.deskpass.deps.db.selectFrom('agents').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow();
  return row.password_hash;
}

async function auditCount(): Promise<number> {
  const rows = await t.app.deskpass.deps.db.selectFrom('audit_events').select('id').execute();
  return rows.length;
}

describe('agent portal: refused forms are seen and heard; the meter agrees with the server; Generate; forced colors', () => {
  before(async () => {
    team = await PortalTeam.start();
    ({ t, origin, owner, people } = team);
  });
  after(async () => team?.close());

  test('Manual Reset Password at 390 px: a weak password, then a mismatch; the summary has the focus, on screen, and each field says why', async () => {
    const bob = people.bob;
    const hashBefore = await passwordHash(bob.id);
    await owner.setViewportSize(PHONE);
    await owner.goto(team.agentPage(bob.id));
    const section = owner.locator('#password');
    await section.getByLabel('Password', { exact: true }).fill('password1234');
    await section.getByLabel('Confirm password').fill('password1234');
    await section.getByLabel('Require a change of password during next login').check();
    const weak = await clickAndWait(owner, section.getByRole('button', { name: 'Change password' }));
    assert.equal(weak?.status(), 422);
    await assertSummaryFocused(owner, 'manual-password-errors');
    const summary = await owner.locator('#manual-password-errors').innerText();
    assert.match(summary, /The password was not changed/);
    assert.match(summary, /too common/);
    assert.match(summary, /For your security, passwords were cleared: type them again/);
    await assertFieldError(owner, 'manual-password', /too common/);
    assert.equal(await section.getByLabel('Require a change of password during next login').isChecked(), true, 'the checkbox stays as it was');
    assert.equal(await section.getByLabel('Password', { exact: true }).inputValue(), '', 'the password was cleared, as the summary says');
    await screenshot(owner, 'forms-manual-reset-weak');

    // The summary's link takes the keyboard to the field.
    await owner.locator('#manual-password-errors a[href="#manual-password"]').first().click();
    assert.equal(await owner.evaluate(() => document.activeElement?.id), 'manual-password');

    await section.getByLabel('Password', { exact: true }).fill('Cobalt-Prairie-Lantern-19');
    await section.getByLabel('Confirm password').fill('Cobalt-Prairie-Lantern-91');
    const mismatch = await clickAndWait(owner, section.getByRole('button', { name: 'Change password' }));
    assert.equal(mismatch?.status(), 422);
    await assertSummaryFocused(owner, 'manual-password-errors');
    await assertFieldError(owner, 'manual-password-confirm', /do not match/);
    assert.equal(await owner.locator('#manual-password').getAttribute('aria-invalid'), null, 'only the confirmation is marked');
    await screenshot(owner, 'forms-manual-reset-mismatch');
    assert.equal(await passwordHash(bob.id), hashBefore, "Bob's password did not change");
    await owner.setViewportSize(DESKTOP);
  });

  test("an agent's profile without a name: the profile form's summary has the focus and the name field says why; nothing is saved", async () => {
    await owner.goto(team.agentPage(people.bob.id));
    await owner.locator('#name').fill('   ');
    const refused = await clickAndWait(owner, owner.getByRole('button', { name: 'Save profile' }));
    assert.equal(refused?.status(), 400);
    await assertSummaryFocused(owner, 'profile-errors');
    await assertFieldError(owner, 'name', /Enter a name/);
    const row = await t.app.deskpass.deps.db.selectFrom('agents').select('name').where('id', '=', people.bob.id).executeTakeFirstOrThrow();
    assert.equal(row.name, people.bob.name, 'the name is unchanged');
  });

  test('a new role without a name at 390 px: focus on the summary, the name field marked, the ticked permissions kept, no role made', async () => {
    const rolesBefore = (await t.app.deskpass.deps.db.selectFrom('roles').select('id').execute()).length;
    await owner.setViewportSize(PHONE);
    await owner.goto(`${origin}/manage/roles`);
    const card = owner.locator('#new-role');
    await card.getByLabel('View Audit Log').check();
    const refused = await clickAndWait(owner, card.getByRole('button', { name: 'Create role' }));
    assert.equal(refused?.status(), 400);
    await assertSummaryFocused(owner, 'new-role-errors');
    await assertFieldError(owner, 'new-role-name', /Give the role a name/);
    assert.equal(await owner.locator('#new-role').getByLabel('View Audit Log').isChecked(), true, 'the typed choice is kept');
    assert.equal((await t.app.deskpass.deps.db.selectFrom('roles').select('id').execute()).length, rolesBefore, 'no role was created');
    await screenshot(owner, 'forms-new-role-unnamed');
    await owner.setViewportSize(DESKTOP);
  });

  test('account settings at 390 px: an out-of-range minimum length is marked on its field; what was typed stays; nothing is saved', async () => {
    const before = await snapshotState(t);
    await owner.setViewportSize(PHONE);
    await owner.goto(`${origin}/manage/account`);
    await owner.getByLabel('Minimum length').fill('5');
    await owner.getByLabel('Password history').fill('7');
    const refused = await clickAndWait(owner, owner.getByRole('button', { name: 'Save settings' }));
    assert.equal(refused?.status(), 400);
    await assertSummaryFocused(owner, 'settings-errors');
    await assertFieldError(owner, 'min-length', /Minimum length must be a whole number from 8 to 64/);
    assert.equal(await owner.getByLabel('Minimum length').inputValue(), '5', 'the typed value is kept');
    assert.equal(await owner.getByLabel('Password history').inputValue(), '7', 'and so are the others');
    assert.equal(await owner.locator('#history-depth').getAttribute('aria-invalid'), null);
    assertStateUnchanged(before, await snapshotState(t), 'refused settings');
    await screenshot(owner, 'forms-account-settings-refused');
    await owner.setViewportSize(DESKTOP);
  });

  test('sign-in at 390 px: a wrong password; the email stays, the password field is marked and the summary says it was cleared', async () => {
    const { page } = await team.visitor();
    await page.setViewportSize(PHONE);
    await page.goto(`${origin}/login`);
    await page.getByLabel('Email').fill(people.bob.email);
    await page.getByLabel('Password', { exact: true }).fill('Not-Bobs-Password-00');
    const refused = await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(refused?.status(), 401);
    await assertSummaryFocused(page, 'sign-in-errors');
    await assertFieldError(page, 'password', /The email or password is not correct/);
    assert.match(await page.locator('#sign-in-errors').innerText(), /the password was cleared: type it again/);
    assert.equal(await page.getByLabel('Email').inputValue(), people.bob.email, 'the email is kept');
    await screenshot(page, 'forms-sign-in-refused');

    // Nothing typed: each empty field says so.
    await page.getByLabel('Email').fill('');
    const empty = await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(empty?.status(), 400);
    await assertSummaryFocused(page, 'sign-in-errors');
    await assertFieldError(page, 'email', /Enter your email address/);
    await assertFieldError(page, 'password', /Enter your password/);
    await page.context().close();
  });

  test('My Settings › Change password at 390 px: a wrong current password is marked on its field, and the summary says the passwords were cleared', async () => {
    const page = await team.signedIn(people.ada.email, people.ada.password);
    await page.setViewportSize(PHONE);
    await page.goto(`${origin}/my-settings/password`);
    assert.match(await page.locator('#new-password-rules').innerText(), /your recent passwords are refused/);
    await page.getByLabel('Current password').fill('Not-Adas-Password-00');
    await page.getByLabel('New password', { exact: true }).fill('Cobalt-Prairie-Lantern-Sky');
    await page.getByLabel('Confirm new password').fill('Cobalt-Prairie-Lantern-Sky');
    const refused = await clickAndWait(page, page.getByRole('button', { name: 'Change password' }));
    assert.equal(refused?.status(), 400);
    await assertSummaryFocused(page, 'password-errors');
    await assertFieldError(page, 'current-password', /Your current password is not correct/);
    assert.match(await page.locator('#password-errors').innerText(), /passwords were cleared: type them again/);
    await screenshot(page, 'forms-my-password-refused');
    await page.context().close();
  });

  test("the reset page at 390 px: the meter shows the server's refusals (common password, the agent's name) before submit, and a refused submit is focused", async () => {
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: people.bob.email })).status, 202);
    const token = t.linkToken(await t.mailTo(people.bob.email, /Reset your password/, since));
    const { page } = await team.visitor();
    await page.setViewportSize(PHONE);
    await page.goto(`${origin}/reset-password/${token}`);
    assert.match(await page.locator('#new-password-rules').innerText(), /Your name, your email address, the help desk name, common passwords and your recent passwords are refused/);

    const meter = page.locator('#new-password-strength');
    await page.getByLabel('New password', { exact: true }).fill('password1234');
    await meter.locator('.strength-problems li').first().waitFor();
    assert.match(await meter.innerText(), /would be refused/);
    assert.match(await meter.innerText(), /too common or too predictable/);
    assert.doesNotMatch(await meter.innerText(), /Fair|Good|Strong/, 'a blocklisted password is never "Fair"');
    await screenshot(page, 'forms-meter-blocklisted');

    await page.getByLabel('New password', { exact: true }).fill('Baker-Lantern-Orbit-Prairie');
    await page.waitForFunction(() => /name/.test(document.querySelector('#new-password-strength .strength-problems')?.textContent ?? ''));
    assert.match(await meter.innerText(), /Do not use your name, your email address or the help desk name/);

    await page.getByLabel('New password', { exact: true }).fill('Cobalt-Prairie-Lantern-Sky');
    await page.waitForFunction(() => /Strength: (Good|Strong)/.test(document.querySelector('#new-password-strength')?.textContent ?? ''));
    assert.equal(await meter.locator('.strength-problems li').count(), 0, 'an accepted password lists no refusal');

    // The same refusal on submit, in the same words.
    await page.getByLabel('New password', { exact: true }).fill('Baker-Lantern-Orbit-Prairie');
    await page.getByLabel('Confirm new password').fill('Baker-Lantern-Orbit-Prairie');
    const refused = await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    assert.equal(refused?.status(), 422);
    await assertSummaryFocused(page, 'reset-errors');
    await assertFieldError(page, 'new-password', /Do not use your name, your email address or the help desk name/);
    await screenshot(page, 'forms-reset-refused');

    // A dead link's check says nothing about anyone.
    const dead = await postFromPage(page, `/reset-password/${'x'.repeat(43)}/check`, { password: 'Bob-Baker-Lantern' });
    assert.equal(dead.status, 410);
    assert.doesNotMatch(dead.body, /bob|Baker|problems/i);
    await page.context().close();
  });

  test("the admin's meter judges the password for the target (their name), and says so up front", async () => {
    await owner.goto(team.agentPage(people.bob.id));
    const section = owner.locator('#password');
    assert.match(await section.locator('#manual-password-rules').innerText(), /Their name, their email address, the help desk name, common passwords and their recent passwords are refused/);
    await section.getByLabel('Password', { exact: true }).fill('Bob-Orchid-Summit-Lantern');
    const meter = owner.locator('#manual-password-strength');
    await meter.locator('.strength-problems li').first().waitFor();
    assert.match(await meter.innerText(), /would be refused/);
    assert.match(await meter.innerText(), /name/);
    // the owner's own name is not Bob's: the same words are fine for the owner's password... but the check is about Bob
    await section.getByLabel('Password', { exact: true }).fill('Olivia-Orchid-Summit-Lantern');
    await owner.waitForFunction(() => /Strength: (Good|Strong)/.test(document.querySelector('#manual-password-strength')?.textContent ?? ''));
    await screenshot(owner, 'forms-meter-admin');
  });

  test('the check endpoint writes nothing, verifies no hash, logs no value, and answers only for the agent the page is about', async () => {
    await owner.goto(team.agentPage(people.bob.id));
    const typed = 'Secret-Typed-Candidate-8841';
    t.secrets.add(typed);
    const before = await snapshotState(t);
    const audits = await auditCount();
    const verifies = t.hasher.calls.verify;
    const hashes = t.hasher.calls.hash;
    const logLength = t.logs.length;

    const answer = await postFromPage(owner, `/manage/agents/${people.bob.id}/password-check`, { password: typed });
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { ok: true, problems: [] });
    assert.ok(!answer.body.includes(typed), 'the value is not echoed');
    const own = await postFromPage(owner, '/my-settings/password-check', { password: 'Olivia-Owner-Lantern-Sky' });
    assert.match(JSON.parse(own.body).problems.map((p: { rule: string }) => p.rule).join(','), /contains_personal_info/, "the signed-in agent's own words");

    assert.equal(t.hasher.calls.verify, verifies, 'no stored hash was verified (no history check: no oracle, no argon2 cost)');
    assert.equal(t.hasher.calls.hash, hashes, 'nothing was hashed');
    assertStateUnchanged(before, await snapshotState(t), 'password check');
    assert.equal(await auditCount(), audits, 'no audit event');
    assert.deepEqual(t.leakedSecrets(t.logs.slice(logLength).join('\n'), [OWNER.password]).filter((s) => s === typed), [], 'the typed value is in no log line');

    // No CSRF token: refused. Another agent's context: only for whoever may set their password.
    const noCsrf = await postFromPage(owner, `/manage/agents/${people.bob.id}/password-check`, { password: typed }, false);
    assert.equal(noCsrf.status, 403);
    const mia = await team.signedIn(people.mia.email, people.mia.password);
    await mia.goto(`${origin}/my-settings/password`);
    const refused = await postFromPage(mia, `/manage/agents/${people.bob.id}/password-check`, { password: 'Bob-Baker-Lantern-Sky' });
    assert.equal(refused.status, 403, 'an agent manager without Manage Agent Password learns nothing');
    assert.doesNotMatch(refused.body, /problems|name/);
    const generateRefused = await postFromPage(mia, `/manage/agents/${people.bob.id}/password-generate`, {});
    assert.equal(generateRefused.status, 403);
    const unknown = await postFromPage(owner, '/manage/agents/00000000-0000-4000-8000-000000000000/password-check', { password: typed });
    assert.equal(unknown.status, 404);
    // Signed out: the sign-in page, no answer.
    const { page: stranger } = await team.visitor();
    await stranger.goto(`${origin}/login`);
    const signedOut = await postFromPage(stranger, `/manage/agents/${people.bob.id}/password-check`, { password: typed });
    assert.notEqual(signedOut.status, 200);
    await mia.context().close();
    await stranger.context().close();
  });

  test('show/hide on a password field works with the keyboard alone', async () => {
    const { page } = await team.visitor();
    await page.goto(`${origin}/login`);
    const password = page.getByLabel('Password', { exact: true });
    await password.fill('Typed-Secret-Value-1');
    await password.focus();
    await page.keyboard.press('Tab');
    const toggle = page.getByRole('button', { name: 'Show password' });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Show password', 'the toggle follows the field in the tab order');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await page.keyboard.press('Enter');
    assert.equal(await password.getAttribute('type'), 'text');
    const hide = page.getByRole('button', { name: 'Hide password' });
    assert.equal(await hide.getAttribute('aria-pressed'), 'true');
    await screenshot(page, 'forms-password-shown');
    await hide.focus();
    await page.keyboard.press('Space');
    assert.equal(await password.getAttribute('type'), 'password');
    assert.equal(await page.getByRole('button', { name: 'Show password' }).getAttribute('aria-pressed'), 'false');
    await page.context().close();
  });

  test('forced colors: a focused button, link and input keep a visible outline of at least 2 px', async () => {
    const { page } = await team.visitor();
    await page.emulateMedia({ forcedColors: 'active' });
    await page.goto(`${origin}/login`);
    const outlineOf = () =>
      page.evaluate(() => {
        const style = getComputedStyle(document.activeElement as Element);
        return { tag: document.activeElement?.tagName, style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
      });
    // keyboard focus: the email field (autofocus), then Tab by Tab to the button and the link
    await page.getByLabel('Email').focus();
    const input = await outlineOf();
    assert.equal(input.tag, 'INPUT');
    await page.getByLabel('Password', { exact: true }).focus();
    await page.keyboard.press('Tab'); // Show password
    await page.keyboard.press('Tab'); // Sign in
    const button = await outlineOf();
    assert.equal(button.tag, 'BUTTON');
    await screenshot(page, 'forms-forced-colors-sign-in');
    await page.keyboard.press('Tab'); // Forgot password?
    const link = await outlineOf();
    assert.equal(link.tag, 'A');
    for (const [what, found] of Object.entries({ link, input, button })) {
      assert.notEqual(found.style, 'none', `${what}: outline-style under forced colors`);
      assert.ok(found.width >= 2, `${what}: outline width ${found.width} px ≥ 2 px`);
    }
    await page.context().close();

    await owner.emulateMedia({ forcedColors: 'active' });
    await owner.goto(team.agentPage(people.bob.id));
    await owner.locator('#password').getByLabel('Password', { exact: true }).focus();
    const field = await owner.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle);
    assert.notEqual(field, 'none');
    await screenshot(owner, 'forms-forced-colors-agent');
    await owner.emulateMedia({ forcedColors: 'none' });
  });

  test('Generate makes a readable passphrase, announced and shown until sent; the server accepts it and Bob signs in with it', async () => {
    const bob = people.bob;
    const hashBefore = await passwordHash(bob.id);
    await owner.goto(team.agentPage(bob.id));
    const section = owner.locator('#password');
    // by keyboard: focus stays on the button while it works, and after
    await section.getByRole('button', { name: 'Generate' }).focus();
    await owner.keyboard.press('Enter');
    await section.locator('.generated code').filter({ hasText: /\S/ }).waitFor();
    assert.equal(await owner.evaluate(() => document.activeElement?.textContent?.trim()), 'Generate', 'keyboard focus stays on Generate');
    const generated = (await section.locator('.generated code').innerText()).trim();
    t.secrets.add(generated);
    assert.match(generated, /^[a-z]+(-[a-z]+){3,}$/, 'four or more words joined by "-"');
    assert.ok(generated.length >= DEFAULT_SETTINGS.passwordPolicy.minLength);
    await owner.waitForFunction(() => document.getElementById('manual-password-generated-status')?.textContent === 'Password generated: shown below.');
    assert.equal(await section.getByLabel('Password', { exact: true }).inputValue(), generated);
    assert.equal(await section.getByLabel('Confirm password').inputValue(), generated);
    await owner.waitForFunction(() => /Strength: (Good|Strong)/.test(document.querySelector('#manual-password-strength')?.textContent ?? ''));
    await owner.keyboard.press('Tab');
    assert.equal(await section.locator('.generated').isVisible(), true, 'still shown after moving on');
    await screenshot(owner, 'forms-generated-passphrase');

    const done = await clickAndWait(owner, section.getByRole('button', { name: 'Change password' }));
    assert.equal(done?.status(), 200);
    assert.match(await alertText(owner), /The password of Bob Baker/);
    assert.notEqual(await passwordHash(bob.id), hashBefore, "Bob's password really changed");
    const page = await team.signedIn(bob.email, generated);
    assert.ok(['/apps', '/password-change-required'].includes(path(page)), `signed in as Bob (${path(page)})`);
    bob.password = generated;
    await page.context().close();
  });

  test('under a strict policy (40 characters, every class), generated passphrases pass every rule for the target', async () => {
    const policy = { minLength: 40, requireUppercase: true, requireLowercase: true, requireDigit: true, requireSymbol: true };
    assert.equal((await t.patch('/api/v1/account', { passwordPolicy: policy }, team.ownerToken)).status, 200);
    try {
      await owner.goto(team.agentPage(people.bob.id));
      for (let i = 0; i < 5; i += 1) {
        const answer = await postFromPage(owner, `/manage/agents/${people.bob.id}/password-generate`, {});
        assert.equal(answer.status, 200);
        const { password } = JSON.parse(answer.body) as { password: string };
        const full = { ...DEFAULT_SETTINGS.passwordPolicy, ...policy };
        assert.deepEqual(checkPasswordRules(password, full, { email: people.bob.email, name: people.bob.name, accountName: 'Acme Support' }), [], password);
      }
    } finally {
      assert.equal((await t.patch('/api/v1/account', { passwordPolicy: { minLength: 12, requireUppercase: false, requireLowercase: false, requireDigit: false, requireSymbol: false } }, team.ownerToken)).status, 200);
    }
  });
});
