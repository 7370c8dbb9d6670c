import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { OWNER, type TestApp } from './support/harness.js';
import { launchBrowser, newVisitor, screenshot, startPortal } from './support/portal.js';
import { authorizationRequest, authorizeInBrowser, redeem, registerApp, RelyingPartyServer, relyingParty, verifyLogoutToken, type RegisteredApp } from './support/oidc.js';

/**
 * What an agent sees: a help desk sends them to Deskpass, they sign in on the portal's own
 * page (with its rules) and land back in the help desk; a second help desk opens without a
 * password; `prompt=login` asks again; signing out from a help desk ends everything.
 */
describe('signing in to help desks through Deskpass, in a browser', () => {
  let t: TestApp;
  let origin: string;
  let browser: Browser;
  let zammadRp: RelyingPartyServer;
  let peppermintRp: RelyingPartyServer;
  let zammad: RegisteredApp;
  let peppermint: RegisteredApp;
  let owner: Awaited<ReturnType<TestApp['setup']>>;
  const cspViolations: string[] = [];

  before(async () => {
    ({ t, origin } = await startPortal());
    owner = await t.setup();
    zammadRp = await RelyingPartyServer.start();
    peppermintRp = await RelyingPartyServer.start();
    zammad = await registerApp(t, zammadRp, { name: 'Zammad' });
    peppermint = await registerApp(t, peppermintRp, { name: 'Peppermint' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser.close();
    await zammadRp.close();
    await peppermintRp.close();
    await t.close();
  });

  async function openApp(page: Page, app: RegisteredApp, rp: RelyingPartyServer, credentials?: { email: string; password: string }, extra: Record<string, string> = {}) {
    const config = await relyingParty(origin, app);
    const request = await authorizationRequest(config, rp.callback, extra);
    const landed = await authorizeInBrowser(page, request.url, rp.callback, credentials);
    return { config, tokens: await redeem(config, request, landed) };
  }

  test('sign-in page, then single sign-on to a second help desk, then prompt=login asks for the password again', async () => {
    const { context, page } = await newVisitor(browser, cspViolations);
    try {
      const config = await relyingParty(origin, zammad);
      const request = await authorizationRequest(config, zammadRp.callback);
      await page.goto(request.url.href);
      assert.match(page.url(), /\/login\?next=%2Finteraction%2F/);
      assert.match(await page.locator('main').innerText(), /continue to Zammad/);
      await screenshot(page, 'oidc-sign-in-for-app');
      await page.getByLabel('Email').fill(OWNER.email);
      await page.getByLabel('Password', { exact: true }).fill(OWNER.password);
      await Promise.all([page.waitForURL((u) => u.href.startsWith(zammadRp.callback)), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
      const first = await redeem(config, request, page.url());
      const sid = first.claims()!.sid;
      assert.equal(first.claims()!.sub, owner.ownerId);

      // A second help desk: no form at all, the same Deskpass session.
      const second = await openApp(page, peppermint, peppermintRp);
      assert.equal(second.tokens.claims()!.sid, sid);
      assert.equal(second.tokens.claims()!.sub, owner.ownerId);

      // prompt=login: the password again, then on to the app with a newer auth_time.
      const zConfig = await relyingParty(origin, zammad);
      const forced = await authorizationRequest(zConfig, zammadRp.callback, { prompt: 'login' });
      await page.goto(forced.url.href);
      assert.match(page.url(), /\/interaction\//);
      assert.match(await page.locator('h1').innerText(), /Confirm it is you/);
      await screenshot(page, 'oidc-confirm-it-is-you');
      t.clock.advanceSeconds(5);
      await page.getByLabel('Password', { exact: true }).fill('not the password');
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: /Continue to Zammad/ }).click()]);
      assert.match(await page.locator('main').innerText(), /not your current password/);
      await page.getByLabel('Password', { exact: true }).fill(OWNER.password);
      await Promise.all([page.waitForURL((u) => u.href.startsWith(zammadRp.callback)), page.getByRole('button', { name: /Continue to Zammad/ }).click()]);
      const again = await redeem(zConfig, forced, page.url());
      assert.equal(again.claims()!.sid, sid, 'the same session, re-authenticated');
      assert.ok(Number(again.claims()!.auth_time) >= Number(first.claims()!.auth_time));
    } finally {
      await context.close();
    }
  });

  test('a one-time password: the required change comes first, then the help desk', async () => {
    const email = 'otp.agent@acme.test';
    const { id } = await t.addAgent(owner.ownerToken, { email, name: 'Otto Temp', roleId: owner.agentRoleId, password: 'Quartz-Meadow-Rover-17' });
    const oneTime = 'Harbor-Lilac-Tundra-29';
    t.secrets.add(oneTime);
    assert.equal((await t.put(`/api/v1/agents/${id}/password`, { password: oneTime, requireChangeAtNextLogin: true }, owner.ownerToken)).status, 204);
    const { context, page } = await newVisitor(browser, cspViolations);
    try {
      const config = await relyingParty(origin, zammad);
      const request = await authorizationRequest(config, zammadRp.callback);
      await page.goto(request.url.href);
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password', { exact: true }).fill(oneTime);
      await Promise.all([page.waitForURL(/\/password-change-required/), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
      // the sign-in just proved the one-time password: only the new one is asked
      assert.equal(await page.getByLabel('One-time password').count(), 0);
      await page.getByLabel('New password', { exact: true }).fill('Cobalt-Willow-Prism-63');
      await page.getByLabel('Confirm new password').fill('Cobalt-Willow-Prism-63');
      await Promise.all([page.waitForURL((u) => u.href.startsWith(zammadRp.callback)), page.getByRole('button', { name: 'Set password' }).click()]);
      const tokens = await redeem(config, request, page.url());
      assert.equal(tokens.claims()!.sub, id);
    } finally {
      await context.close();
    }
  });

  test('signing out from a help desk (RP-initiated logout) ends the Deskpass session and logs the other help desk out', async () => {
    const { context, page } = await newVisitor(browser, cspViolations);
    try {
      const z = await openApp(page, zammad, zammadRp, OWNER);
      await openApp(page, peppermint, peppermintRp);
      const sid = String(z.tokens.claims()!.sid);
      const before = peppermintRp.logoutTokens.length;
      const endUrl = client.buildEndSessionUrl(z.config, { id_token_hint: z.tokens.id_token!, post_logout_redirect_uri: `${zammadRp.origin}/signed-out`, state: 'bye' });
      await page.goto(endUrl.href);
      assert.match(await page.locator('h1').innerText(), /Sign out of Deskpass/);
      await screenshot(page, 'oidc-sign-out');
      await Promise.all([page.waitForURL((u) => u.href.startsWith(`${zammadRp.origin}/signed-out`)), page.getByRole('button', { name: 'Sign out everywhere' }).click()]);
      assert.equal(new URL(page.url()).searchParams.get('state'), 'bye');
      const session = await t.app.deskpass.deps.db.selectFrom('sessions').select('id').where('id', '=', sid).executeTakeFirst();
      assert.equal(session, undefined, 'the Deskpass session ended');
      const [token] = (await peppermintRp.waitForLogouts(before + 1)).slice(before);
      const claims = await verifyLogoutToken(origin, peppermint.clientId, token!);
      assert.equal(claims.sid, sid);
      // the portal asks for a sign-in again
      await page.goto(`${origin}/`);
      assert.match(page.url(), /\/login/);
    } finally {
      await context.close();
    }
  });

  test('no Content-Security-Policy violation on the way', () => {
    assert.deepEqual(cspViolations, []);
  });
});
