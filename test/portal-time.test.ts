import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { ACCOUNT_NAME, OWNER, type TestApp } from './support/harness.js';
import { DESKTOP, PHONE, alertText, clickAndWait, launchBrowser, newVisitor, screenshot, signInThroughPage, startPortal } from './support/portal.js';

const BOB = { email: 'bob@acme.test', name: 'Bob Baker', password: 'Juniper-Falcon-Orchard-12' };
/**
 * The audit log's height for 50 events at 390 px before the compact phone layout, measured with
 * this very flow on the old view (a card per event, five labelled lines each): 12,978 px.
 */
const PHONE_HEIGHT_BEFORE_PX = 12_978;

let t: TestApp;
let origin: string;
let browser: Browser;
let ownerToken: string;
let bobId: string;
let owner: Page;
const cspViolations: string[] = [];

/** The page's full height at the phone width. */
async function phoneHeight(page: Page): Promise<number> {
  await page.setViewportSize(PHONE);
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize(DESKTOP);
  return height;
}

describe('portal: local time (time zones, the audit log to the second, its date range and phone layout)', () => {
  before(async () => {
    ({ t, origin } = await startPortal());
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test('setup offers the browser\'s own zone, and the help desk keeps the one chosen', async () => {
    const token = t.app.deskpass.setupLink.issue();
    const context = await browser.newContext({ viewport: DESKTOP, timezoneId: 'America/New_York' });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await page.goto(`${origin}/setup/${token}`);
    const zone = page.getByLabel('Time zone');
    assert.equal(await zone.inputValue(), 'America/New_York', 'prefilled from the browser by time-zone.js');
    assert.match(await page.locator('#time-zone-detected').innerText(), /Taken from this browser: America\/New_York/);
    await screenshot(page, 'time-setup');
    await zone.selectOption('Europe/Berlin');
    await page.getByLabel('Help desk name').fill(ACCOUNT_NAME);
    await page.getByLabel('Your name').fill(OWNER.name);
    await page.getByLabel('Your email').fill(OWNER.email);
    await page.getByLabel('Password', { exact: true }).fill(OWNER.password);
    await page.getByLabel('Confirm password').fill(OWNER.password);
    await clickAndWait(page, page.getByRole('button', { name: 'Create help desk' }));
    assert.equal(new URL(page.url()).pathname, '/manage/agents');
    await context.close();

    ownerToken = await t.login(OWNER.email, OWNER.password);
    const account = await t.get('/api/v1/account', ownerToken);
    assert.equal(account.body.settings.timeZone, 'Europe/Berlin');
    const roles = await t.get('/api/v1/roles', ownerToken);
    bobId = (await t.addAgent(ownerToken, { ...BOB, roleId: roles.body.roles.find((r: { name: string }) => r.name === 'Agent').id })).id;
    ({ page: owner } = await newVisitor(browser, cspViolations));
    await signInThroughPage(owner, origin, OWNER.email, OWNER.password);
  });

  test('Account settings: the help desk\'s zone is a select grouped by region; saving it changes every page\'s times', async () => {
    await owner.goto(`${origin}/manage/account`);
    const zone = owner.getByLabel('Help desk time zone');
    assert.equal(await zone.inputValue(), 'Europe/Berlin', 'the current choice is selected');
    assert.ok((await zone.locator('optgroup').count()) > 5, 'grouped by region');
    assert.equal(await zone.locator('optgroup[label="America"] option[value="America/New_York"]').count(), 1);
    await screenshot(owner, 'time-account-settings');
    await zone.selectOption('America/New_York');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Save settings' }));
    assert.match(await alertText(owner), /settings were saved/);
    assert.equal(await owner.getByLabel('Help desk time zone').inputValue(), 'America/New_York');
    assert.equal((await t.get('/api/v1/account', ownerToken)).body.settings.timeZone, 'America/New_York', 'stored');
    await owner.goto(`${origin}/manage/agents/${bobId}`);
    assert.match(await owner.locator('main').innerText(), /Added\s+\d{1,2} \w+ \d{4}, \d{2}:\d{2} E[SD]T/);
    // back to Berlin for the rest
    await owner.goto(`${origin}/manage/account`);
    await owner.getByLabel('Help desk time zone').selectOption('Europe/Berlin');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Save settings' }));
    assert.equal((await t.get('/api/v1/account', ownerToken)).body.settings.timeZone, 'Europe/Berlin');
  });

  test('My Settings › Preferences: an agent chooses their own zone; "the help desk\'s" is the default', async () => {
    const { page } = await newVisitor(browser, cspViolations);
    await signInThroughPage(page, origin, BOB.email, BOB.password);
    await page.goto(`${origin}/my-settings/password`);
    await clickAndWait(page, page.getByRole('link', { name: 'Preferences' }));
    assert.equal(new URL(page.url()).pathname, '/my-settings/preferences');
    assert.equal(await page.getByRole('link', { name: 'Preferences' }).getAttribute('aria-current'), 'page');
    const zone = page.getByLabel('Your time zone');
    assert.equal(await zone.inputValue(), '');
    assert.equal(await zone.locator('option:checked').innerText(), "Use the help desk's time zone (Europe/Berlin)");
    assert.match(await page.locator('#time-zone-hint').innerText(), /Now: .* CES?T/);
    await screenshot(page, 'time-my-preferences');
    // four tabs now: on a phone every one is in view, and nothing pushes the page sideways
    await page.setViewportSize(PHONE);
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width);
    for (const name of ['Change password', 'Two-factor authentication', 'Sessions', 'Preferences']) {
      const tab = await page.locator('nav.tabs').getByRole('link', { name }).boundingBox();
      assert.ok(tab && tab.x >= 0 && tab.x + tab.width <= PHONE.width, `${name} is on screen`);
    }
    await page.setViewportSize(DESKTOP);
    await zone.selectOption('Asia/Tokyo');
    await clickAndWait(page, page.getByRole('button', { name: 'Save preferences' }));
    assert.match(await alertText(page), /times are now shown in Asia\/Tokyo/);
    assert.equal(await page.getByLabel('Your time zone').inputValue(), 'Asia/Tokyo', 'the choice is kept');
    assert.match(await page.locator('#time-zone-hint').innerText(), /Now: .* GMT\+9 \(Asia\/Tokyo\)/);
    const row = await t.app.deskpass.deps.db.selectFrom('agents').select('time_zone').where('id', '=', bobId).executeTakeFirstOrThrow();
    assert.equal(row.time_zone, 'Asia/Tokyo', 'stored');
    await page.goto(`${origin}/my-settings/sessions`);
    assert.match(await page.locator('tbody').innerText(), /GMT\+9 \(Asia\/Tokyo\)/);
    // and back to the default
    await page.goto(`${origin}/my-settings/preferences`);
    await page.getByLabel('Your time zone').selectOption('');
    await clickAndWait(page, page.getByRole('button', { name: 'Save preferences' }));
    assert.match(await alertText(page), /the help desk's time zone \(Europe\/Berlin\)/);
    const reset = await t.app.deskpass.deps.db.selectFrom('agents').select('time_zone').where('id', '=', bobId).executeTakeFirstOrThrow();
    assert.equal(reset.time_zone, null);
    await page.context().close();
  });

  test('the audit log: times to the second in the viewer\'s zone, a date range kept in the form, a clear message for a bad date', async () => {
    for (let i = 1; i <= 50; i += 1) {
      t.clock.advanceSeconds(7);
      assert.equal((await t.patch(`/api/v1/agents/${bobId}`, { name: `Bob Baker ${i}` }, ownerToken)).status, 200);
    }
    await owner.goto(`${origin}/manage/audit`);
    assert.equal(await owner.locator('tbody tr').count(), 50);
    const when = owner.locator('tbody tr').first().locator('time');
    assert.match(await when.innerText(), /^\d{1,2} \w+ \d{4}, \d{2}:\d{2}:\d{2} CES?T$/);
    assert.match((await when.getAttribute('datetime')) ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'machine-readable, in UTC');
    assert.match(await owner.locator('.page-head').innerText(), /Times are in Europe\/Berlin/);
    await screenshot(owner, 'time-audit');

    const heightAfter = await phoneHeight(owner);
    process.stdout.write(`# audit log, 50 events at 390 px: ${heightAfter} px (before: ${PHONE_HEIGHT_BEFORE_PX} px)\n`);
    assert.ok(heightAfter < PHONE_HEIGHT_BEFORE_PX / 2, `${heightAfter} px is not well under ${PHONE_HEIGHT_BEFORE_PX} px`);

    // today in Berlin, typed as a range: every event of the page is in it, and the form keeps it
    const nowBerlin = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin' }).format(t.clock.now());
    await owner.getByLabel('From').fill(nowBerlin);
    await owner.getByLabel('To').fill(nowBerlin);
    await owner.getByLabel('Event').selectOption('agent.updated');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    const url = new URL(owner.url());
    assert.equal(url.searchParams.get('from'), nowBerlin);
    assert.equal(url.searchParams.get('to'), nowBerlin);
    assert.equal(await owner.getByLabel('From').inputValue(), nowBerlin, 'kept in the form');
    assert.equal(await owner.locator('tbody tr').count(), 50);
    await screenshot(owner, 'time-audit-range');

    // the day before: nothing
    const dayBefore = new Date(Date.parse(`${nowBerlin}T12:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    await owner.getByLabel('From').fill(dayBefore);
    await owner.getByLabel('To').fill(dayBefore);
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.match(await owner.locator('.table-wrap').innerText(), /No events match these filters/);

    // a date that does not exist (typed into the address): said, marked, and no events
    const refused = await owner.goto(`${origin}/manage/audit?from=2026-02-30&to=${nowBerlin}`);
    assert.equal(refused?.status(), 400);
    assert.match(await alertText(owner), /From: "2026-02-30" is not a date\. Enter a date like 2026-12-03/);
    assert.equal(await owner.getByLabel('From').getAttribute('aria-invalid'), 'true');
    assert.equal(await owner.getByLabel('To').getAttribute('aria-invalid'), null);
    assert.equal(await owner.locator('tbody tr').count(), 0);
    await screenshot(owner, 'time-audit-bad-date');
  });

  test('the audit log filtered by agent: "Events for …", "Show all"; the phone layout is one short block per event', async () => {
    await owner.goto(`${origin}/manage/audit?agent=${bobId}`);
    assert.match(await owner.locator('.audit-subject').innerText(), /^Events for Bob Baker 50 \(bob@acme\.test\)/);
    await owner.setViewportSize(PHONE);
    const block = owner.locator('tbody tr').first();
    const box = await block.boundingBox();
    assert.ok(box && box.height < 110, `one event is ${box?.height} px tall on a phone`);
    assert.match(await block.innerText(), /^Agent updated\s*changed: name\n\d{1,2} \w+ \d{4}, \d{2}:\d{2}:\d{2} CES?T\nOlivia Owner\nBob Baker 50\nAPI/);
    await owner.setViewportSize(DESKTOP);
    await screenshot(owner, 'time-audit-agent');
    await clickAndWait(owner, owner.getByRole('link', { name: 'Show all' }));
    assert.equal(new URL(owner.url()).search, '');
    assert.equal(await owner.locator('.audit-subject').count(), 0);
    assert.deepEqual(cspViolations, []);
  });
});
