import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { OWNER, type TestApp } from './support/harness.js';
import { alertText, clickAndWait, launchBrowser, newVisitor, screenshot, signInThroughPage, startPortal } from './support/portal.js';
import { providerEndpoints } from '../src/oidc/endpoints.js';

// Manage › Apps and Your apps in a real Chromium: registering from each preset, the values page
// (secret once), edit, rotate, remove, and the launcher every agent lands on.

const PLAIN = { email: 'pete.plain@acme.test', name: 'Pete Plain', password: 'Silver-Harbor-Thistle-64' };
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

let t: TestApp;
let origin: string;
let browser: Browser;
let owner: Page;
let plain: Page;
const cspViolations: string[] = [];

async function signedIn(email: string, password: string, path = '/login'): Promise<Page> {
  const { page } = await newVisitor(browser, cspViolations);
  if (path === '/login') await signInThroughPage(page, origin, email, password);
  return page;
}

async function appRow(name: string) {
  return t.app.deskpass.deps.db.selectFrom('apps').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
}

/** Chooses a preset, types the help desk's address and lets the preset fill the form. */
async function fillFromPreset(page: Page, label: string, base?: string): Promise<void> {
  await page.goto(`${origin}/manage/apps/new`);
  await page.locator('.preset-choice', { hasText: label }).click();
  if (base !== undefined) await page.getByLabel('Help desk address').fill(base);
  await clickAndWait(page, page.getByRole('button', { name: 'Fill in the form' }));
}

async function register(page: Page) {
  return clickAndWait(page, page.getByRole('button', { name: 'Register app' }));
}

/** The values page as a map: label → value. */
async function values(page: Page): Promise<Record<string, string>> {
  const dts = await page.locator('dl.values > div > dt').allInnerTexts();
  const dds = await page.locator('dl.values > div > dd').allInnerTexts();
  return Object.fromEntries(dts.map((dt, i) => [dt.trim(), dds[i].replace(/\s*Copy\s*$/, '').trim()]));
}

describe('agent portal: Manage › Apps and Your apps', () => {
  before(async () => {
    ({ t, origin } = await startPortal());
    const { ownerToken, agentRoleId } = await t.setup();
    await t.addAgent(ownerToken, { ...PLAIN, roleId: agentRoleId });
    browser = await launchBrowser();
    owner = await signedIn(OWNER.email, OWNER.password);
    plain = await signedIn(PLAIN.email, PLAIN.password);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test('signing in without "next" lands on Your apps, with a friendly empty state; only manage_apps offers to register one', async () => {
    assert.equal(new URL(owner.url()).pathname, '/apps');
    const nav = await owner.locator('nav.site-nav').innerText();
    assert.match(nav, /Your apps[\s\S]*My Settings[\s\S]*Manage[\s\S]*Apps/i);
    assert.equal(await owner.locator('nav.site-nav a[aria-current="page"]').innerText(), 'Your apps');
    assert.match(await owner.locator('.launcher-empty').innerText(), /No apps yet/);
    assert.equal(await owner.locator('.launcher-empty').getByRole('link', { name: 'Register an app' }).getAttribute('href'), '/manage/apps/new');

    assert.equal(new URL(plain.url()).pathname, '/apps', 'every agent lands there');
    assert.match(await plain.locator('.launcher-empty').innerText(), /When an administrator connects a help desk/);
    assert.equal(await plain.getByRole('link', { name: 'Register an app' }).count(), 0);
    assert.equal(await plain.locator('nav.site-nav').getByRole('link', { name: 'Apps', exact: true }).count(), 0, 'no Manage › Apps without manage_apps');
    const refused = await plain.goto(`${origin}/manage/apps`);
    assert.equal(refused?.status(), 403);
    assert.match(await plain.locator('main').innerText(), /Your role \(Agent\) does not have the Manage Apps permission/);

    const { page } = await newVisitor(browser, cspViolations);
    await page.goto(`${origin}/my-settings/sessions`);
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password', { exact: true }).fill(OWNER.password);
    await clickAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(new URL(page.url()).pathname, '/my-settings/sessions', 'a "next" still wins');
    await page.context().close();
  });

  test('Zammad preset: a public client with its callback, back-channel and post-logout URIs from the base URL; the values page has what Zammad needs', async () => {
    await fillFromPreset(owner, 'Zammad', 'https://helpdesk.acme.test/');
    assert.equal(await owner.getByLabel('Name').inputValue(), 'Zammad');
    assert.equal(await owner.getByLabel('Redirect URIs', { exact: true }).inputValue(), 'https://helpdesk.acme.test/auth/openid_connect/callback');
    assert.equal(await owner.getByLabel('Back-channel logout URI').inputValue(), 'https://helpdesk.acme.test/auth/openid_connect/backchannel_logout');
    assert.equal(await owner.getByLabel('Post-logout redirect URIs').inputValue(), 'https://helpdesk.acme.test/');
    assert.ok(await owner.getByLabel('Public', { exact: true }).isChecked());
    await screenshot(owner, 'app-register-zammad');
    const answer = await register(owner);
    assert.equal(answer?.status(), 201);

    const row = await appRow('Zammad');
    assert.equal(row.type, 'public');
    assert.equal(row.secret_hash, null);
    assert.deepEqual(JSON.parse(row.redirect_uris), ['https://helpdesk.acme.test/auth/openid_connect/callback']);
    assert.equal(row.backchannel_logout_uri, 'https://helpdesk.acme.test/auth/openid_connect/backchannel_logout');
    const shown = await values(owner);
    const endpoints = providerEndpoints(origin);
    assert.equal(shown['Issuer'], endpoints.issuer);
    assert.equal(shown['Discovery URL'], `${origin}/.well-known/openid-configuration`);
    assert.equal(shown['Client ID'], row.client_id);
    assert.equal(shown['Authorization endpoint'], endpoints.authorization);
    assert.equal(shown['Token endpoint'], endpoints.token);
    assert.equal(shown['Userinfo endpoint'], endpoints.userinfo);
    assert.equal(shown['JWKS URI'], endpoints.jwks);
    assert.equal(shown['End session endpoint'], endpoints.endSession);
    assert.match(shown['Client secret'], /None: a public client/);
    assert.match(shown['PKCE'], /S256/);
    assert.equal(await owner.locator('#secret').count(), 0);
    const steps = await owner.locator('ol.steps').innerText();
    assert.match(steps, /Settings › Security › Third-party Applications/);
    assert.match(steps, /Authentication via OpenID Connect/);
    assert.ok(steps.includes(row.client_id));
  });

  test('osTicket preset: a confidential client; the secret is shown once, the store holds its SHA-256, and the steps name the plugin', async () => {
    await fillFromPreset(owner, 'osTicket', 'https://tickets.acme.test/support');
    assert.equal(await owner.getByLabel('Redirect URIs', { exact: true }).inputValue(), 'https://tickets.acme.test/support/api/auth/oauth2');
    assert.equal(await owner.getByLabel('Back-channel logout URI').inputValue(), '');
    assert.equal(await owner.getByLabel('Launch URL').inputValue(), 'https://tickets.acme.test/support/scp/');
    assert.ok(await owner.getByLabel('Confidential', { exact: true }).isChecked());
    await register(owner);
    const secret = (await owner.locator('#value-secret').innerText()).trim();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    t.secrets.add(secret);
    const row = await appRow('osTicket');
    assert.equal(row.secret_hash, sha256(secret));
    assert.match(await owner.locator('#secret').innerText(), /shown only this once/);
    const steps = await owner.locator('ol.steps').innerText();
    assert.match(steps, /Admin Panel › Manage › Plugins/);
    assert.match(steps, /OAuth2 Client/);
    assert.match(steps, /Agent authentication/);
    assert.ok(steps.includes(providerEndpoints(origin).userinfo), 'identity from userinfo');
    assert.ok(steps.includes(providerEndpoints(origin).token));
    assert.match((await values(owner))['PKCE'], /not used/);
    await screenshot(owner, 'app-values');

    await owner.goto(`${origin}/manage/apps/${row.id}`);
    assert.equal(await owner.locator('#secret').count(), 0, 'never shown again');
    assert.ok(!(await owner.content()).includes(secret));
    assert.match((await values(owner))['Client secret'], /Rotate it below/);
  });

  test('Peppermint preset: public with PKCE; its redirect URI is editable before registering', async () => {
    await fillFromPreset(owner, 'Peppermint', 'https://desk.acme.test');
    assert.equal(await owner.getByLabel('Redirect URIs', { exact: true }).inputValue(), 'https://desk.acme.test/auth/oidc');
    assert.ok(await owner.getByLabel('Public', { exact: true }).isChecked());
    await owner.getByLabel('Redirect URIs', { exact: true }).fill('https://desk.acme.test/auth/oidc\nhttps://desk.acme.test/custom/oidc');
    await register(owner);
    const row = await appRow('Peppermint');
    assert.deepEqual(JSON.parse(row.redirect_uris), ['https://desk.acme.test/auth/oidc', 'https://desk.acme.test/custom/oidc']);
    assert.equal(row.type, 'public');
    assert.match(await owner.locator('ol.steps').innerText(), /Admin › Authentication/);
  });

  test('Other: a blank form; bad URIs are listed one by one, typed values kept, and nothing registered', async () => {
    await fillFromPreset(owner, 'Other');
    assert.equal(await owner.getByLabel('Name').inputValue(), '');
    assert.equal(await owner.getByLabel('Redirect URIs', { exact: true }).inputValue(), '');
    await owner.getByLabel('Name').fill('Intranet');
    await owner.getByLabel('Redirect URIs', { exact: true }).fill('https://intranet.acme.test/oidc\nhttp://intranet.acme.test/oidc\n/relative');
    await owner.getByLabel('Back-channel logout URI').fill('https://intranet.acme.test/#logout');
    const refused = await register(owner);
    assert.equal(refused?.status(), 400);
    const text = await alertText(owner);
    assert.match(text, /Redirect URI 2 \(http:\/\/intranet\.acme\.test\/oidc\) must use https:\/\//);
    assert.match(text, /Redirect URI 3 \(\/relative\) must be an absolute URL/);
    assert.match(text, /Back-channel logout URI must not contain a fragment/);
    assert.equal(await owner.getByLabel('Name').inputValue(), 'Intranet');
    assert.equal(await t.app.deskpass.deps.db.selectFrom('apps').select('id').where('name', '=', 'Intranet').executeTakeFirst(), undefined);

    await owner.getByLabel('Redirect URIs', { exact: true }).fill('https://intranet.acme.test/oidc');
    await owner.getByLabel('Back-channel logout URI').fill('');
    await owner.getByLabel('Launch URL').fill('https://intranet.acme.test/start');
    assert.equal((await register(owner))?.status(), 201);
    assert.ok(await owner.locator('#value-secret').count(), 'Other defaults to confidential');
    t.secrets.add((await owner.locator('#value-secret').innerText()).trim());

    await owner.goto(`${origin}/manage/apps/new?preset=zammad&base=${encodeURIComponent('http://helpdesk.acme.test')}`);
    assert.match(await alertText(owner), /help desk address must use https:\/\//);
  });

  test('the list shows each app: name, type, client id, redirect URIs and back-channel logout on or off', async () => {
    await owner.goto(`${origin}/manage/apps`);
    const row = (name: string) => owner.locator('tbody tr', { hasText: name });
    assert.equal(await owner.locator('tbody tr').count(), 4);
    const zammad = await appRow('Zammad');
    const zammadRow = await row('Zammad').innerText();
    assert.match(zammadRow, /Public/);
    assert.ok(zammadRow.includes(zammad.client_id));
    assert.ok(zammadRow.includes('https://helpdesk.acme.test/auth/openid_connect/callback'));
    assert.match(zammadRow, /On\s*$/);
    assert.match(await row('osTicket').innerText(), /Confidential[\s\S]*Off\s*$/);
    assert.equal(await owner.locator('nav.site-nav a[aria-current="page"]').innerText(), 'Apps');
    await screenshot(owner, 'manage-apps');
  });

  test('edit: saving changes keeps the rest; a bad URI is refused with the form kept', async () => {
    const zammad = await appRow('Zammad');
    await owner.goto(`${origin}/manage/apps/${zammad.id}`);
    const edit = owner.locator('#edit');
    await edit.getByLabel('Name').fill('Zammad Support');
    await edit.getByLabel('Back-channel logout URI').fill('');
    await clickAndWait(owner, edit.getByRole('button', { name: 'Save changes' }));
    assert.match(await alertText(owner), /"Zammad Support" was saved/);
    const saved = await appRow('Zammad Support');
    assert.equal(saved.backchannel_logout_uri, null);
    assert.equal(saved.redirect_uris, zammad.redirect_uris);

    await owner.locator('#edit').getByLabel('Redirect URIs', { exact: true }).fill('http://evil.example/cb');
    const refused = await clickAndWait(owner, owner.locator('#edit').getByRole('button', { name: 'Save changes' }));
    assert.equal(refused?.status(), 400);
    assert.match(await alertText(owner), /Redirect URI 1 \(http:\/\/evil\.example\/cb\) must use https/);
    assert.equal(await owner.locator('#edit').getByLabel('Redirect URIs', { exact: true }).inputValue(), 'http://evil.example/cb');
    assert.equal((await appRow('Zammad Support')).redirect_uris, zammad.redirect_uris);
    // Put the back-channel logout back for the launcher test's data.
    await owner.goto(`${origin}/manage/apps/${zammad.id}`);
    await owner.locator('#edit').getByLabel('Back-channel logout URI').fill('https://helpdesk.acme.test/auth/openid_connect/backchannel_logout');
    await clickAndWait(owner, owner.locator('#edit').getByRole('button', { name: 'Save changes' }));
  });

  test('rotate: the new secret is shown once, the stored hash is the new one\'s; a public app offers no rotation', async () => {
    const before = await appRow('osTicket');
    await owner.goto(`${origin}/manage/apps/${before.id}`);
    await clickAndWait(owner, owner.getByRole('button', { name: 'Rotate secret' }));
    const secret = (await owner.locator('#value-secret').innerText()).trim();
    t.secrets.add(secret);
    assert.match(await alertText(owner), /A new client secret was made/);
    const after = await appRow('osTicket');
    assert.equal(after.secret_hash, sha256(secret));
    assert.notEqual(after.secret_hash, before.secret_hash);

    await owner.goto(`${origin}/manage/apps/${(await appRow('Peppermint')).id}`);
    assert.equal(await owner.getByRole('button', { name: 'Rotate secret' }).count(), 0);
    assert.match(await owner.locator('#access').innerText(), /No secret/);
  });

  test('remove (after a confirm): the app is gone from the list and from Your apps', async () => {
    const intranet = await appRow('Intranet');
    await owner.goto(`${origin}/manage/apps/${intranet.id}`);
    await clickAndWait(owner, owner.getByRole('button', { name: 'Remove app' }));
    assert.equal(new URL(owner.url()).pathname, '/manage/apps');
    assert.match(await alertText(owner), /"Intranet" was removed/);
    assert.equal(await owner.locator('tbody tr', { hasText: 'Intranet' }).count(), 0);
    const gone = await owner.goto(`${origin}/manage/apps/${intranet.id}`);
    assert.equal(new URL(owner.url()).pathname, '/manage/apps');
    assert.equal(gone?.status(), 200);
    assert.match(await alertText(owner), /no longer exists/);
  });

  test('Your apps: a tile per app, opening its launch URL, for every agent', async () => {
    await owner.goto(`${origin}/apps`);
    const tiles = owner.locator('.app-tiles a.app-tile');
    assert.equal(await tiles.count(), 3);
    const hrefs = Object.fromEntries(await tiles.evaluateAll((links) => links.map((a) => [a.querySelector('.app-name')!.textContent, a.getAttribute('href')])));
    assert.deepEqual(hrefs, {
      osTicket: 'https://tickets.acme.test/support/scp/',
      Peppermint: 'https://desk.acme.test/',
      'Zammad Support': 'https://helpdesk.acme.test/',
    });
    assert.match(await owner.locator('.app-tiles').innerText(), /tickets\.acme\.test/);
    await screenshot(owner, 'your-apps');
    await plain.goto(`${origin}/apps`);
    assert.equal(await plain.locator('.app-tiles a.app-tile').count(), 3);
    assert.equal(await plain.getByRole('link', { name: 'Manage apps' }).count(), 0);
    assert.deepEqual(cspViolations, []);
  });

  test('no client secret in a log line', () => {
    assert.deepEqual(t.leakedSecrets(t.logs.join('')), []);
  });
});
