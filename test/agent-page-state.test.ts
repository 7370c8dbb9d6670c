import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER, type Answer } from './support/harness.js';
import { whySessionEnded } from '../src/flows/sessions.js';
import { Browserish } from './support/browserish.js';

// Issue 12, the agent page's part: per-session admin sign-out, an invited agent's way back in
// from a dead invitation link, roles deleted when nobody holds them (and counted), and the
// state the agent page reads (lock, one-time password, reset link, last sign-in).

const DAY_MS = 86_400_000;

let t: TestApp;
let ownerId: string;
let ownerToken: string;
let adminRoleId: string;
let agentRoleId: string;
let managersRoleId: string;
let bob: { id: string; token: string };
let mia: { id: string; token: string };
let ada: { id: string; token: string };

const reason = (a: Answer) => a.body?.error?.details?.[0]?.reason;

function assertError(answer: Answer, status: number, code: string, expectedReason?: string): void {
  assert.equal(answer.status, status, answer.raw);
  assert.equal(answer.body.error.code, code, answer.raw);
  if (expectedReason) assert.equal(reason(answer), expectedReason, answer.raw);
}

const db = () => t.app.deskpass.deps.db;

async function sessionsOf(token: string): Promise<{ id: string; current: boolean }[]> {
  const answer = await t.get('/api/v1/me/sessions', token);
  assert.equal(answer.status, 200, answer.raw);
  return answer.body.sessions;
}

async function alive(token: string): Promise<boolean> {
  return (await t.get('/api/v1/me', token)).status === 200;
}

async function auditOf(type: string, agentId?: string): Promise<any[]> {
  const answer = await t.get(`/api/v1/audit-events?type=${type}&limit=200${agentId ? `&agentId=${agentId}` : ''}`, ownerToken);
  assert.equal(answer.status, 200, answer.raw);
  return answer.body.events;
}

async function outboxCount(recipient?: string): Promise<number> {
  let q = db().selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n'));
  if (recipient) q = q.where('recipient', '=', recipient);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

/** A portal visitor signed in through the sign-in form. */
async function portalAs(email: string, password: string): Promise<Browserish> {
  const b = new Browserish(t, { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' });
  const answer = await b.submit('/login', { email, password });
  assert.equal(answer.statusCode, 303, answer.body);
  return b;
}

before(async () => {
  t = await TestApp.start();
  ({ ownerId, ownerToken, adminRoleId, agentRoleId } = await t.setup());
  managersRoleId = await t.role(ownerToken, 'Agent managers', ['manage_agents']);
  bob = await t.addAgent(ownerToken, { email: 'bob@acme.test', name: 'Bob Baker', roleId: agentRoleId, password: 'Juniper-Falcon-Orchard-12' });
  mia = await t.addAgent(ownerToken, { email: 'mia@acme.test', name: 'Mia Manager', roleId: managersRoleId, password: 'Velvet-Canyon-Otter-63' });
  ada = await t.addAgent(ownerToken, { email: 'ada@acme.test', name: 'Ada Admin', roleId: adminRoleId, password: 'Quartz-Meadow-Heron-91' });
});

after(async () => {
  await t?.close();
});

describe('DELETE /api/v1/agents/{id}/sessions/{sessionId}: an administrator signs an agent out of one session', () => {
  test('that session is dead (and the apps signed in through it are logged out), the others live on, and it is audited', async () => {
    const second = await t.login('bob@acme.test', 'Juniper-Falcon-Orchard-12');
    const third = await t.login('bob@acme.test', 'Juniper-Falcon-Orchard-12');
    const sessions = await sessionsOf(second);
    const target = sessions.find((s) => s.current)!;
    assert.equal(sessions.length, 3);

    // an app signed in through the target session and through another one
    const backchannel = 'https://helpdesk.acme.test/backchannel-logout';
    const app = await t.post('/api/v1/apps', { name: 'Helpdesk', type: 'confidential', redirectUris: ['https://helpdesk.acme.test/callback'], backchannelLogoutUri: backchannel }, ownerToken);
    assert.equal(app.status, 201, app.raw);
    const other = sessions.find((s) => !s.current && s.id !== target.id)!;
    const now = t.clock.now().toISOString();
    for (const sessionId of [target.id, other.id]) {
      await db().insertInto('app_sign_ins').values({ session_id: sessionId, app_id: app.body.id, account_id: (await db().selectFrom('agents').select('account_id').where('id', '=', bob.id).executeTakeFirstOrThrow()).account_id, agent_id: bob.id, grant_id: `grant-${sessionId}`, created_at: now }).execute();
    }
    const logoutsBefore = await outboxCount(backchannel);

    const answer = await t.delete(`/api/v1/agents/${bob.id}/sessions/${target.id}`, ownerToken);
    assert.equal(answer.status, 204, answer.raw);

    assert.equal(await alive(second), false, 'that session is dead');
    assert.equal(await whySessionEnded(t.app.deskpass.deps, second), 'session_revoked_by_admin', 'its browser is told one session ended, not every one');
    assert.equal(await alive(bob.token), true, 'the first session lives on');
    assert.equal(await alive(third), true, 'the third session lives on');
    const signIns = await db().selectFrom('app_sign_ins').select('session_id').where('agent_id', '=', bob.id).execute();
    assert.deepEqual(signIns.map((s) => s.session_id), [other.id], "the app's sign-in through that session ended, the other app sign-in did not");
    assert.equal(await outboxCount(backchannel), logoutsBefore + 1, 'one back-channel logout is queued, for that session');

    const events = (await auditOf('session.revoked', bob.id)).filter((e) => e.actor?.id === ownerId);
    assert.equal(events.length, 1);
    assert.equal(events[0].target.id, bob.id);
    assert.deepEqual(await db().selectFrom('audit_events').select('details').where('type', '=', 'session.revoked').where('actor_agent_id', '=', ownerId).execute().then((rows) => rows.map((r) => JSON.parse(String(r.details)))), [{ scope: 'one', sessionId: target.id }]);
  });

  test('refusals end no session: without manage_agents, a more privileged target, the Account Administrator', async () => {
    const bobSession = (await sessionsOf(bob.token)).find((s) => s.current)!;
    const adaSession = (await sessionsOf(ada.token)).find((s) => s.current)!;
    const ownerSession = (await sessionsOf(ownerToken)).find((s) => s.current)!;
    const before = (await auditOf('session.revoked')).length;

    assertError(await t.delete(`/api/v1/agents/${ada.id}/sessions/${adaSession.id}`, bob.token), 403, 'forbidden', 'missing_permission');
    assertError(await t.delete(`/api/v1/agents/${ada.id}/sessions/${adaSession.id}`, mia.token), 403, 'forbidden', 'target_more_privileged');
    assertError(await t.delete(`/api/v1/agents/${ownerId}/sessions/${ownerSession.id}`, ada.token), 403, 'forbidden', 'account_administrator_protected');
    assertError(await t.delete(`/api/v1/agents/${ownerId}/sessions/${ownerSession.id}`, mia.token), 403, 'forbidden', 'account_administrator_protected');
    assertError(await t.delete(`/api/v1/agents/no-such-agent/sessions/${bobSession.id}`, bob.token), 403, 'forbidden', 'missing_permission');

    assert.equal(await alive(ada.token), true);
    assert.equal(await alive(ownerToken), true);
    assert.equal(await alive(bob.token), true);
    assert.equal((await auditOf('session.revoked')).length, before, 'nothing audited: nothing ended');
  });

  test("another agent's session id, an unknown one or one already ended is 404, and nothing ends", async () => {
    const bobSession = (await sessionsOf(bob.token)).find((s) => s.current)!;
    assertError(await t.delete(`/api/v1/agents/${mia.id}/sessions/${bobSession.id}`, ownerToken), 404, 'not_found');
    assertError(await t.delete(`/api/v1/agents/${bob.id}/sessions/no-such-session`, ownerToken), 404, 'not_found');
    assertError(await t.delete(`/api/v1/agents/no-such-agent/sessions/${bobSession.id}`, ownerToken), 404, 'not_found');
    assert.equal(await alive(bob.token), true, "Bob's session, named under Mia's id, lives on");
    // a manager may sign an ordinary agent out of one session, as of all of them
    assert.equal((await t.delete(`/api/v1/agents/${bob.id}/sessions/${bobSession.id}`, mia.token)).status, 204);
    assert.equal(await alive(bob.token), false);
    assertError(await t.delete(`/api/v1/agents/${bob.id}/sessions/${bobSession.id}`, mia.token), 404, 'not_found');
    bob.token = await t.login('bob@acme.test', 'Juniper-Falcon-Orchard-12');
  });
});

describe('roles: how many agents hold each, and deleting one nobody holds', () => {
  test('GET /roles gives each role its agentCount, from one grouped query (not one per role)', async () => {
    const spare = await t.role(ownerToken, 'Spare role', ['view_audit_log']);
    t.queries.length = 0;
    const answer = await t.get('/api/v1/roles', ownerToken);
    assert.equal(answer.status, 200, answer.raw);
    const counts = Object.fromEntries(answer.body.roles.map((r: { name: string; agentCount: number }) => [r.name, r.agentCount]));
    assert.equal(counts.Administrator, 2, 'the owner and Ada');
    assert.equal(counts.Agent, 1, 'Bob');
    assert.equal(counts['Agent managers'], 1, 'Mia');
    assert.equal(counts['Spare role'], 0);
    const counting = t.queries.filter((q) => /count\(\*\)/i.test(q) && /group by/i.test(q) && /"agents"/.test(q));
    assert.equal(counting.length, 1, t.queries.join('\n'));
    assertError(await t.delete(`/api/v1/roles/${spare}`, bob.token), 403, 'forbidden', 'missing_permission');
    assert.equal((await t.get('/api/v1/roles', ownerToken)).body.roles.some((r: { id: string }) => r.id === spare), true, 'refused: still there');
  });

  test('DELETE /roles/{id} of a custom role nobody holds: 204, gone, audited role.deleted', async () => {
    const id = await t.role(ownerToken, 'Night shift', ['manage_agents']);
    const answer = await t.delete(`/api/v1/roles/${id}`, ownerToken);
    assert.equal(answer.status, 204, answer.raw);
    assert.equal((await t.get('/api/v1/roles', ownerToken)).body.roles.some((r: { id: string }) => r.id === id), false);
    assertError(await t.delete(`/api/v1/roles/${id}`, ownerToken), 404, 'not_found');
    const [event] = await auditOf('role.deleted');
    assert.equal(event.actor.id, ownerId);
    const row = await db().selectFrom('audit_events').select('details').where('type', '=', 'role.deleted').executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(String(row.details)), { roleId: id, name: 'Night shift', permissions: ['manage_agents'] });
  });

  test('a role some agent holds (a deactivated one too) is 409 role_in_use with the count, and stays', async () => {
    const id = await t.role(ownerToken, 'Weekend', []);
    const wes = await t.addAgent(ownerToken, { email: 'wes@acme.test', name: 'Wes Weekend', roleId: id, password: 'Harbor-Quill-Sunset-27' });
    await t.addAgent(ownerToken, { email: 'wyn@acme.test', name: 'Wyn Weekend', roleId: id, password: 'Lichen-Orbit-Pebble-83' });
    assert.equal((await t.patch(`/api/v1/agents/${wes.id}`, { status: 'deactivated' }, ownerToken)).status, 200);
    const answer = await t.delete(`/api/v1/roles/${id}`, ownerToken);
    assertError(answer, 409, 'role_in_use');
    assert.equal(answer.body.error.details[0].agentCount, 2);
    assert.equal((await t.get('/api/v1/roles', ownerToken)).body.roles.find((r: { id: string }) => r.id === id)?.agentCount, 2);
    assert.equal((await auditOf('role.deleted')).filter((e) => JSON.stringify(e).includes(id)).length, 0);
  });

  test('built-in roles cannot be deleted (403 built_in_role_protected), nor a role with permissions the actor lacks', async () => {
    assertError(await t.delete(`/api/v1/roles/${agentRoleId}`, ownerToken), 403, 'forbidden', 'built_in_role_protected');
    assertError(await t.delete(`/api/v1/roles/${adminRoleId}`, ownerToken), 403, 'forbidden', 'built_in_role_protected');
    const keepersRole = await t.role(ownerToken, 'Role keepers', ['manage_roles']);
    const kay = await t.addAgent(ownerToken, { email: 'kay@acme.test', name: 'Kay Keeper', roleId: keepersRole, password: 'Tundra-Maple-Cobalt-45' });
    const strong = await t.role(ownerToken, 'Auditors', ['view_audit_log']);
    assertError(await t.delete(`/api/v1/roles/${strong}`, kay.token), 403, 'forbidden', 'target_more_privileged');
    const names = (await t.get('/api/v1/roles', ownerToken)).body.roles.map((r: { name: string }) => r.name);
    assert.ok(names.includes('Agent') && names.includes('Administrator') && names.includes('Auditors'));
  });
});

describe("the agent page's state panel reads the store as it is", () => {
  test('locked until when and by what, a reset link sent by whom and then used, the last sign-in', async () => {
    const lou = await t.addAgent(ownerToken, { email: 'lou@acme.test', name: 'Lou Locksmith', roleId: agentRoleId, password: 'Thistle-Harbor-Comet-35' });
    for (let i = 0; i < 5; i += 1) await t.post('/api/v1/auth/login', { email: 'lou@acme.test', password: `Not-Lou-${i}-Password` });
    const owner = await portalAs(OWNER.email, OWNER.password);
    let page = (await owner.get(`/manage/agents/${lou.id}`)).body;
    assert.match(page, /Locked until [^<]+<\/strong>, after 5 failed password attempts/);
    assert.match(page, /Last sign-in<\/dt>\s*<dd>[^<]+ · [^<]+/);
    assert.match(page, new RegExp(`href="/manage/audit\\?agent=${lou.id}"`));

    const since = t.smtp.messages.length;
    const fresh = await t.login(OWNER.email, OWNER.password);
    assert.equal((await t.post(`/api/v1/agents/${lou.id}/password-reset-email`, undefined, fresh)).status, 202);
    page = (await owner.get(`/manage/agents/${lou.id}`)).body;
    assert.match(page, /Reset link<\/dt>\s*<dd>Sent [^<]+, by you: not used yet; works until/);
    const link = t.linkToken(await t.mailTo('lou@acme.test', /reset/i, since));
    t.secrets.add('Meadow-Copper-Lantern-58');
    assert.equal((await t.post('/api/v1/auth/reset-password', { token: link, newPassword: 'Meadow-Copper-Lantern-58' })).status, 204);
    page = (await owner.get(`/manage/agents/${lou.id}`)).body;
    assert.match(page, /Reset link<\/dt>\s*<dd>Sent [^<]+, by you: used at /);
    assert.match(page, /Lock<\/dt>\s*<dd>Not locked/, 'the reset cleared the lock');
  });

  test('a one-time password is "pending until …", then "expired", never pending with a past date', async () => {
    const pat = await t.addAgent(ownerToken, { email: 'pat@acme.test', name: 'Pat Pending', roleId: agentRoleId, password: 'Marble-Cactus-Ribbon-48' });
    const fresh = await t.login(OWNER.email, OWNER.password);
    t.secrets.add('Temporary-Lagoon-Fossil-22');
    assert.equal((await t.put(`/api/v1/agents/${pat.id}/password`, { password: 'Temporary-Lagoon-Fossil-22', requireChangeAtNextLogin: true }, fresh)).status, 204);
    const owner = await portalAs(OWNER.email, OWNER.password);
    let page = (await owner.get(`/manage/agents/${pat.id}`)).body;
    assert.match(page, /One-time password<\/dt>\s*<dd>Pending: they must choose a new password when they sign in, by /);
    assert.match(page, />Password change pending</);
    const lifetimeHours = (await t.get('/api/v1/account', fresh)).body.settings.temporaryPasswordLifetimeHours as number;
    t.clock.advanceHours(lifetimeHours);
    const later = await portalAs(OWNER.email, OWNER.password);
    page = (await later.get(`/manage/agents/${pat.id}`)).body;
    assert.match(page, /One-time password<\/dt>\s*<dd><strong>Expired<\/strong> at /);
    assert.match(page, />One-time password expired</);
    assert.doesNotMatch(page, />Password change pending</);
    ownerToken = await t.login(OWNER.email, OWNER.password);
  });
});

describe('a dead invitation link: "Send me a new invitation"', () => {
  async function invite(email: string, name: string): Promise<{ id: string; link: string }> {
    const since = t.smtp.messages.length;
    const created = await t.post('/api/v1/agents', { email, name, roleId: agentRoleId }, ownerToken);
    assert.equal(created.status, 201, created.raw);
    return { id: created.body.id, link: t.linkToken(await t.mailTo(email, /invit/i, since)) };
  }

  async function askForNewInvitation(b: Browserish, link: string) {
    const page = await b.get(`/reset-password/${link}`);
    return b.post(`/reset-password/${link}/new-invitation`, { _csrf: Browserish.csrfOf(page.body) });
  }

  test("the portal's password options refuse an invited agent too: no link, no email, the invitation still works", async () => {
    const ida = await invite('ida@acme.test', 'Ida Invited');
    const owner = await portalAs(OWNER.email, OWNER.password);
    const page = await owner.get(`/manage/agents/${ida.id}`);
    assert.match(page.body, /Ida Invited has not accepted their invitation yet/);
    assert.doesNotMatch(page.body, /Send password reset email<\/button>/);
    await t.app.deskpass.mailWorker.runOnce();
    const queued = await outboxCount();
    const csrf = Browserish.csrfOf(page.body);
    const link = await owner.post(`/manage/agents/${ida.id}/password-reset-email`, { _csrf: csrf });
    assert.equal(link.statusCode, 303);
    assert.equal(link.headers.location, `/manage/agents/${ida.id}#password`);
    const set = await owner.post(`/manage/agents/${ida.id}/password`, { _csrf: csrf, password: 'Saffron-Quarry-Lumen-29', confirmPassword: 'Saffron-Quarry-Lumen-29', requireChangeAtNextLogin: 'on' });
    assert.equal(set.statusCode, 303);
    const after = await owner.get(`/manage/agents/${ida.id}`);
    assert.match(after.body, /has not accepted their invitation yet: resend it instead/);
    assert.equal(await outboxCount(), queued, 'no email queued');
    const tokens = await db().selectFrom('password_reset_tokens').select(['purpose', 'revoked_at']).where('agent_id', '=', ida.id).execute();
    assert.deepEqual(tokens, [{ purpose: 'invitation', revoked_at: null }]);
    assert.equal((await t.get(`/api/v1/auth/reset-password/${ida.link}`)).status, 200);
  });

  test('an expired invitation: the page offers a new one; it goes to that address, for 7 days, and works; the old link stays dead', async () => {
    const ivy = await invite('ivy@acme.test', 'Ivy Invited');
    const dee = await invite('dee@acme.test', 'Dee Declined');
    assert.equal((await t.patch(`/api/v1/agents/${dee.id}`, { status: 'deactivated' }, ownerToken)).status, 200);
    t.clock.advanceMs(7 * DAY_MS + 1000);
    ownerToken = await t.login(OWNER.email, OWNER.password);

    const visitor = new Browserish(t);
    const dead = await visitor.get(`/reset-password/${ivy.link}`);
    assert.equal(dead.statusCode, 410);
    assert.match(dead.body, /This invitation link no longer works/);
    assert.match(dead.body, /Send me a new invitation/);
    assert.doesNotMatch(dead.body, /Send me a new link/, 'not the Forgot password form, which sends nothing to an invited agent');

    const since = t.smtp.messages.length;
    const answer = await askForNewInvitation(visitor, ivy.link);
    assert.equal(answer.statusCode, 200);
    assert.match(answer.body, /Check your email/);
    const mail = await t.mailTo('ivy@acme.test', /invit/i, since);
    const fresh = t.linkToken(mail);
    assert.notEqual(fresh, ivy.link);
    const inspected = await t.get(`/api/v1/auth/reset-password/${fresh}`);
    assert.equal(inspected.status, 200, inspected.raw);
    assert.equal(new Date(inspected.body.expiresAt).getTime(), t.clock.now().getTime() + 7 * DAY_MS);
    assert.equal((await t.get(`/api/v1/auth/reset-password/${ivy.link}`)).status, 410, 'the old link stays dead');
    const [event] = (await auditOf('agent.invitation_sent', ivy.id));
    assert.equal(event.actor, null, 'audited, without an actor');

    // the same answer, and nothing sent, for a deactivated invited agent and for an unknown link
    await t.app.deskpass.mailWorker.runOnce();
    const queued = await outboxCount();
    const mails = t.smtp.messages.length;
    const deactivated = await askForNewInvitation(new Browserish(t), dee.link);
    assert.equal(deactivated.statusCode, 200);
    assert.equal(deactivated.body, answer.body, 'the same page');
    const unknown = new Browserish(t);
    const unknownPage = await unknown.get('/login');
    const unknownAnswer = await unknown.post(`/reset-password/${'A'.repeat(43)}/new-invitation`, { _csrf: Browserish.csrfOf(unknownPage.body) });
    assert.equal(unknownAnswer.statusCode, 200);
    assert.match(unknownAnswer.body, /Check your email/);
    const forged = await new Browserish(t).post(`/reset-password/${dee.link}/new-invitation`, {});
    assert.equal(forged.statusCode, 403, 'a post from another site (no CSRF token) is refused');
    await t.app.deskpass.mailWorker.runOnce();
    assert.equal(await outboxCount(), queued, 'nothing queued');
    assert.equal(t.smtp.messages.length, mails, 'nothing sent');

    // an invitation that was accepted: its page sends to sign-in, and asking anyway sends nothing
    t.secrets.add('Orchid-Basalt-Ferry-66');
    assert.equal((await t.post('/api/v1/auth/reset-password', { token: fresh, newPassword: 'Orchid-Basalt-Ferry-66' })).status, 204);
    const used = await new Browserish(t).get(`/reset-password/${fresh}`);
    assert.match(used.body, /already used to set a password/);
    assert.doesNotMatch(used.body, /Send me a new invitation/);
    await t.app.deskpass.mailWorker.runOnce();
    const afterAccepting = await outboxCount();
    assert.equal((await askForNewInvitation(new Browserish(t), ivy.link)).statusCode, 200);
    await t.app.deskpass.mailWorker.runOnce();
    assert.equal(await outboxCount(), afterAccepting, 'an agent who accepted gets no invitation');
  });

  test('limited like Forgot password: five new invitations an hour per invited agent, then 429 and nothing sent', async () => {
    const ray = await invite('ray@acme.test', 'Ray Retry');
    t.clock.advanceMs(7 * DAY_MS + 1000);
    ownerToken = await t.login(OWNER.email, OWNER.password);
    const link = ray.link;
    for (let i = 0; i < 5; i += 1) {
      const since = t.smtp.messages.length;
      const answer = await askForNewInvitation(new Browserish(t, { ip: `203.0.113.${i + 1}` }), link);
      assert.equal(answer.statusCode, 200, `request ${i + 1}`);
      t.linkToken(await t.mailTo('ray@acme.test', /invit/i, since));
      // the link just sent is live; the next ask comes from the dead one again
    }
    await t.app.deskpass.mailWorker.runOnce();
    const mails = t.smtp.messages.length;
    const queued = await outboxCount();
    const refused = await askForNewInvitation(new Browserish(t, { ip: '203.0.113.99' }), link);
    assert.equal(refused.statusCode, 429);
    await t.app.deskpass.mailWorker.runOnce();
    assert.equal(await outboxCount(), queued);
    assert.equal(t.smtp.messages.length, mails);
  });
});
