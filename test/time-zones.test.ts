import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCOUNT_NAME, OWNER, TestApp, type Answer } from './support/harness.js';
import { endOfLocalDay, normalizeTimeZone, startOfLocalDay } from '../src/domain/time-zones.js';
import { formatTime } from '../src/mail/templates/format.js';

const BOB = { email: 'bob@acme.test', name: 'Bob Baker', password: 'Juniper-Falcon-Orchard-12' };

let t: TestApp;
let ownerToken: string;
let ownerId: string;
let agentRoleId: string;
let bob: { id: string; token: string };

function assertError(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, answer.raw);
  assert.equal(answer.body.error.code, code);
}

/** A portal page as the signed-in agent of `token` sees it (GET pages need no CSRF token). */
async function page(url: string, token: string): Promise<{ status: number; html: string }> {
  const answer = await t.request('GET', url, { headers: { cookie: `deskpass_session=${token}` } });
  return { status: answer.status, html: answer.raw };
}

/** The audit log's "When" cells, as text. */
function auditTimes(html: string): string[] {
  return [...html.matchAll(/<time datetime="([^"]+)">([^<]+)<\/time>/g)].map((m) => `${m[1]} ${m[2]}`);
}

async function forgotPasswordMail(email: string): Promise<string> {
  const since = t.smtp.messages.length;
  assert.equal((await t.post('/api/v1/auth/forgot-password', { email })).status, 202);
  return (await t.mailTo(email, /reset/i, since)).text;
}

describe('local time: the help desk\'s and each agent\'s time zone, in pages, emails and the audit log', () => {
  before(async () => {
    t = await TestApp.start();
    t.clock.set('2026-01-15T10:00:00.000Z');
  });
  after(async () => t?.close());

  test('zones are IANA names this server knows; case and ICU aliases are forgiven', () => {
    assert.equal(normalizeTimeZone('Europe/Berlin'), 'Europe/Berlin');
    assert.equal(normalizeTimeZone('europe/berlin'), 'Europe/Berlin');
    assert.equal(normalizeTimeZone('UTC'), 'UTC');
    assert.ok(normalizeTimeZone('Asia/Kolkata'), 'an alias ICU knows under another name');
    for (const bad of ['Mars/Olympus', '', 'Europe/Berlin; drop table', '+01:00', 'Europe/../etc']) assert.equal(normalizeTimeZone(bad), null, bad);
    // DST: Berlin is CET in winter, CEST in summer, named so
    assert.equal(formatTime(new Date('2026-01-15T13:05:09Z'), 'Europe/Berlin'), '15 January 2026, 14:05 CET');
    assert.equal(formatTime(new Date('2026-07-15T13:05:09Z'), 'Europe/Berlin', { seconds: true }), '15 July 2026, 15:05:09 CEST');
    assert.equal(formatTime(new Date('2026-07-15T13:05:09Z')), '15 July 2026, 13:05 UTC');
    // a zone without a well-known abbreviation is named in full
    assert.equal(formatTime(new Date('2026-07-15T13:05:00Z'), 'Asia/Tokyo'), '15 July 2026, 22:05 GMT+9 (Asia/Tokyo)');
    // local days: the spring-forward day in Berlin has 23 hours
    assert.equal(startOfLocalDay({ year: 2026, month: 3, day: 29 }, 'Europe/Berlin').toISOString(), '2026-03-28T23:00:00.000Z');
    assert.equal(endOfLocalDay({ year: 2026, month: 3, day: 29 }, 'Europe/Berlin').toISOString(), '2026-03-29T22:00:00.000Z');
  });

  test('setup takes the help desk\'s zone: an unknown one is 422 time_zone_unknown and creates nothing', async () => {
    const token = t.app.deskpass.setupLink.issue();
    t.secrets.add(token);
    const body = { token, accountName: ACCOUNT_NAME, adminName: OWNER.name, adminEmail: OWNER.email, password: OWNER.password };
    assertError(await t.post('/api/v1/setup', { ...body, timeZone: 'Mars/Olympus' }), 422, 'time_zone_unknown');
    assert.equal((await t.app.deskpass.deps.db.selectFrom('accounts').select('id').execute()).length, 0, 'no account was created');
    assert.equal((await t.get(`/api/v1/setup/${token}`)).status, 200, 'the setup link still works');
    const created = await t.post('/api/v1/setup', { ...body, timeZone: 'europe/berlin' });
    assert.equal(created.status, 201, created.raw);
    assert.equal(created.body.account.settings.timeZone, 'Europe/Berlin');
    assert.equal(created.body.agent.timeZone, null, "the administrator starts on the help desk's zone");
    ownerId = created.body.agent.id;
    ownerToken = await t.login(OWNER.email, OWNER.password);
    const roles = await t.get('/api/v1/roles', ownerToken);
    agentRoleId = roles.body.roles.find((r: { name: string }) => r.name === 'Agent').id;
    bob = await t.addAgent(ownerToken, { ...BOB, roleId: agentRoleId });
  });

  test('PATCH /account sets the help desk\'s zone; an unknown one is refused and changes nothing; API times stay ISO UTC', async () => {
    assertError(await t.patch('/api/v1/account', { timeZone: 'Nowhere/City' }, ownerToken), 422, 'time_zone_unknown');
    assertError(await t.patch('/api/v1/account', { timeZone: 'Nowhere/City', resetLinkLifetimeHours: 24 }, ownerToken), 422, 'time_zone_unknown');
    const unchanged = await t.get('/api/v1/account', ownerToken);
    assert.equal(unchanged.body.settings.timeZone, 'Europe/Berlin');
    assert.equal(unchanged.body.settings.resetLinkLifetimeHours, 48, 'a refused change is not half-done');
    assertError(await t.patch('/api/v1/account', { timeZone: 'America/New_York' }, bob.token), 403, 'forbidden');
    const changed = await t.patch('/api/v1/account', { timeZone: 'America/New_York' }, ownerToken);
    assert.equal(changed.status, 200, changed.raw);
    assert.equal(changed.body.settings.timeZone, 'America/New_York');
    assert.match(changed.body.createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal((await t.patch('/api/v1/account', { timeZone: 'Europe/Berlin' }, ownerToken)).body.settings.timeZone, 'Europe/Berlin');
  });

  test('PATCH /me: an agent chooses their own zone, or null for the help desk\'s', async () => {
    assertError(await t.patch('/api/v1/me', { timeZone: 'Atlantis/Capital' }, bob.token), 422, 'time_zone_unknown');
    assert.equal((await t.get('/api/v1/me', bob.token)).body.timeZone, null, 'unchanged');
    assert.equal((await t.patch('/api/v1/me', { timeZone: 42 }, bob.token)).status, 400);
    const chosen = await t.patch('/api/v1/me', { timeZone: 'Asia/Tokyo' }, bob.token);
    assert.equal(chosen.status, 200, chosen.raw);
    assert.equal(chosen.body.timeZone, 'Asia/Tokyo');
    const row = await t.app.deskpass.deps.db.selectFrom('agents').select('time_zone').where('id', '=', bob.id).executeTakeFirstOrThrow();
    assert.equal(row.time_zone, 'Asia/Tokyo');
    assert.equal((await t.patch('/api/v1/me', { timeZone: null }, bob.token)).body.timeZone, null);
    assert.equal((await t.patch('/api/v1/me', { timeZone: 'Asia/Tokyo' }, bob.token)).body.timeZone, 'Asia/Tokyo');
    // the owner's own zone is untouched by Bob's
    assert.equal((await t.get(`/api/v1/agents/${ownerId}`, ownerToken)).body.timeZone, null);
  });

  test('an email shows times in its recipient\'s zone: their own, else the help desk\'s (CET in winter)', async () => {
    // 10:00 UTC + 48 hours
    const bobMail = await forgotPasswordMail(BOB.email);
    assert.match(bobMail, /until 17 January 2026, 19:00 GMT\+9 \(Asia\/Tokyo\)/);
    const ownerMail = await forgotPasswordMail(OWNER.email);
    assert.match(ownerMail, /until 17 January 2026, 11:00 CET/);
    assert.doesNotMatch(ownerMail, /UTC/);
    // the signed-out reset page names the link's end in its agent's zone too
    const token = /\/reset-password\/([A-Za-z0-9_-]{43})/.exec(bobMail)![1];
    t.secrets.add(token);
    const resetPage = await t.request('GET', `/reset-password/${token}`);
    assert.match(resetPage.raw, /This link works until 17 January 2026, 19:00 GMT\+9 \(Asia\/Tokyo\)/);
  });

  test('pages show the viewer\'s zone: their own, else the help desk\'s; <time datetime> stays UTC', async () => {
    const owners = await page(`/manage/agents/${bob.id}`, ownerToken);
    assert.equal(owners.status, 200);
    assert.match(owners.html, /15 January 2026, 11:00 CET/, "Bob's Added date, in the owner's (the help desk's) zone");
    const bobs = await page('/my-settings/password', bob.token);
    assert.match(bobs.html, /Last changed 15 January 2026, 19:00 GMT\+9 \(Asia\/Tokyo\)/);
    const preferences = await page('/my-settings/preferences', bob.token);
    assert.match(preferences.html, /Use the help desk&#39;s time zone \(Europe\/Berlin\)|Use the help desk's time zone \(Europe\/Berlin\)/);
    assert.match(preferences.html, /<option value="Asia\/Tokyo" selected>/);
    const ownerPreferences = await page('/my-settings/preferences', ownerToken);
    assert.match(ownerPreferences.html, /<option value="" selected>/, "the default: the help desk's zone");
    const audit = await page('/manage/audit', ownerToken);
    assert.ok(auditTimes(audit.html).some((cell) => /^2026-01-15T10:00:00\.000Z 15 January 2026, 11:00:00 CET$/.test(cell)), auditTimes(audit.html).join('\n'));
  });

  test('summer: the same help desk shows CEST (DST), in pages and emails', async () => {
    t.clock.set('2026-07-15T10:00:00.000Z');
    ownerToken = await t.login(OWNER.email, OWNER.password);
    bob.token = await t.login(BOB.email, BOB.password);
    const ownerMail = await forgotPasswordMail(OWNER.email);
    assert.match(ownerMail, /until 17 July 2026, 12:00 CEST/);
    const sessions = await page('/my-settings/sessions', ownerToken);
    assert.match(sessions.html, /15 July 2026, 12:00 CEST/);
  });

  test('the audit log\'s date range is days in the viewer\'s zone, both included: 23:59:59 local is in "to", 00:00:00 the next day is not', async () => {
    // two events, one second apart, around Berlin's midnight (CEST = UTC+2)
    t.clock.set('2026-07-15T21:59:59.000Z');
    ownerToken = await t.login(OWNER.email, OWNER.password);
    bob.token = await t.login(BOB.email, BOB.password);
    assert.equal((await t.patch(`/api/v1/agents/${bob.id}`, { name: 'Bob Before Midnight' }, ownerToken)).status, 200);
    t.clock.set('2026-07-15T22:00:00.000Z');
    assert.equal((await t.patch(`/api/v1/agents/${bob.id}`, { name: 'Bob At Midnight' }, ownerToken)).status, 200);
    t.clock.set('2026-07-15T23:30:00.000Z');

    const lastMinute = '2026-07-15T21:59:59.000Z 15 July 2026, 23:59:59 CEST';
    const midnight = '2026-07-15T22:00:00.000Z 16 July 2026, 00:00:00 CEST';
    const day15 = auditTimes((await page('/manage/audit?type=agent.updated&from=2026-07-15&to=2026-07-15', ownerToken)).html);
    assert.ok(day15.includes(lastMinute), day15.join('\n'));
    assert.ok(!day15.includes(midnight), day15.join('\n'));
    const day16 = auditTimes((await page('/manage/audit?type=agent.updated&from=2026-07-16&to=2026-07-16', ownerToken)).html);
    assert.deepEqual(day16, [midnight]);
    // only "to": everything up to the end of that local day; only "from": from its start
    assert.ok(auditTimes((await page('/manage/audit?type=agent.updated&to=2026-07-15', ownerToken)).html).includes(lastMinute));
    assert.ok(!auditTimes((await page('/manage/audit?type=agent.updated&to=2026-07-15', ownerToken)).html).includes(midnight));
    assert.deepEqual(auditTimes((await page('/manage/audit?type=agent.updated&from=2026-07-16', ownerToken)).html), [midnight]);

    // Bob, in Tokyo (UTC+9), sees both on his 16 July — but he may not read the log at all
    assert.equal((await page('/manage/audit', bob.token)).status, 403);

    // the form keeps what was typed
    const kept = (await page('/manage/audit?from=2026-07-15&to=2026-07-16', ownerToken)).html;
    assert.match(kept, /id="from" name="from" type="date" value="2026-07-15"/);
    assert.match(kept, /id="to" name="to" type="date" value="2026-07-16"/);

    // the API: from/to are ISO instants (an extension), to exclusive
    const api = await t.get('/api/v1/audit-events?type=agent.updated&from=2026-07-15T21:59:59Z&to=2026-07-15T22:00:00Z', ownerToken);
    assert.equal(api.status, 200, api.raw);
    assert.deepEqual(api.body.events.map((e: { createdAt: string }) => e.createdAt), ['2026-07-15T21:59:59.000Z']);
    assert.equal((await t.get('/api/v1/audit-events?from=yesterday', ownerToken)).status, 400);
  });

  test('a bad date or a reversed range gets a clear message, a 400, and no events', async () => {
    const bad = await page('/manage/audit?from=2026-02-30', ownerToken);
    assert.equal(bad.status, 400);
    assert.match(bad.html, /From: &quot;2026-02-30&quot; is not a date. Enter a date like 2026-12-03/);
    assert.match(bad.html, /id="from" name="from" type="date" value="2026-02-30"[^>]*aria-invalid="true"/);
    assert.equal(auditTimes(bad.html).length, 0);
    const reversed = await page('/manage/audit?from=2026-07-16&to=2026-07-15', ownerToken);
    assert.equal(reversed.status, 400);
    assert.match(reversed.html, /&quot;From&quot; is after &quot;To&quot;|"From" is after "To"/);
  });

  test('agent=<id> filters by that agent, says whose events these are, and offers "Show all"', async () => {
    const filtered = await page(`/manage/audit?agent=${bob.id}`, ownerToken);
    assert.equal(filtered.status, 200);
    assert.match(filtered.html, /Events for <strong>Bob At Midnight<\/strong>/);
    assert.match(filtered.html, /<a href="\/manage\/audit">Show all<\/a>/);
    const rows = filtered.html.split('<tr>').slice(2);
    assert.ok(rows.length > 3);
    for (const row of rows) assert.match(row, new RegExp(`agent=${bob.id}`), 'every event involves Bob');
    const withType = await page(`/manage/audit?agent=${bob.id}&type=agent.updated&from=2026-07-15`, ownerToken);
    assert.match(withType.html, /<a href="\/manage\/audit\?type=agent.updated&amp;from=2026-07-15">Show all<\/a>/, 'Show all keeps the other filters');
    const unknown = await page('/manage/audit?agent=00000000-0000-0000-0000-000000000000', ownerToken);
    assert.match(unknown.html, /No agent of this help desk has that id/);
    assert.equal(auditTimes(unknown.html).length, 0);
  });
});
