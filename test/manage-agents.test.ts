import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER, type Answer } from './support/harness.js';

const DAY_MS = 86_400_000;

let t: TestApp;
let ownerId: string;
let ownerToken: string;
let adminRoleId: string;
let agentRoleId: string;
let managerRoleId: string;
let manager: { id: string; token: string };
let admin2: { id: string; token: string };
let plain: { id: string; token: string };

/** Every agent.created, in the order the agents were added. */
const createdEmails: string[] = [];

const reason = (a: Answer) => a.body?.error?.details?.[0]?.reason;

function assertForbidden(answer: Answer, expectedReason: string, message?: string): void {
  assert.equal(answer.status, 403, message ?? answer.raw);
  assert.equal(answer.body.error.code, 'forbidden', message);
  assert.equal(reason(answer), expectedReason, message);
}

function assertError(answer: Answer, status: number, code: string, message?: string): void {
  assert.equal(answer.status, status, message ?? answer.raw);
  assert.equal(answer.body.error.code, code, message);
}

async function addAgent(actorToken: string, email: string, name: string, roleId: string, password: string) {
  const agent = await t.addAgent(actorToken, { email, name, roleId, password });
  createdEmails.push(email);
  return agent;
}

async function createInvited(actorToken: string, email: string, name: string, roleId: string) {
  const since = t.smtp.messages.length;
  const created = await t.post('/api/v1/agents', { email, name, roleId }, actorToken);
  assert.equal(created.status, 201, created.raw);
  createdEmails.push(email);
  const mail = await t.mailTo(email, /invit/i, since);
  return { agent: created.body, mail, token: t.linkToken(mail) };
}

async function listAll(url: string, token: string): Promise<any[]> {
  const answer = await t.get(url, token);
  assert.equal(answer.status, 200, answer.raw);
  return answer.body.agents;
}

const emailsOf = (agents: { email: string }[]) => agents.map((a) => a.email).sort();

before(async () => {
  t = await TestApp.start();
  ({ ownerId, ownerToken, adminRoleId, agentRoleId } = await t.setup());
  managerRoleId = await t.role(ownerToken, 'Agent Managers', ['manage_agents']);
  manager = await addAgent(ownerToken, 'mia.manager@acme.test', 'Mia Manager', managerRoleId, 'Velvet-Canyon-Orbit-31');
  admin2 = await addAgent(ownerToken, 'ada.admin@acme.test', 'Ada Admin', adminRoleId, 'Copper-Lantern-Meadow-58');
  plain = await addAgent(ownerToken, 'pete.plain@acme.test', 'Pete Plain', agentRoleId, 'Silver-Harbor-Thistle-64');
});

after(async () => {
  await t.close();
});

describe('POST /api/v1/agents', () => {
  test('adding an agent answers 201 with an invited agent that carries no hash', async () => {
    const now = t.clock.now();
    const since = t.smtp.messages.length;
    const created = await t.post('/api/v1/agents', { email: 'new.hire@acme.test', name: 'Nina Newhire', roleId: agentRoleId }, ownerToken);
    assert.equal(created.status, 201, created.raw);
    createdEmails.push('new.hire@acme.test');
    const agent = created.body;
    assert.equal(typeof agent.id, 'string');
    assert.equal(agent.email, 'new.hire@acme.test');
    assert.equal(agent.name, 'Nina Newhire');
    assert.deepEqual(agent.role, { id: agentRoleId, name: 'Agent', permissions: [] });
    assert.equal(agent.isAccountAdministrator, false);
    assert.equal(agent.status, 'invited');
    assert.equal(agent.passwordChangeRequired, false);
    assert.equal(agent.locked, false);
    assert.equal(agent.passwordChangedAt, null);
    assert.equal(agent.createdAt, now.toISOString());
    assert.doesNotMatch(created.raw, /hash|argon/i);

    const mail = await t.mailTo('new.hire@acme.test', /invit/i, since);
    const token = t.linkToken(mail);
    assert.ok(mail.text.includes(`${t.config.publicUrl}/reset-password/${token}`));
    assert.ok(mail.text.includes(OWNER.name), 'the invitation names who invited');
    const link = await t.get(`/api/v1/auth/reset-password/${token}`);
    assert.equal(link.status, 200, link.raw);
    assert.equal(link.body.email, 'new.hire@acme.test');
    assert.equal(link.body.expiresAt, new Date(now.getTime() + 7 * DAY_MS).toISOString(), 'an invitation is valid 7 days');
  });

  test('an email already taken is 409 email_taken, compared case-insensitively', async () => {
    const since = t.smtp.messages.length;
    assertError(await t.post('/api/v1/agents', { email: 'new.hire@acme.test', name: 'Other', roleId: agentRoleId }, ownerToken), 409, 'email_taken');
    assertError(await t.post('/api/v1/agents', { email: 'New.Hire@ACME.test', name: 'Other', roleId: agentRoleId }, ownerToken), 409, 'email_taken');
    assertError(await t.post('/api/v1/agents', { email: OWNER.email.toUpperCase(), name: 'Other', roleId: agentRoleId }, ownerToken), 409, 'email_taken');
    const found = await listAll('/api/v1/agents?search=new.hire', ownerToken);
    assert.equal(found.length, 1);
    await t.app.deskpass.mailWorker.runOnce();
    assert.equal(t.smtp.messages.slice(since).length, 0, 'no second invitation');
  });

  test('a bad email, a blank name, a missing field or an unknown role is 400 invalid_request and adds nobody', async () => {
    const bodies: unknown[] = [
      { email: 'not-an-email', name: 'Bad Email', roleId: agentRoleId },
      { email: 'blank.name@acme.test', name: '   ', roleId: agentRoleId },
      { email: 'no.role@acme.test', name: 'No Role' },
      { email: 'unknown.role@acme.test', name: 'Unknown Role', roleId: 'no-such-role' },
    ];
    for (const body of bodies) {
      assertError(await t.post('/api/v1/agents', body, ownerToken), 400, 'invalid_request', JSON.stringify(body));
    }
    for (const search of ['not-an-email', 'blank.name', 'no.role', 'unknown.role']) {
      assert.deepEqual(await listAll(`/api/v1/agents?search=${search}`, ownerToken), [], search);
    }
  });

  test('nobody adds an agent with a role holding a permission they lack: 403 cannot_grant_permissions', async () => {
    assertForbidden(await t.post('/api/v1/agents', { email: 'climber@acme.test', name: 'Cliff Climber', roleId: adminRoleId }, manager.token), 'cannot_grant_permissions');
    assert.deepEqual(await listAll('/api/v1/agents?search=climber', ownerToken), []);
    // a role within the actor's own permissions is fine
    const ok = await t.post('/api/v1/agents', { email: 'peer.manager@acme.test', name: 'Perry Peer', roleId: managerRoleId }, manager.token);
    assert.equal(ok.status, 201, ok.raw);
    createdEmails.push('peer.manager@acme.test');
  });
});

describe('GET /api/v1/agents', () => {
  before(async () => {
    for (const [email, name] of [
      ['jordan.miles@acme.test', 'Jordan Miles'],
      ['kim@acme.test', 'Kim Anna Jordanson'],
      ['milesa@acme.test', 'Ray Smith'],
      ['under_score@acme.test', 'Uma Under'],
      ['underxscore@acme.test', 'Ulf Under'],
      ['pam%deal@acme.test', 'Pam Percent'],
      ['pamxdeal@acme.test', 'Pax Other'],
    ]) {
      await createInvited(ownerToken, email, name, agentRoleId);
    }
  });

  test('search matches a prefix of the email or of any word of the name, case-insensitively', async () => {
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=jordan', ownerToken)), ['jordan.miles@acme.test', 'kim@acme.test']);
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=JORDAN', ownerToken)), ['jordan.miles@acme.test', 'kim@acme.test']);
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=miles', ownerToken)), ['jordan.miles@acme.test', 'milesa@acme.test']);
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=anna', ownerToken)), ['kim@acme.test']);
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=kim%40acme', ownerToken)), ['kim@acme.test']);
  });

  test('from three characters on, search matches inside names and emails; one or two characters match word starts only', async () => {
    // issue 12: "ller" finds Müller, "example.c" finds emails (before, only word starts matched)
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=iles', ownerToken)), ['jordan.miles@acme.test', 'milesa@acme.test']);
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=ordan', ownerToken)), ['jordan.miles@acme.test', 'kim@acme.test']);
    assert.equal((await listAll('/api/v1/agents?search=acme.test', ownerToken)).length, (await listAll('/api/v1/agents', ownerToken)).length);
    assert.deepEqual(await listAll('/api/v1/agents?search=rd', ownerToken), []);
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=ra', ownerToken)), ['milesa@acme.test']);
  });

  test('% and _ in a search are literal characters, not wildcards', async () => {
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=under_', ownerToken)), ['under_score@acme.test']);
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=pam%25', ownerToken)), ['pam%deal@acme.test']);
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?search=pam', ownerToken)), ['pam%deal@acme.test', 'pamxdeal@acme.test']);
    assert.deepEqual(await listAll('/api/v1/agents?search=%25', ownerToken), []);
    assert.deepEqual(await listAll('/api/v1/agents?search=_', ownerToken), []);
    assert.deepEqual(await listAll('/api/v1/agents?search=%25acme', ownerToken), []);
  });

  test('the status filter lists only agents in that status; an unknown status is 400', async () => {
    const invited = await listAll('/api/v1/agents?status=invited&limit=200', ownerToken);
    assert.ok(invited.length > 0);
    assert.ok(invited.every((a) => a.status === 'invited'));
    assert.ok(invited.some((a) => a.email === 'new.hire@acme.test'));
    const active = await listAll('/api/v1/agents?status=active&limit=200', ownerToken);
    assert.ok(active.every((a) => a.status === 'active'));
    assert.deepEqual(emailsOf(active), [OWNER.email, 'ada.admin@acme.test', 'mia.manager@acme.test', 'pete.plain@acme.test'].sort());
    assert.deepEqual(await listAll('/api/v1/agents?status=deactivated', ownerToken), []);
    assert.deepEqual(await listAll('/api/v1/agents?status=invited&search=pete', ownerToken), []);
    assertError(await t.get('/api/v1/agents?status=sleeping', ownerToken), 400, 'invalid_request');
  });

  test('limit and cursor page through the agents by email without overlap; nextCursor is null at the end', async () => {
    // added out of order: pages follow the email, not the order of creation
    const numbers = [7, 3, 12, 1, 9, 5, 11, 2, 8, 4, 10, 6];
    for (const n of numbers) {
      const nn = String(n).padStart(2, '0');
      const created = await t.post('/api/v1/agents', { email: `page${nn}@acme.test`, name: `Page Agent ${nn}`, roleId: agentRoleId }, ownerToken);
      assert.equal(created.status, 201, created.raw);
      createdEmails.push(`page${nn}@acme.test`);
    }
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const answer: Answer = await t.get(`/api/v1/agents?search=page&limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, ownerToken);
      assert.equal(answer.status, 200, answer.raw);
      pages.push(answer.body.agents.map((a: { email: string }) => a.email));
      cursor = answer.body.nextCursor;
      assert.ok(pages.length <= 3, 'three pages at most');
    } while (cursor);
    assert.deepEqual(pages.map((p) => p.length), [5, 5, 2]);
    const all = pages.flat();
    assert.equal(new Set(all).size, 12, 'pages do not overlap');
    assert.deepEqual(all, numbers.map((n) => `page${String(n).padStart(2, '0')}@acme.test`).sort());
    // one page exactly as long as the list: no next page
    const whole = await t.get('/api/v1/agents?search=page&limit=12', ownerToken);
    assert.equal(whole.body.agents.length, 12);
    assert.equal(whole.body.nextCursor, null);
  });

  test('a cursor that is not one we issued is 400 invalid_request, as is a limit outside 1–200', async () => {
    const wrongShape = Buffer.from(JSON.stringify(['x'])).toString('base64url');
    for (const url of [
      '/api/v1/agents?cursor=not-a-cursor!',
      `/api/v1/agents?cursor=${wrongShape}`,
      `/api/v1/agents?cursor=${Buffer.from('{"a":1}').toString('base64url')}`,
      '/api/v1/agents?limit=0',
      '/api/v1/agents?limit=201',
      '/api/v1/agents?limit=ten',
    ]) {
      assertError(await t.get(url, ownerToken), 400, 'invalid_request', url);
    }
    assert.equal((await t.get('/api/v1/agents?limit=200', ownerToken)).status, 200);
    assert.equal((await t.get('/api/v1/agents?limit=1', ownerToken)).status, 200);
  });

  test('GET /agents/{id} answers the agent; an unknown id is 404 not_found', async () => {
    const one = await t.get(`/api/v1/agents/${manager.id}`, ownerToken);
    assert.equal(one.status, 200, one.raw);
    assert.equal(one.body.id, manager.id);
    assert.equal(one.body.email, 'mia.manager@acme.test');
    assert.equal(one.body.status, 'active');
    assert.deepEqual(one.body.role, { id: managerRoleId, name: 'Agent Managers', permissions: ['manage_agents'] });
    assert.equal(typeof one.body.passwordChangedAt, 'string');
    const owner = await t.get(`/api/v1/agents/${ownerId}`, ownerToken);
    assert.equal(owner.body.isAccountAdministrator, true);
    assertError(await t.get('/api/v1/agents/00000000-0000-4000-8000-000000000000', ownerToken), 404, 'not_found');
    assertError(await t.get('/api/v1/agents/no-such-agent', ownerToken), 404, 'not_found');
  });
});

describe('PATCH /api/v1/agents/{id}', () => {
  let rita: { id: string; token: string };
  before(async () => {
    rita = await addAgent(ownerToken, 'rita@acme.test', 'Rita Rename', agentRoleId, 'Marble-Osprey-Garden-19');
  });

  test('a name change answers 200 with the new name', async () => {
    const answer = await t.patch(`/api/v1/agents/${rita.id}`, { name: 'Rita Renamed' }, ownerToken);
    assert.equal(answer.status, 200, answer.raw);
    assert.equal(answer.body.name, 'Rita Renamed');
    assert.equal((await t.get(`/api/v1/agents/${rita.id}`, ownerToken)).body.name, 'Rita Renamed');
  });

  test('a role change answers 200, ends the agent\'s sessions (every app\'s groups claim changes), and the next sign-in holds the new role', async () => {
    const answer = await t.patch(`/api/v1/agents/${rita.id}`, { roleId: managerRoleId }, ownerToken);
    assert.equal(answer.status, 200, answer.raw);
    assert.deepEqual(answer.body.role, { id: managerRoleId, name: 'Agent Managers', permissions: ['manage_agents'] });
    assertError(await t.get('/api/v1/me', rita.token), 401, 'unauthenticated');
    rita.token = await t.login('rita@acme.test', 'Marble-Osprey-Garden-19');
    assert.equal((await t.get('/api/v1/agents', rita.token)).status, 200, 'the new permission works');
    const back = await t.patch(`/api/v1/agents/${rita.id}`, { roleId: agentRoleId }, ownerToken);
    assert.equal(back.body.role.id, agentRoleId);
    assertError(await t.get('/api/v1/agents', rita.token), 401, 'unauthenticated');
    rita.token = await t.login('rita@acme.test', 'Marble-Osprey-Garden-19');
    assertForbidden(await t.get('/api/v1/agents', rita.token), 'missing_permission');
  });

  test('an unknown roleId is 400 invalid_request; an unknown agent is 404', async () => {
    assertError(await t.patch(`/api/v1/agents/${rita.id}`, { roleId: 'no-such-role' }, ownerToken), 400, 'invalid_request');
    assertError(await t.patch(`/api/v1/agents/${rita.id}`, { status: 'invited' }, ownerToken), 400, 'invalid_request');
    assertError(await t.patch('/api/v1/agents/no-such-agent', { name: 'X' }, ownerToken), 404, 'not_found');
  });

  test('deactivating ends the agent\'s sessions and links; a deactivated agent cannot sign in; reactivating makes them active', async () => {
    const password = 'Walnut-Ember-Quarry-27';
    const dora = await addAgent(ownerToken, 'dora@acme.test', 'Dora Deactivated', agentRoleId, password);
    const secondSession = await t.login('dora@acme.test', password);
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: 'dora@acme.test' })).status, 202);
    const link = t.linkToken(await t.mailTo('dora@acme.test', /reset/i, since));
    assert.equal((await t.get(`/api/v1/auth/reset-password/${link}`)).status, 200);

    const off = await t.patch(`/api/v1/agents/${dora.id}`, { status: 'deactivated' }, ownerToken);
    assert.equal(off.status, 200, off.raw);
    assert.equal(off.body.status, 'deactivated');
    assertError(await t.get('/api/v1/me', dora.token), 401, 'unauthenticated');
    assertError(await t.get('/api/v1/me', secondSession), 401, 'unauthenticated');
    const dead = await t.get(`/api/v1/auth/reset-password/${link}`);
    assertError(dead, 410, 'reset_link_invalid');
    assert.equal(reason(dead), 'revoked');
    assertError(await t.post('/api/v1/auth/login', { email: 'dora@acme.test', password }), 401, 'invalid_credentials');
    assert.deepEqual(emailsOf(await listAll('/api/v1/agents?status=deactivated', ownerToken)), ['dora@acme.test']);

    const on = await t.patch(`/api/v1/agents/${dora.id}`, { status: 'active' }, ownerToken);
    assert.equal(on.status, 200, on.raw);
    assert.equal(on.body.status, 'active');
    assert.equal(typeof (await t.login('dora@acme.test', password)), 'string');
    assertError(await t.get('/api/v1/me', dora.token), 401, 'unauthenticated', 'old sessions stay dead');
    assert.equal(reason(await t.get(`/api/v1/auth/reset-password/${link}`)), 'revoked', 'old links stay dead');
  });

  test('deactivating an invited agent kills the invitation; reactivating brings them back as invited, and a new invitation is allowed', async () => {
    const { agent, token } = await createInvited(ownerToken, 'never.set@acme.test', 'Nev Er', agentRoleId);
    assert.equal((await t.patch(`/api/v1/agents/${agent.id}`, { status: 'deactivated' }, ownerToken)).body.status, 'deactivated');
    assert.equal(reason(await t.get(`/api/v1/auth/reset-password/${token}`)), 'revoked');
    assertError(await t.post(`/api/v1/agents/${agent.id}/invitation`, undefined, ownerToken), 409, 'agent_deactivated');
    assert.equal((await t.patch(`/api/v1/agents/${agent.id}`, { status: 'active' }, ownerToken)).body.status, 'invited');
    assert.equal(reason(await t.get(`/api/v1/auth/reset-password/${token}`)), 'revoked', 'the old invitation stays dead');
    assert.equal((await t.post(`/api/v1/agents/${agent.id}/invitation`, undefined, ownerToken)).status, 202);
  });

  test('nobody changes their own role, not even to the role they hold: cannot_change_own_role', async () => {
    assertForbidden(await t.patch(`/api/v1/agents/${admin2.id}`, { roleId: agentRoleId }, admin2.token), 'cannot_change_own_role');
    assertForbidden(await t.patch(`/api/v1/agents/${admin2.id}`, { roleId: adminRoleId }, admin2.token), 'cannot_change_own_role');
    assertForbidden(await t.patch(`/api/v1/agents/${ownerId}`, { roleId: agentRoleId }, ownerToken), 'cannot_change_own_role');
    assert.equal((await t.get(`/api/v1/agents/${admin2.id}`, ownerToken)).body.role.id, adminRoleId);
  });

  test('nobody deactivates themselves: cannot_change_own_status', async () => {
    assertForbidden(await t.patch(`/api/v1/agents/${admin2.id}`, { status: 'deactivated' }, admin2.token), 'cannot_change_own_status');
    assertForbidden(await t.patch(`/api/v1/agents/${ownerId}`, { status: 'deactivated' }, ownerToken), 'cannot_change_own_status');
    assert.equal((await t.get('/api/v1/me', admin2.token)).body.status, 'active');
  });

  test('the Account Administrator\'s role and status are protected from a full Administrator: account_administrator_protected', async () => {
    assertForbidden(await t.patch(`/api/v1/agents/${ownerId}`, { roleId: agentRoleId }, admin2.token), 'account_administrator_protected');
    assertForbidden(await t.patch(`/api/v1/agents/${ownerId}`, { status: 'deactivated' }, admin2.token), 'account_administrator_protected');
    assertForbidden(await t.post(`/api/v1/agents/${ownerId}/sessions/revoke`, undefined, admin2.token), 'account_administrator_protected');
    const owner = await t.get(`/api/v1/agents/${ownerId}`, ownerToken);
    assert.equal(owner.body.status, 'active');
    assert.equal(owner.body.role.id, adminRoleId);
    assert.equal((await t.get('/api/v1/me', ownerToken)).status, 200);
  });

  test('a stronger target cannot be renamed, deactivated or given a role: target_more_privileged', async () => {
    assertForbidden(await t.patch(`/api/v1/agents/${admin2.id}`, { name: 'Demoted' }, manager.token), 'target_more_privileged');
    assertForbidden(await t.patch(`/api/v1/agents/${admin2.id}`, { status: 'deactivated' }, manager.token), 'target_more_privileged');
    assertForbidden(await t.patch(`/api/v1/agents/${admin2.id}`, { roleId: agentRoleId }, manager.token), 'target_more_privileged');
    assertForbidden(await t.post(`/api/v1/agents/${admin2.id}/sessions/revoke`, undefined, manager.token), 'target_more_privileged');
    assertForbidden(await t.post(`/api/v1/agents/${admin2.id}/unlock`, undefined, manager.token), 'target_more_privileged');
    const after = await t.get(`/api/v1/agents/${admin2.id}`, ownerToken);
    assert.equal(after.body.name, 'Ada Admin');
    assert.equal(after.body.status, 'active');
    assert.equal(after.body.role.id, adminRoleId);
  });

  test('nobody gives a role holding a permission they lack: cannot_grant_permissions', async () => {
    assertForbidden(await t.patch(`/api/v1/agents/${plain.id}`, { roleId: adminRoleId }, manager.token), 'cannot_grant_permissions');
    assert.equal((await t.get(`/api/v1/agents/${plain.id}`, ownerToken)).body.role.id, agentRoleId);
  });
});

describe('unlock, invitation, sessions', () => {
  test('five failed sign-ins lock the address (423); unlock clears it and the agent signs in', async () => {
    const password = 'Saffron-Glacier-Piano-83';
    const lou = await addAgent(ownerToken, 'lou@acme.test', 'Lou Locked', agentRoleId, password);
    for (let i = 1; i <= 4; i++) {
      assertError(await t.post('/api/v1/auth/login', { email: 'lou@acme.test', password: `Wrong-Guess-Number-${i}` }), 401, 'invalid_credentials');
    }
    const fifth = await t.post('/api/v1/auth/login', { email: 'lou@acme.test', password: 'Wrong-Guess-Number-5' });
    assertError(fifth, 423, 'account_locked');
    assert.ok(Number(fifth.headers['retry-after']) > 0);
    assertError(await t.post('/api/v1/auth/login', { email: 'lou@acme.test', password }), 423, 'account_locked');
    assert.equal((await t.get(`/api/v1/agents/${lou.id}`, ownerToken)).body.locked, true);

    const unlocked = await t.post(`/api/v1/agents/${lou.id}/unlock`, undefined, manager.token);
    assert.equal(unlocked.status, 204, unlocked.raw);
    assert.equal((await t.get(`/api/v1/agents/${lou.id}`, ownerToken)).body.locked, false);
    assert.equal(typeof (await t.login('lou@acme.test', password)), 'string');
  });

  test('a new invitation answers 202 with a fresh 7-day link and kills the old one (reason revoked)', async () => {
    const first = await createInvited(ownerToken, 'ivy@acme.test', 'Ivy Invite', agentRoleId);
    const now = t.clock.now();
    const since = t.smtp.messages.length;
    const again = await t.post(`/api/v1/agents/${first.agent.id}/invitation`, undefined, ownerToken);
    assert.equal(again.status, 202, again.raw);
    assert.equal(again.body.expiresAt, new Date(now.getTime() + 7 * DAY_MS).toISOString());
    const second = t.linkToken(await t.mailTo('ivy@acme.test', /invit/i, since));
    assert.notEqual(second, first.token);
    const old = await t.get(`/api/v1/auth/reset-password/${first.token}`);
    assertError(old, 410, 'reset_link_invalid');
    assert.equal(reason(old), 'revoked');
    const fresh = await t.get(`/api/v1/auth/reset-password/${second}`);
    assert.equal(fresh.status, 200);
    assert.equal(fresh.body.expiresAt, again.body.expiresAt);

    t.secrets.add('Juniper-Cobalt-Ferry-46');
    assert.equal((await t.post('/api/v1/auth/reset-password', { token: second, newPassword: 'Juniper-Cobalt-Ferry-46' })).status, 204);
    assert.equal((await t.get(`/api/v1/agents/${first.agent.id}`, ownerToken)).body.status, 'active');
    assertError(await t.post(`/api/v1/agents/${first.agent.id}/invitation`, undefined, ownerToken), 409, 'invitation_not_pending');
    assertError(await t.post(`/api/v1/agents/${manager.id}/invitation`, undefined, ownerToken), 409, 'invitation_not_pending');
    assertError(await t.post('/api/v1/agents/no-such-agent/invitation', undefined, ownerToken), 404, 'not_found');
  });

  test('sessions/revoke ends every session of the agent and none of the actor\'s', async () => {
    const password = 'Harbor-Quill-Nectar-72';
    const sol = await addAgent(ownerToken, 'sol@acme.test', 'Sol Sessions', agentRoleId, password);
    const second = await t.login('sol@acme.test', password);
    const revoked = await t.post(`/api/v1/agents/${sol.id}/sessions/revoke`, undefined, ownerToken);
    assert.equal(revoked.status, 204, revoked.raw);
    assertError(await t.get('/api/v1/me', sol.token), 401, 'unauthenticated');
    assertError(await t.get('/api/v1/me', second), 401, 'unauthenticated');
    assert.equal((await t.get('/api/v1/me', ownerToken)).status, 200);
    assert.equal(typeof (await t.login('sol@acme.test', password)), 'string', 'the agent may sign in again');
    assertError(await t.post('/api/v1/agents/no-such-agent/sessions/revoke', undefined, ownerToken), 404, 'not_found');
  });

  test('a caller without manage_agents gets 403 missing_permission on every agent route, before any 404', async () => {
    for (const target of [manager.id, 'no-such-agent']) {
      const calls: [string, Promise<Answer>][] = [
        ['list', t.get('/api/v1/agents', plain.token)],
        ['create', t.post('/api/v1/agents', { email: 'sneaky@acme.test', name: 'Sneaky', roleId: agentRoleId }, plain.token)],
        ['get', t.get(`/api/v1/agents/${target}`, plain.token)],
        ['patch', t.patch(`/api/v1/agents/${target}`, { name: 'Sneaky' }, plain.token)],
        ['unlock', t.post(`/api/v1/agents/${target}/unlock`, undefined, plain.token)],
        ['invitation', t.post(`/api/v1/agents/${target}/invitation`, undefined, plain.token)],
        ['revoke', t.post(`/api/v1/agents/${target}/sessions/revoke`, undefined, plain.token)],
      ];
      for (const [name, call] of calls) assertForbidden(await call, 'missing_permission', `${name} ${target}`);
    }
    assert.deepEqual(await listAll('/api/v1/agents?search=sneaky', ownerToken), []);
    assert.equal((await t.get('/api/v1/me', manager.token)).body.name, 'Mia Manager');
  });
});

describe('audit events', () => {
  async function events(query: string, token = ownerToken): Promise<any[]> {
    const answer = await t.get(`/api/v1/audit-events?${query}`, token);
    assert.equal(answer.status, 200, answer.raw);
    return answer.body.events;
  }

  test('reading the audit log needs view_audit_log: 403 missing_permission without it', async () => {
    assertForbidden(await t.get('/api/v1/audit-events', manager.token), 'missing_permission');
    assertForbidden(await t.get('/api/v1/audit-events?type=agent.created', plain.token), 'missing_permission');
    assert.equal((await t.get('/api/v1/audit-events', admin2.token)).status, 200);
  });

  test('agent.created names actor and target, newest first', async () => {
    const created = await events('type=agent.created&limit=200');
    assert.ok(created.every((e) => e.type === 'agent.created'));
    // the Account Administrator's own creation at setup is the oldest
    assert.deepEqual(created.map((e) => e.target.email), [...createdEmails].reverse().concat(OWNER.email));
    const nina = created.find((e) => e.target.email === 'new.hire@acme.test');
    assert.deepEqual(nina.actor, { id: ownerId, email: OWNER.email, name: OWNER.name });
    assert.equal(nina.target.name, 'Nina Newhire');
    assert.equal(typeof nina.target.id, 'string');
    assert.equal(nina.method, 'api');
    const peer = created.find((e) => e.target.email === 'peer.manager@acme.test');
    assert.deepEqual(peer.actor, { id: manager.id, email: 'mia.manager@acme.test', name: 'Mia Manager' });
    assert.equal(created.at(-1).actor, null, 'the Account Administrator was created by first-run setup, not by an agent');
    const ids = created.map((e) => Number(e.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'ids descend');
  });

  test('audit pages follow the cursor without overlap and end with nextCursor null; a bad cursor is 400', async () => {
    const whole = await events('type=agent.created&limit=200');
    const paged: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const answer: Answer = await t.get(`/api/v1/audit-events?type=agent.created&limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, ownerToken);
      assert.equal(answer.status, 200, answer.raw);
      assert.ok(answer.body.events.length <= 4);
      paged.push(...answer.body.events);
      cursor = answer.body.nextCursor;
      pages += 1;
      assert.ok(pages <= whole.length, 'pagination terminates');
    } while (cursor);
    assert.equal(pages, Math.ceil(whole.length / 4));
    assert.equal(new Set(paged.map((e) => e.id)).size, paged.length, 'no overlap');
    assert.deepEqual(paged.map((e) => e.id), whole.map((e) => e.id));
    assertError(await t.get('/api/v1/audit-events?cursor=not-a-cursor!', ownerToken), 400, 'invalid_request');
  });

  test('agent.updated records who changed whom and what', async () => {
    const rita = (await listAll('/api/v1/agents?search=rita', ownerToken))[0];
    const updated = await events(`type=agent.updated&agentId=${rita.id}`);
    assert.ok(updated.length >= 2);
    for (const e of updated) {
      assert.equal(e.type, 'agent.updated');
      assert.deepEqual(e.actor, { id: ownerId, email: OWNER.email, name: OWNER.name });
      assert.deepEqual(e.target, { id: rita.id, email: 'rita@acme.test', name: 'Rita Renamed' });
    }
    const changed = updated.flatMap((e) => e.details.changed);
    assert.ok(changed.includes('name'));
    assert.ok(changed.includes('role'));
    const dora = (await listAll('/api/v1/agents?search=dora', ownerToken))[0];
    const statusChanges = await events(`type=agent.updated&agentId=${dora.id}`);
    assert.deepEqual(statusChanges.map((e) => e.details.status), ['active', 'deactivated'], 'newest first');
  });

  test('refused changes write no agent.updated event', async () => {
    // agentId matches actor or target: keep the events that target the refused agents
    const updated = await events('type=agent.updated&limit=200');
    assert.ok(updated.length > 0);
    assert.deepEqual(updated.filter((e) => e.target.id === admin2.id || e.target.id === ownerId), []);
  });

  test('agent.unlocked and session.revoked name actor and target', async () => {
    const [unlocked] = await events('type=agent.unlocked');
    assert.equal(unlocked.type, 'agent.unlocked');
    assert.deepEqual(unlocked.actor, { id: manager.id, email: 'mia.manager@acme.test', name: 'Mia Manager' });
    assert.equal(unlocked.target.email, 'lou@acme.test');
    const revoked = await events('type=session.revoked');
    assert.equal(revoked.length, 1, 'refused revocations are not recorded');
    assert.deepEqual(revoked[0].actor, { id: ownerId, email: OWNER.email, name: OWNER.name });
    assert.equal(revoked[0].target.email, 'sol@acme.test');
  });
});

describe('invitation lifetime', () => {
  test('an invitation link still works 1 s before 7 days and is expired at exactly 7 days', async () => {
    const { token } = await createInvited(ownerToken, 'late@acme.test', 'Lee Late', agentRoleId);
    t.clock.advanceMs(7 * DAY_MS - 1000);
    assert.equal((await t.get(`/api/v1/auth/reset-password/${token}`)).status, 200);
    t.clock.advanceSeconds(1);
    const expired = await t.get(`/api/v1/auth/reset-password/${token}`);
    assertError(expired, 410, 'reset_link_invalid');
    assert.equal(reason(expired), 'expired');
    t.secrets.add('Orchid-Basalt-Compass-15');
    const redeem = await t.post('/api/v1/auth/reset-password', { token, newPassword: 'Orchid-Basalt-Compass-15' });
    assertError(redeem, 410, 'reset_link_invalid');
    assert.equal(reason(redeem), 'expired');
  });
});
