import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Secret, TOTP } from 'otpauth';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { hashToken } from '../src/security/tokens.js';
import { OWNER, type TestApp } from './support/harness.js';
import { PHONE, alertText, clickAndWait, screenshot, signInThroughPage } from './support/portal.js';
import { PortalTeam, type Person } from './support/portal-team.js';

const DESKTOP = { width: 1280, height: 900 };
const MINUTE_MS = 60_000;
/** A TOTP code is accepted once per 30-second step: the clock moves one step before each code. */
const STEP_MS = 30_000;

let team: PortalTeam;
let t: TestApp;
let origin: string;
let owner: Page;
let people: PortalTeam['people'];

const path = (page: Page) => new URL(page.url()).pathname;
const db = () => t.app.deskpass.deps.db;

/**
 * An authenticator app holding the key the set-up page showed: each call is the code for the
 * server's time, one step after the last; `wrong()` is a code that is none of those the server
 * accepts now (this step, or one either way).
 */
type Authenticator = (() => string) & { wrong: () => string };
function authenticatorFor(key: string): Authenticator {
  const totp = new TOTP({ secret: Secret.fromBase32(key.replace(/\s/g, '')), digits: 6, period: 30, algorithm: 'SHA1' });
  const at = (offsetMs: number) => totp.generate({ timestamp: t.clock.now().getTime() + offsetMs });
  const next = () => {
    t.clock.advanceMs(STEP_MS);
    return at(0);
  };
  const wrong = () => {
    const accepted = new Set([at(-STEP_MS), at(0), at(STEP_MS)]);
    let guess = 123456;
    while (accepted.has(String(guess))) guess += 1;
    return String(guess);
  };
  return Object.assign(next, { wrong });
}

/**
 * Screenshots at desktop (1280×900) and phone (390×844) widths, after checking at both that the
 * page does not scroll sideways and that what matters on it is visible.
 */
async function shoot(page: Page, name: string, visible: string[] = []): Promise<void> {
  for (const size of [PHONE, DESKTOP]) {
    await page.setViewportSize(size);
    for (const selector of visible) assert.ok(await page.locator(selector).first().isVisible(), `${name}: ${selector} is visible at ${size.width} px`);
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(sideways <= 0, `${name}: no sideways scrolling at ${size.width} px (${sideways} px too wide)`);
  }
  await screenshot(page, `two-factor-${name}`, DESKTOP);
}

/** A browser of one's own at 1280×900, with a virtual platform authenticator (user-verifying, discoverable credentials) on its page. */
async function browserWithAuthenticator(): Promise<{ context: BrowserContext; page: Page; cdp: CDPSession; authenticatorId: string }> {
  const { context, page } = await team.visitor();
  await page.setViewportSize(DESKTOP);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { context, page, cdp, authenticatorId };
}

async function signOut(page: Page): Promise<void> {
  await clickAndWait(page, page.locator('.site-header').getByRole('button', { name: 'Sign out' }));
  assert.equal(path(page), '/login');
}

/** Email and password on the sign-in page, then the code at the second step. */
async function signInWithCode(page: Page, who: { email: string; password: string }, code: string): Promise<void> {
  await signInThroughPage(page, origin, who.email, who.password);
  assert.equal(path(page), '/login/two-factor');
  await page.locator('#code').fill(code);
  await clickAndWait(page, page.getByRole('button', { name: 'Verify', exact: true }));
}

/** From My Settings › Two-factor authentication: "Set up an authenticator app", the key read off the page, a code, the ten codes. */
async function enrolAuthenticator(page: Page, shots?: { totp: string; codes: string }): Promise<{ code: Authenticator; recoveryCodes: string[] }> {
  assert.equal(path(page), '/my-settings/two-factor');
  await clickAndWait(page, page.getByRole('button', { name: 'Set up an authenticator app' }));
  assert.equal(path(page), '/my-settings/two-factor/totp');
  const key = await page.locator('#totp-key').innerText();
  assert.match(key, /^[A-Z2-7]{4}( [A-Z2-7]{1,4})+$/, 'the key in groups of four base32 letters');
  assert.equal(await page.getByRole('img', { name: /QR code for adding your Acme Support account/ }).count(), 1);
  if (shots) await shoot(page, shots.totp, ['svg.qr-code', '#totp-key', '#code']);
  const code = authenticatorFor(key);
  await page.locator('#code').fill(code());
  await clickAndWait(page, page.getByRole('button', { name: 'Turn on' }));
  assert.match(await page.locator('h1').innerText(), /Two-factor authentication is on/);
  const recoveryCodes = await page.locator('#recovery-codes code').allInnerTexts();
  if (shots) await shoot(page, shots.codes, ['#recovery-codes']);
  return { code, recoveryCodes };
}

/** The session row behind this browser's session cookie. */
async function sessionOf(context: BrowserContext) {
  const cookie = (await context.cookies(origin)).find((c) => c.name === t.app.deskpass.cookieName);
  if (!cookie) return undefined;
  return db().selectFrom('sessions').selectAll().where('token_hash', '=', hashToken(cookie.value)).executeTakeFirst();
}

const amrOf = async (context: BrowserContext) => JSON.parse((await sessionOf(context))?.amr ?? 'null') as string[] | null;
const sessionCount = async (agentId: string) => (await db().selectFrom('sessions').select('id').where('agent_id', '=', agentId).execute()).length;
const passkeyRows = (agentId: string) => db().selectFrom('passkeys').select(['id', 'name', 'last_used_at']).where('agent_id', '=', agentId).execute();
const unusedRecoveryCodes = async (agentId: string) => (await db().selectFrom('recovery_codes').select('id').where('agent_id', '=', agentId).where('used_at', 'is', null).execute()).length;
const twoFactorEnabled = async (agentId: string) => Boolean((await db().selectFrom('agents').select('two_factor_enabled').where('id', '=', agentId).executeTakeFirstOrThrow()).two_factor_enabled);
const auditTypes = async (agentId: string) => (await db().selectFrom('audit_events').select('type').where('target_agent_id', '=', agentId).orderBy('id').execute()).map((e) => e.type);
const storedPolicy = async () => (JSON.parse((await db().selectFrom('accounts').select('settings').executeTakeFirstOrThrow()).settings) as { twoFactorPolicy: string }).twoFactorPolicy;
const failedCount = async (email: string) => (await db().selectFrom('login_attempts').select('failed_count').where('email_normalized', '=', email).execute()).reduce((sum, row) => sum + Number(row.failed_count), 0);

describe('agent portal: the second factor (authenticator app, recovery codes, passkeys, the policy, the admin reset)', () => {
  /** Bob's own browser, with a virtual authenticator, kept through the tests as a person keeps theirs. */
  let bob: Awaited<ReturnType<typeof browserWithAuthenticator>>;
  let bobCode: Authenticator;
  let bobRecoveryCodes: string[];
  let miaCode: Authenticator;

  before(async () => {
    team = await PortalTeam.start({ hostname: 'localhost' });
    ({ t, origin, owner, people } = team);
    assert.equal(new URL(origin).hostname, 'localhost', 'passkeys need a domain as the RP ID');
    bob = await browserWithAuthenticator();
  });
  after(async () => team?.close());

  test('an authenticator app: the key the page shows, a code, ten recovery codes; then signing in asks for a code, and a wrong one is said and counted', async () => {
    const { page, context } = bob;
    const b: Person = people.bob;
    await signInThroughPage(page, origin, b.email, b.password);
    assert.equal(path(page), '/apps');
    await page.goto(`${origin}/my-settings/two-factor`);
    assert.match(await page.locator('main').innerText(), /Two-factor authentication is off/);
    assert.equal(await page.getByRole('button', { name: 'Add a passkey' }).isVisible(), true, 'this browser can add a passkey');
    await shoot(page, 'overview-off', ['form[data-passkey="create"]']);

    // A wrong code at the set-up keeps the key and says so.
    await clickAndWait(page, page.getByRole('button', { name: 'Set up an authenticator app' }));
    const key = await page.locator('#totp-key').innerText();
    await page.locator('#code').fill(authenticatorFor(key).wrong());
    const wrong = await clickAndWait(page, page.getByRole('button', { name: 'Turn on' }));
    assert.equal(wrong?.status(), 400);
    assert.match(await alertText(page), /That code is not correct/);
    assert.equal(await page.locator('#code').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#totp-key').innerText(), key, 'the same key, still waiting for its code');
    assert.equal(await twoFactorEnabled(b.id), false);
    await page.goto(`${origin}/my-settings/two-factor`);

    const since = t.smtp.messages.length;
    ({ code: bobCode, recoveryCodes: bobRecoveryCodes } = await enrolAuthenticator(page, { totp: 'totp-set-up', codes: 'recovery-codes' }));
    assert.equal(bobRecoveryCodes.length, 10);
    assert.equal(new Set(bobRecoveryCodes).size, 10, 'ten different codes');
    assert.equal(await page.getByRole('link', { name: 'Download as text' }).getAttribute('download'), 'deskpass-recovery-codes.txt');
    assert.equal(await twoFactorEnabled(b.id), true);
    assert.equal(await unusedRecoveryCodes(b.id), 10);
    const totpRow = await db().selectFrom('two_factor_totp').select(['sealed_secret', 'confirmed_at']).where('agent_id', '=', b.id).executeTakeFirstOrThrow();
    assert.ok(totpRow.confirmed_at);
    assert.ok(!totpRow.sealed_secret.includes(key.replace(/\s/g, '')), 'the secret is sealed at rest');
    const added = await t.mailTo(b.email, /An authenticator app was added/, since);
    assert.ok(!added.text.includes(key.replace(/\s/g, '')) && !bobRecoveryCodes.some((c) => added.text.includes(c)), 'the email has neither the key nor a code');
    assert.ok((await auditTypes(b.id)).includes('two_factor.enabled'));

    await clickAndWait(page, page.getByRole('link', { name: 'I have saved them, continue' }));
    assert.equal(path(page), '/apps');
    await page.goto(`${origin}/my-settings/two-factor`);
    assert.match(await page.locator('main').innerText(), /Two-factor authentication is on[\s\S]*You have 10 of 10 left/);
    await shoot(page, 'overview-on');

    // Signing in again: the password is not enough.
    await signOut(page);
    await signInThroughPage(page, origin, b.email, b.password);
    assert.equal(path(page), '/login/two-factor');
    assert.equal(await sessionOf(context), undefined, 'no session before the second step');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'code', 'the code field has the focus');
    assert.equal(await page.locator('form[data-passkey="get"]').count(), 0, 'no passkey offered to an agent without one');
    await shoot(page, 'second-step', ['#code', 'details.other-way summary']);

    const failuresBefore = await failedCount(b.email);
    await page.locator('#code').fill(bobCode.wrong());
    const refused = await clickAndWait(page, page.getByRole('button', { name: 'Verify', exact: true }));
    assert.equal(refused?.status(), 401);
    assert.equal(path(page), '/login/two-factor');
    assert.match(await alertText(page), /That code is not correct/);
    assert.equal(await page.locator('#code').getAttribute('aria-invalid'), 'true');
    assert.match((await page.locator('#code').getAttribute('aria-describedby')) ?? '', /\bcode-error\b/, 'the field points at its message');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'two-factor-errors', 'the focus is on the error summary');
    assert.equal(await page.locator('#two-factor-errors a[href="#code"]').count(), 1, 'which links to the code field');
    assert.equal(await failedCount(b.email), failuresBefore + 1, 'a wrong code counts on the lockout door like a wrong password');
    assert.ok((await auditTypes(b.id)).includes('login.two_factor_failed'));
    await shoot(page, 'second-step-wrong-code', ['#two-factor-errors', '#code']);

    await page.locator('#code').fill(bobCode());
    await clickAndWait(page, page.getByRole('button', { name: 'Verify', exact: true }));
    assert.equal(path(page), '/apps', 'signed in, on the home page');
    assert.deepEqual(await amrOf(context), ['pwd', 'otp', 'mfa']);
    assert.equal(await failedCount(b.email), 0, 'the right code clears the failures');
  });

  test('a recovery code at the second step works once, and the email says 9 are left', async () => {
    const { page } = bob;
    const b = people.bob;
    await signOut(page);
    await signInThroughPage(page, origin, b.email, b.password);
    assert.equal(path(page), '/login/two-factor');
    assert.equal(await page.locator('#recovery-code').isVisible(), false, 'tucked away until asked for');
    await page.getByText('Use a recovery code').click();
    assert.equal(await page.locator('#recovery-code').isVisible(), true);
    await shoot(page, 'second-step-recovery', ['#recovery-code']);
    const since = t.smtp.messages.length;
    await page.locator('#recovery-code').fill(bobRecoveryCodes[0].toUpperCase());
    await clickAndWait(page, page.getByRole('button', { name: 'Verify recovery code' }));
    assert.equal(path(page), '/apps');
    assert.equal(await unusedRecoveryCodes(b.id), 9);
    const mail = await t.mailTo(b.email, /A recovery code was used/, since);
    assert.match(mail.text, /You have 9 recovery codes left/);
    assert.ok(!bobRecoveryCodes.some((c) => mail.text.includes(c) || mail.html.includes(c)), 'no code in the email');
    assert.ok((await auditTypes(b.id)).includes('two_factor.recovery_code_used'));

    // The same code again: refused, in the recovery form that stays open.
    await signOut(page);
    await signInThroughPage(page, origin, b.email, b.password);
    await page.getByText('Use a recovery code').click();
    await page.locator('#recovery-code').fill(bobRecoveryCodes[0]);
    const reused = await clickAndWait(page, page.getByRole('button', { name: 'Verify recovery code' }));
    assert.equal(reused?.status(), 401);
    assert.match(await alertText(page), /recovery code is not correct, or it was already used/);
    assert.equal(await page.locator('details.other-way').getAttribute('open'), '', 'the recovery form is open');
    assert.equal(await page.locator('#recovery-code').getAttribute('aria-invalid'), 'true');
    assert.match((await page.locator('#recovery-code').getAttribute('aria-describedby')) ?? '', /\brecovery-code-error\b/, 'the field points at its message');
    assert.equal(await page.locator('#code').getAttribute('aria-invalid'), null);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'two-factor-errors');
    assert.equal(await page.locator('#two-factor-errors a[href="#recovery-code"]').count(), 1);
    await shoot(page, 'second-step-recovery-used', ['#recovery-code', '#two-factor-errors']);
    await page.locator('#code').fill(bobCode());
    await clickAndWait(page, page.getByRole('button', { name: 'Verify', exact: true }));
    assert.equal(path(page), '/apps');
    assert.equal(await unusedRecoveryCodes(b.id), 9);
  });

  test('a passkey: added after confirming it is you, then it signs in alone, and serves as the second step after a password', async () => {
    const { page, context, cdp, authenticatorId } = bob;
    const b = people.bob;
    // An older sign-in must confirm it is the agent first (password and a code).
    t.clock.advanceMs(11 * MINUTE_MS);
    await page.goto(`${origin}/my-settings/two-factor`);
    assert.match(await page.locator('#confirm').innerText(), /Confirm it's you/);
    assert.equal(await page.getByRole('button', { name: 'Add a passkey' }).isDisabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Replace with a new app' }).isDisabled(), true);
    await shoot(page, 'confirm-its-you', ['#confirm']);
    const confirm = page.locator('#confirm');
    await confirm.getByLabel('Your password').fill(b.password);
    const noCode = await clickAndWait(page, confirm.getByRole('button', { name: 'Confirm', exact: true }));
    assert.equal(noCode?.status(), 400);
    assert.match(await alertText(page), /Enter the 6-digit code from your authenticator app/);
    await page.locator('#confirm').getByLabel('Your password').fill(b.password);
    await page.locator('#confirm').getByLabel('Code from your authenticator app, or a recovery code').fill(bobCode());
    await clickAndWait(page, page.locator('#confirm').getByRole('button', { name: 'Confirm', exact: true }));
    assert.match(await alertText(page), /For the next 10 minutes/);
    assert.equal(await page.locator('#confirm').count(), 0);

    const since = t.smtp.messages.length;
    await page.locator('#passkey-name').fill('Work laptop');
    await clickAndWait(page, page.getByRole('button', { name: 'Add a passkey' }));
    assert.equal(path(page), '/my-settings/two-factor');
    assert.match(await alertText(page), /The passkey "Work laptop" is added/);
    assert.match(await page.locator('.passkey-list').innerText(), /Work laptop[\s\S]*not used yet/);
    await shoot(page, 'passkey-added', ['.passkey-list']);
    const rows = await passkeyRows(b.id);
    assert.deepEqual(rows.map((r) => r.name), ['Work laptop']);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'the authenticator holds one credential');
    assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential: it can sign in without an email');
    await t.mailTo(b.email, /A passkey was added/, since);
    assert.ok((await auditTypes(b.id)).includes('passkey.added'));

    // The passkey alone, from the sign-in page.
    await signOut(page);
    assert.equal(await page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible(), true);
    await shoot(page, 'sign-in-with-passkey', ['form[action="/login/passkey"] button']);
    await clickAndWait(page, page.getByRole('button', { name: 'Sign in with a passkey' }));
    assert.equal(path(page), '/apps', 'signed in without a password');
    assert.match(await page.locator('.site-header').innerText(), /Bob Baker/);
    assert.deepEqual(await amrOf(context), ['hwk', 'mfa']);
    assert.ok((await passkeyRows(b.id))[0].last_used_at, 'the passkey is marked as used');

    // The passkey as the second step, after the password.
    await signOut(page);
    await signInThroughPage(page, origin, b.email, b.password);
    assert.equal(path(page), '/login/two-factor');
    await clickAndWait(page, page.getByRole('button', { name: 'Use a passkey' }));
    assert.equal(path(page), '/apps');
    assert.deepEqual(await amrOf(context), ['pwd', 'hwk', 'mfa']);
  });

  test('the policy: the Account Administrator must have a factor to require one; then an agent without one is sent to set it up, and nothing else opens until they do', async () => {
    // Without a factor of their own, "Every agent" is refused.
    await owner.setViewportSize(DESKTOP);
    await owner.goto(`${origin}/manage/account`);
    assert.match(await owner.locator('main').innerText(), /To require it of yourself too, first set up your own/);
    await owner.getByLabel('Every agent').check();
    const refused = await clickAndWait(owner, owner.getByRole('button', { name: 'Save settings' }));
    assert.equal(refused?.status(), 400);
    assert.match(await alertText(owner), /Set up a second factor of your own first/);
    assert.equal(await owner.getByLabel('Every agent').isChecked(), true, 'the choice is kept on the page');
    assert.equal(await storedPolicy(), 'optional', 'nothing was saved');
    await shoot(owner, 'policy-refused', ['#settings-errors']);

    // The owner sets up their own (their sign-in is older than 10 minutes: their password first), then requires it of everyone.
    await owner.goto(`${origin}/my-settings/two-factor`);
    assert.equal(await owner.getByRole('button', { name: 'Set up an authenticator app' }).isDisabled(), true);
    await owner.locator('#confirm').getByLabel('Your password').fill(OWNER.password);
    await clickAndWait(owner, owner.locator('#confirm').getByRole('button', { name: 'Confirm', exact: true }));
    assert.match(await alertText(owner), /For the next 10 minutes/);
    await enrolAuthenticator(owner);
    await owner.goto(`${origin}/manage/account`);
    assert.equal(await owner.getByText('To require it of yourself too').count(), 0);
    await owner.getByLabel('Every agent').check();
    await clickAndWait(owner, owner.getByRole('button', { name: 'Save settings' }));
    assert.match(await alertText(owner), /The account settings were saved/);
    assert.equal(await owner.getByLabel('Every agent').isChecked(), true);
    assert.equal(await storedPolicy(), 'required');

    // Manage › Agents: who has none, flagged and filtered.
    await owner.goto(`${origin}/manage/agents?search=mia`);
    assert.match(await owner.locator('tbody').innerText(), /Mia Manager[\s\S]*No second factor/);
    await owner.getByLabel('Second factor').selectOption('off');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.equal(new URL(owner.url()).searchParams.get('twoFactor'), 'off');
    assert.match(await owner.locator('tbody').innerText(), /Mia Manager/);
    await owner.goto(`${origin}/manage/agents?search=bob&twoFactor=off`);
    assert.match(await owner.locator('main').innerText(), /No agent matches these filters/);
    await owner.goto(`${origin}/manage/agents?twoFactor=off`);
    const listed = await owner.locator('tbody').innerText();
    assert.ok(!listed.includes('Bob Baker') && !listed.includes(OWNER.name), 'those with a factor are not listed');
    await shoot(owner, 'agents-no-second-factor', ['tbody']);

    // Mia (an agent manager, no factor) signs in on her way to Manage › Agents.
    const { page, context } = await team.visitor();
    await page.setViewportSize(DESKTOP);
    await page.goto(`${origin}/manage/agents`);
    assert.equal(path(page), '/login');
    await page.getByLabel('Email').fill(people.mia.email);
    await page.getByLabel('Password', { exact: true }).fill(people.mia.password);
    await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(path(page), '/my-settings/two-factor');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/manage/agents');
    assert.equal(await page.locator('h1').innerText(), 'Set up two-factor authentication');
    assert.equal(await page.locator('nav.site-nav').count(), 0, 'no menu');
    assert.equal(await page.getByRole('link', { name: 'Agents' }).count(), 0, 'no Manage entries');
    assert.equal(await page.locator('#confirm').count(), 0, 'a fresh sign-in needs no confirmation');
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 1, 'signing out is still possible');
    await shoot(page, 'enrolment', ['h1', 'form[data-passkey="create"]']);

    for (const other of ['/apps', '/my-settings/password', '/my-settings/sessions', '/manage/agents', `/manage/agents/${people.bob.id}`, '/manage/audit']) {
      await page.goto(`${origin}${other}`);
      assert.equal(path(page), '/my-settings/two-factor', `${other} sends her back`);
      assert.equal(new URL(page.url()).searchParams.get('next'), other, `${other} is remembered`);
    }

    // Her way to Manage › Agents continues after the set-up.
    await page.goto(`${origin}/manage/agents`);
    const { code, recoveryCodes } = await enrolAuthenticator(page);
    miaCode = code;
    assert.equal(recoveryCodes.length, 10);
    assert.equal(await page.locator('nav.site-nav').count(), 0, 'the codes page keeps her on the codes: no menu yet');
    await clickAndWait(page, page.getByRole('link', { name: 'I have saved them, continue' }));
    assert.equal(path(page), '/manage/agents');
    assert.match(await page.locator('nav.site-nav').innerText(), /Agents/, 'the menu is back');
    assert.equal(await twoFactorEnabled(people.mia.id), true);
    await context.close();
  });

  test('wrong codes lock the sign-in like wrong passwords, and a second step waits 5 minutes at most', async () => {
    const mia = people.mia;
    const { page, context } = await team.visitor();
    await page.setViewportSize(DESKTOP);
    await signInThroughPage(page, origin, mia.email, mia.password);
    assert.equal(path(page), '/login/two-factor');
    const since = t.smtp.messages.length;
    let answer = null;
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      await page.locator('#code').fill(miaCode.wrong());
      answer = await clickAndWait(page, page.getByRole('button', { name: 'Verify', exact: true }));
      if (attempt < 5) assert.equal(answer?.status(), 401, `wrong code ${attempt}`);
    }
    assert.equal(answer?.status(), 423, 'the fifth wrong code locks, as a fifth wrong password does');
    assert.match(await alertText(page), /Too many failed sign-ins for this address\. For your security, signing in is locked: try again in 60 minutes/);
    assert.equal(await page.locator('#code').getAttribute('aria-invalid'), null, 'the lock is not about what was typed');
    await shoot(page, 'second-step-locked', ['#two-factor-errors']);
    await t.mailTo(mia.email, /is locked for now/, since);
    assert.ok((await auditTypes(mia.id)).includes('account.locked'));
    // Locked means locked: the right code, and the password again, both wait.
    await page.locator('#code').fill(miaCode());
    assert.equal((await clickAndWait(page, page.getByRole('button', { name: 'Verify', exact: true })))?.status(), 423);
    assert.equal((await signInThroughPage(page, origin, mia.email, mia.password))?.status(), 423);
    assert.equal(await sessionOf(context), undefined);

    // An hour later the lock is over; a second step left open for more than 5 minutes is not.
    t.clock.advanceMs(61 * MINUTE_MS);
    await signInThroughPage(page, origin, mia.email, mia.password);
    assert.equal(path(page), '/login/two-factor');
    t.clock.advanceMs(5 * MINUTE_MS + 1000);
    await page.locator('#code').fill(miaCode());
    await clickAndWait(page, page.getByRole('button', { name: 'Verify', exact: true }));
    assert.equal(path(page), '/login');
    assert.match(await alertText(page), /This sign-in has expired\. Enter your email and password again/);
    await signInWithCode(page, mia, miaCode());
    assert.equal(path(page), '/apps');
    assert.deepEqual(await amrOf(context), ['pwd', 'otp', 'mfa']);
    await context.close();
  });

  test('the required password change comes first, then the set-up, here with a passkey (which brings the recovery codes too)', async () => {
    const pat = people.pat;
    const oneTime = 'Temporary-Lagoon-Fossil-22'; // set by PortalTeam, with "require a change"
    const { page, context, cdp, authenticatorId } = await browserWithAuthenticator();
    await page.goto(`${origin}/my-settings/sessions`);
    await page.getByLabel('Email').fill(pat.email);
    await page.getByLabel('Password', { exact: true }).fill(oneTime);
    await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(path(page), '/password-change-required', 'the one-time password is replaced first');
    const chosen = 'Lichen-Harbor-Tulip-86';
    t.secrets.add(chosen);
    await page.getByLabel('One-time password').fill(oneTime);
    await page.getByLabel('New password', { exact: true }).fill(chosen);
    await page.getByLabel('Confirm new password').fill(chosen);
    await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
    pat.password = chosen;
    assert.equal(path(page), '/my-settings/two-factor', 'then the second factor');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/my-settings/sessions');
    assert.equal(await page.locator('h1').innerText(), 'Set up two-factor authentication');
    assert.equal(await page.locator('nav.site-nav').count(), 0);

    const since = t.smtp.messages.length;
    await page.locator('#passkey-name').fill('Pat’s phone');
    await clickAndWait(page, page.getByRole('button', { name: 'Add a passkey' }));
    assert.equal(path(page), '/my-settings/two-factor/passkeys', 'the answer to the form is the codes page');
    assert.match(await page.locator('h1').innerText(), /Two-factor authentication is on/);
    assert.equal((await page.locator('#recovery-codes code').allInnerTexts()).length, 10, 'a passkey as the first factor brings the ten codes too');
    assert.deepEqual((await passkeyRows(pat.id)).map((r) => r.name), ['Pat’s phone']);
    assert.equal(await unusedRecoveryCodes(pat.id), 10);
    assert.equal(await twoFactorEnabled(pat.id), true);
    assert.equal((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials.length, 1);
    await t.mailTo(pat.email, /A passkey was added/, since);
    await clickAndWait(page, page.getByRole('link', { name: 'I have saved them, continue' }));
    assert.equal(path(page), '/my-settings/sessions', 'on to where she was going');
    assert.equal(await page.locator('nav.site-nav').count(), 1);
    // Her next sign-in: the passkey alone.
    await signOut(page);
    await clickAndWait(page, page.getByRole('button', { name: 'Sign in with a passkey' }));
    assert.equal(path(page), '/apps');
    assert.deepEqual(await amrOf(context), ['hwk', 'mfa']);

    // "Confirm it's you" with the passkey instead of the password.
    t.clock.advanceMs(11 * MINUTE_MS);
    await page.goto(`${origin}/my-settings/two-factor`);
    const authenticatedBefore = (await sessionOf(context))!.authenticated_at;
    await clickAndWait(page, page.locator('#confirm').getByRole('button', { name: 'Use a passkey instead' }));
    assert.match(await alertText(page), /For the next 10 minutes/);
    assert.equal(await page.locator('#confirm').count(), 0);
    assert.ok((await sessionOf(context))!.authenticated_at > authenticatedBefore, 'the session is fresh again');

    // Her passkey is hers: at Bob's second step (his password typed in her browser) it is refused, and counted.
    await signOut(page);
    await signInThroughPage(page, origin, people.bob.email, people.bob.password);
    assert.equal(path(page), '/login/two-factor');
    const failuresBefore = await failedCount(people.bob.email);
    const refused = await clickAndWait(page, page.getByRole('button', { name: 'Use a passkey' }));
    assert.equal(refused?.status(), 401);
    assert.equal(path(page), '/login/two-factor');
    assert.match(await alertText(page), /The passkey could not be verified/);
    assert.equal(await page.locator('#code').getAttribute('aria-invalid'), null, 'the code field was not what went wrong');
    assert.equal(await failedCount(people.bob.email), failuresBefore + 1);
    assert.equal(await sessionOf(context), undefined, 'no session for anyone');
    await shoot(page, 'second-step-passkey-refused', ['#two-factor-errors', 'form[data-passkey="get"]']);
    await context.close();
  });

  test("the admin reset: an Administrator confirms it is them with a code, resets Bob's second factor, Bob is signed out everywhere and emailed; nobody can reset the Account Administrator's", async () => {
    const ada = people.ada;
    const b = people.bob;
    const { page, context } = await team.visitor();
    await page.setViewportSize(DESKTOP);
    // Ada has no factor yet and the help desk requires one: she sets it up first.
    await signInThroughPage(page, origin, ada.email, ada.password);
    assert.equal(path(page), '/my-settings/two-factor');
    const { code: adaCode } = await enrolAuthenticator(page);
    await clickAndWait(page, page.getByRole('link', { name: 'I have saved them, continue' }));
    assert.equal(path(page), '/apps');

    // Her sign-in is older than 10 minutes: the agent page asks who she is, with her code.
    t.clock.advanceMs(11 * MINUTE_MS);
    await page.goto(team.agentPage(b.id));
    assert.match(await page.locator('#password').innerText(), /Confirm it's you/);
    const section = page.locator('#password');
    assert.equal(await section.getByRole('button', { name: 'Reset two-factor' }).count(), 0, 'no reset before she confirms');
    assert.equal(await section.getByLabel('Code from your authenticator app, or a recovery code').count(), 1, 'she has a factor: the code is asked too');
    await shoot(page, 'agent-confirm-its-you', ['#reauth-password', '#reauth-code']);
    await section.getByLabel('Your password').fill(ada.password);
    await section.getByLabel('Code from your authenticator app, or a recovery code').fill(adaCode.wrong());
    await clickAndWait(page, section.getByRole('button', { name: 'Continue' }));
    assert.match(await alertText(page), /That code is not correct/);
    await page.locator('#password').getByLabel('Your password').fill(ada.password);
    await page.locator('#password').getByLabel('Code from your authenticator app, or a recovery code').fill(adaCode());
    await clickAndWait(page, page.locator('#password').getByRole('button', { name: 'Continue' }));
    assert.match(await alertText(page), /For the next 10 minutes/);

    const twoFactorPart = page.locator('#two-factor');
    assert.match(await twoFactorPart.innerText(), /Reset two-factor authentication[\s\S]*which this help desk requires right away/);
    await shoot(page, 'agent-reset', ['#two-factor']);
    assert.ok((await sessionCount(b.id)) >= 1, 'Bob is signed in before');
    assert.equal((await passkeyRows(b.id)).length, 1);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => dialogs.push(dialog.message())); // newVisitor accepts it
    const since = t.smtp.messages.length;
    await clickAndWait(page, twoFactorPart.getByRole('button', { name: 'Reset two-factor' }));
    assert.match(dialogs.join('\n'), /Reset the second factor of Bob Baker\?/);
    assert.match(await alertText(page), /The second factor of Bob Baker is reset/);
    assert.match(await page.locator('#two-factor').innerText(), /Bob Baker has no second factor[\s\S]*they set it up at their next sign-in/);
    assert.equal(await page.getByRole('button', { name: 'Reset two-factor' }).count(), 0);
    await shoot(page, 'agent-reset-done', ['#two-factor']);

    // What it did, in the store and the mailbox.
    assert.equal(await sessionCount(b.id), 0, "Bob's sessions are gone");
    assert.equal((await passkeyRows(b.id)).length, 0, 'his passkeys are gone');
    assert.equal((await db().selectFrom('two_factor_totp').select('id').where('agent_id', '=', b.id).execute()).length, 0, 'his authenticator is gone');
    assert.equal(await unusedRecoveryCodes(b.id), 0, 'his recovery codes are gone');
    assert.equal(await twoFactorEnabled(b.id), false);
    const reset = (await db().selectFrom('audit_events').select(['type', 'actor_agent_id']).where('target_agent_id', '=', b.id).where('type', '=', 'two_factor.reset_by_admin').execute())[0];
    assert.equal(reset?.actor_agent_id, ada.id);
    const mail = await t.mailTo(b.email, /Your second factor was reset/, since);
    assert.match(mail.text, /Ada Admin \(Administrator\) removed your authenticator app, passkeys and recovery codes/);
    assert.match(mail.text, /You were signed out everywhere/);

    // Bob's browser is signed out on its next page; his passkey no longer signs him in.
    await bob.page.goto(`${origin}/my-settings/two-factor`);
    assert.equal(path(bob.page), '/login');
    const stale = await clickAndWait(bob.page, bob.page.getByRole('button', { name: 'Sign in with a passkey' }));
    assert.equal(stale?.status(), 401);
    assert.match(await alertText(bob.page), /That passkey could not sign you in/);
    assert.equal(await sessionCount(b.id), 0);
    // His password alone now opens only the set-up (the help desk requires a factor).
    await signInThroughPage(bob.page, origin, b.email, b.password);
    assert.equal(path(bob.page), '/my-settings/two-factor');
    assert.equal(await bob.page.locator('h1').innerText(), 'Set up two-factor authentication');

    // Nobody resets the Account Administrator's second factor, not even an Administrator.
    await page.goto(team.agentPage(team.ownerId));
    assert.match(await page.locator('#password').innerText(), /This is the Account Administrator/);
    assert.equal(await page.getByRole('button', { name: 'Reset two-factor' }).count(), 0);
    assert.equal(await page.locator('form[action$="/two-factor/reset"]').count(), 0);
    assert.equal(await twoFactorEnabled(team.ownerId), true);
    await shoot(page, 'agent-account-administrator', ['#password']);
    await context.close();
  });

  test('no page broke the Content-Security-Policy', () => {
    assert.deepEqual(team.cspViolations, []);
  });
});
