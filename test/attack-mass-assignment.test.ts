import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER, type Answer } from './support/harness.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import { DEFAULT_SETTINGS } from '../src/domain/account-settings.js';
import { DEFAULT_PLAN } from '../src/domain/plans.js';
import { PERMISSION_NAMES } from '../src/domain/permissions.js';

// Mass assignment: fields a caller may not set (who is the Account Administrator, which account
// a row belongs to, a password hash, ids, timestamps, statuses and roles outside their own
// fields) are ignored or refused by every create and update route, and a JSON body can never
// pollute Object.prototype.

const JSON_TYPE = { 'content-type': 'application/json' };
const ATTACKER_PASSWORD = 'Attacker-Knows-This-Password-71';
const CHOSEN_ID = '00000000-0000-4000-8000-00000000beef';
const LONG_AGO = '2001-01-01T00:00:00.000Z';

let t: TestApp;
let ownerId: string;
let ownerToken: string;
let adminRoleId: string;
let agentRoleId: string;
let leadRoleId: string;
let lead: { id: string; token: string };
let attackerHash: string;
let counter = 0;

const db = () => t.app.deskpass.deps.db;
const agentRow = (id: string) => db().selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const accountRow = () => db().selectFrom('accounts').selectAll().executeTakeFirstOrThrow();
const countAccountAdministrators = async () => (await db().selectFrom('agents').select('id').where('is_account_administrator', '=', 1).execute()).length;

/**
 * What an attacker adds to a body: every field that decides privilege, ownership or identity,
 * in both spellings. `constructor` as a plain string (not the poisoning shape) must be ignored too.
 */
function attackFields(): Record<string, unknown> {
  return {
    isAccountAdministrator: true,
    is_account_administrator: 1,
    accountId: 'attacker-account',
    account_id: 'attacker-account',
    passwordHash: attackerHash,
    password_hash: attackerHash,
    role: { id: adminRoleId, name: 'Administrator', permissions: PERMISSION_NAMES },
    role_id: adminRoleId,
    permissions: PERMISSION_NAMES,
    id: CHOSEN_ID,
    createdAt: LONG_AGO,
    created_at: LONG_AGO,
    builtIn: true,
    built_in: 1,
    passwordChangeRequired: true,
    temporaryPasswordExpiresAt: LONG_AGO,
    locked: false,
    constructor: 'Object',
  };
}

function freshPassword(): string {
  counter += 1;
  const password = `Gvx-${counter}-Harlequin-Tundra-${counter * 7919}`;
  t.secrets.add(password);
  return password;
}

async function newPlainAgent(): Promise<{ id: string; email: string; password: string; token: string }> {
  counter += 1;
  const email = `mass${counter}@acme.test`;
  const password = freshPassword();
  const { id, token } = await t.addAgent(ownerToken, { email, name: `Quinn Voss ${counter}`, roleId: agentRoleId, password });
  return { id, email, password, token };
}

async function loginStatus(email: string, password: string): Promise<number> {
  return (await t.post('/api/v1/auth/login', { email, password })).status;
}

function assertStatus(answer: Answer, status: number): void {
  assert.equal(answer.status, status, answer.raw);
}

/** Object.prototype is as the language made it: no JSON body added anything. */
function assertNoPrototypePollution(): void {
  const probe = {} as Record<string, unknown>;
  for (const key of ['polluted', 'isAccountAdministrator', 'passwordHash', 'permissions', 'status']) {
    assert.equal(probe[key], undefined, `Object.prototype.${key} was set`);
  }
}

before(async () => {
  t = await TestApp.start();
  ({ ownerId, ownerToken, adminRoleId, agentRoleId } = await t.setup());
  leadRoleId = await t.role(ownerToken, 'Team Leads', ['manage_agents', 'manage_agent_password']);
  lead = await t.addAgent(ownerToken, { email: 'lena.lead@acme.test', name: 'Lena Lead', roleId: leadRoleId, password: 'Orchid-Lantern-Basalt-19' });
  attackerHash = await t.hasher.hash(ATTACKER_PASSWORD);
});

after(async () => {
  await t.close();
});

describe('privilege, ownership and identity fields in a body are ignored', () => {
  test('POST /agents: the new agent is an invited agent of this account with the requested role, no hash, our id and our time, whatever the body says', async () => {
    const email = 'newbie@acme.test';
    const created = await t.request('POST', '/api/v1/agents?isAccountAdministrator=true&roleId=' + adminRoleId, {
      body: { ...attackFields(), email, name: 'Nia Newbie', roleId: agentRoleId, status: 'active' },
      token: lead.token,
    });
    assertStatus(created, 201);
    assert.equal(created.body.isAccountAdministrator, false);
    assert.equal(created.body.status, 'invited');
    assert.equal(created.body.role.id, agentRoleId);
    assert.notEqual(created.body.id, CHOSEN_ID);

    const row = await agentRow(created.body.id);
    const account = await accountRow();
    assert.equal(row.is_account_administrator, 0);
    assert.equal(row.account_id, account.id);
    assert.equal(row.password_hash, null);
    assert.equal(row.status, 'invited');
    assert.equal(row.role_id, agentRoleId);
    assert.equal(row.password_change_required, 0);
    assert.equal(row.created_at, t.clock.now().toISOString());
    assert.equal(await countAccountAdministrators(), 1);
    assert.equal(await loginStatus(email, ATTACKER_PASSWORD), 401, 'the attacker-chosen hash opens nothing');
  });

  test('PATCH /agents/{id}: only the name changes, for another agent and for the caller themselves', async () => {
    const victim = await newPlainAgent();
    for (const [who, id] of [['another agent', victim.id], ['the caller', lead.id]] as const) {
      const before = await agentRow(id);
      const name = `Renamed Person ${(counter += 1)}`;
      const patched = await t.patch(`/api/v1/agents/${id}`, { ...attackFields(), name }, lead.token);
      assertStatus(patched, 200);
      assert.equal(patched.body.name, name, who);
      assert.equal(patched.body.isAccountAdministrator, false, who);
      const after = await agentRow(id);
      assert.deepEqual(
        { ...after, name: before.name, name_normalized: before.name_normalized, name_folded: before.name_folded, updated_at: before.updated_at },
        before,
        `${who}: nothing but the name changed`,
      );
    }
    assert.equal(await countAccountAdministrators(), 1);
    // the caller's own role is still the one they were given
    const me = await t.get('/api/v1/me', lead.token);
    assert.equal(me.body.role.id, leadRoleId);
    assert.deepEqual(me.body.role.permissions, ['manage_agents', 'manage_agent_password']);
  });

  test('PATCH /agents/{id}: a status outside active/deactivated is refused with 400 and changes nothing', async () => {
    const victim = await newPlainAgent();
    const before = await snapshotState(t);
    for (const status of ['invited', 'ACTIVE', 'locked', 1, true, null, ['active']]) {
      const answer = await t.patch(`/api/v1/agents/${victim.id}`, { status }, ownerToken);
      assertStatus(answer, 400);
      assert.equal(answer.body.error.code, 'invalid_request');
    }
    assertStateUnchanged(before, await snapshotState(t), 'bad status');
  });

  test('POST /roles: the new role is a custom role of this account with our id, whatever the body says', async () => {
    const created = await t.post('/api/v1/roles', { ...attackFields(), name: 'Auditors', permissions: ['view_audit_log'] }, ownerToken);
    assertStatus(created, 201);
    assert.equal(created.body.builtIn, false);
    assert.notEqual(created.body.id, CHOSEN_ID);
    assert.deepEqual(created.body.permissions, ['view_audit_log']);
    const row = await db().selectFrom('roles').selectAll().where('id', '=', created.body.id).executeTakeFirstOrThrow();
    assert.equal(row.built_in, 0);
    assert.equal(row.account_id, (await accountRow()).id);
    assert.equal(row.created_at, t.clock.now().toISOString());
  });

  test('PATCH /roles/{id}: a custom role stays custom, and a built-in role stays built-in (and so keeps its name)', async () => {
    const customId = await t.role(ownerToken, 'Night Shift', ['view_audit_log']);
    const renamed = await t.patch(`/api/v1/roles/${customId}`, { ...attackFields(), permissions: undefined, name: 'Night Owls' }, ownerToken);
    assertStatus(renamed, 200);
    const custom = await db().selectFrom('roles').selectAll().where('id', '=', customId).executeTakeFirstOrThrow();
    assert.equal(custom.built_in, 0);
    assert.equal(custom.name, 'Night Owls');
    assert.equal(custom.permissions, JSON.stringify(['view_audit_log']));

    const agentRoleBefore = await db().selectFrom('roles').selectAll().where('id', '=', agentRoleId).executeTakeFirstOrThrow();
    const unflagged = await t.patch(`/api/v1/roles/${agentRoleId}`, { builtIn: false, built_in: 0, id: CHOSEN_ID, accountId: 'attacker-account' }, ownerToken);
    assertStatus(unflagged, 200);
    assert.equal(unflagged.body.builtIn, true);
    assert.deepEqual(await db().selectFrom('roles').selectAll().where('id', '=', agentRoleId).executeTakeFirstOrThrow(), agentRoleBefore);
    const rename = await t.patch(`/api/v1/roles/${agentRoleId}`, { name: 'Everyone', builtIn: false }, ownerToken);
    assertStatus(rename, 403);
    assert.deepEqual(rename.body.error.details, [{ reason: 'built_in_role_protected' }]);
  });

  test('PATCH /account: only the settings named in the body change; id, name, slug, plan, creation time, the maximum length and the enforcement flag are kept', async () => {
    const before = await accountRow();
    const settingsBefore = JSON.parse(before.settings);
    const patched = await t.patch(
      '/api/v1/account',
      {
        ...attackFields(),
        resetLinkLifetimeHours: 24,
        // maxLength is fixed (256) and enforceOnNextSignIn is set only by requireNonCompliantPasswordsToChange
        passwordPolicy: { minLength: 14, maxLength: 4, enforceOnNextSignIn: true, isAccountAdministrator: true, plan: 'enterprise_plus' },
        name: 'Pwned Desk',
        slug: 'pwned',
        plan: 'enterprise_plus',
        planName: 'Enterprise Plus',
        settings: { resetLinkLifetimeHours: 72, passwordPolicy: { minLength: 8 } },
      },
      ownerToken,
    );
    assertStatus(patched, 200);
    const after = await accountRow();
    assert.deepEqual({ ...after, settings: before.settings }, before, 'id, name, slug, plan and creation time are kept');
    const expected = { ...settingsBefore, resetLinkLifetimeHours: 24, passwordPolicy: { ...settingsBefore.passwordPolicy, minLength: 14 } };
    assert.deepEqual(JSON.parse(after.settings), expected);
    assert.equal(patched.body.settings.passwordPolicy.enforceOnNextSignIn, settingsBefore.passwordPolicy.enforceOnNextSignIn);
    assert.notEqual(patched.body.settings.passwordPolicy.maxLength, 4);
    // put the settings back for the other tests
    assertStatus(await t.patch('/api/v1/account', { resetLinkLifetimeHours: settingsBefore.resetLinkLifetimeHours, passwordPolicy: { minLength: settingsBefore.passwordPolicy.minLength } }, ownerToken), 200);
  });

  test('PUT /agents/{id}/password: the password set is the one sent; hash, role, status, the one-time flag and the Account Administrator stay as the server decides', async () => {
    const victim = await newPlainAgent();
    const before = await agentRow(victim.id);
    const password = freshPassword();
    const answer = await t.put(
      `/api/v1/agents/${victim.id}/password`,
      { ...attackFields(), status: 'deactivated', password, requireChangeAtNextLogin: false },
      lead.token,
    );
    assertStatus(answer, 204);
    const after = await agentRow(victim.id);
    assert.notEqual(after.password_hash, attackerHash);
    assert.notEqual(after.password_hash, before.password_hash);
    assert.deepEqual(
      { id: after.id, account_id: after.account_id, role_id: after.role_id, status: after.status, admin: after.is_account_administrator, required: after.password_change_required, temporary: after.temporary_password_expires_at, created_at: after.created_at },
      { id: before.id, account_id: before.account_id, role_id: before.role_id, status: 'active', admin: 0, required: 0, temporary: null, created_at: before.created_at },
    );
    assert.equal(await loginStatus(victim.email, password), 200);
    assert.equal(await loginStatus(victim.email, ATTACKER_PASSWORD), 401);
    assert.equal(await countAccountAdministrators(), 1);
  });

  test('POST /me/password: the agent gets the new password and nothing else', async () => {
    const agent = await newPlainAgent();
    const before = await agentRow(agent.id);
    const newPassword = freshPassword();
    const answer = await t.post('/api/v1/me/password', { ...attackFields(), status: 'active', currentPassword: agent.password, newPassword }, agent.token);
    assertStatus(answer, 204);
    const after = await agentRow(agent.id);
    assert.notEqual(after.password_hash, attackerHash);
    assert.deepEqual(
      { id: after.id, account_id: after.account_id, role_id: after.role_id, status: after.status, admin: after.is_account_administrator, required: after.password_change_required, created_at: after.created_at },
      { id: before.id, account_id: before.account_id, role_id: agentRoleId, status: 'active', admin: 0, required: 0, created_at: before.created_at },
    );
    const me = await t.get('/api/v1/me', agent.token);
    assert.equal(me.body.isAccountAdministrator, false);
    assert.deepEqual(me.body.role.permissions, []);
    assert.equal(await loginStatus(agent.email, newPassword), 200);
    assert.equal(await loginStatus(agent.email, ATTACKER_PASSWORD), 401);
  });

  test('POST /setup: the help desk gets the default plan and settings, and its first agent is the active Account Administrator with the password sent', async () => {
    const blank = await TestApp.start();
    try {
      const token = blank.app.deskpass.setupLink.issue();
      const hash = await blank.hasher.hash(ATTACKER_PASSWORD);
      const password = 'Sequoia-Marmot-Lattice-48';
      const created = await blank.post('/api/v1/setup', {
        ...attackFields(),
        passwordHash: hash,
        password_hash: hash,
        isAccountAdministrator: false,
        status: 'deactivated',
        role: 'Agent',
        plan: 'enterprise_plus',
        slug: 'chosen-slug',
        settings: { lockoutThreshold: 100000, resetLinkLifetimeHours: 10000 },
        token,
        accountName: 'Beta Support',
        adminName: 'Bea Boss',
        adminEmail: 'bea@beta.test',
        password,
      });
      assertStatus(created, 201);
      const bdb = blank.app.deskpass.deps.db;
      const accounts = await bdb.selectFrom('accounts').selectAll().execute();
      assert.equal(accounts.length, 1);
      const [account] = accounts;
      assert.notEqual(account.id, CHOSEN_ID);
      assert.notEqual(account.id, 'attacker-account');
      assert.equal(account.plan, DEFAULT_PLAN);
      assert.equal(account.slug, 'beta-support');
      assert.equal(account.created_at, blank.clock.now().toISOString());
      assert.deepEqual(JSON.parse(account.settings), DEFAULT_SETTINGS);
      const agents = await bdb.selectFrom('agents').selectAll().execute();
      assert.equal(agents.length, 1);
      const [admin] = agents;
      assert.notEqual(admin.id, CHOSEN_ID);
      assert.equal(admin.account_id, account.id);
      assert.equal(admin.is_account_administrator, 1);
      assert.equal(admin.status, 'active');
      assert.notEqual(admin.password_hash, hash);
      const roles = await bdb.selectFrom('roles').selectAll().orderBy('name').execute();
      assert.deepEqual(roles.map((r) => [r.name, r.built_in, r.account_id]), [['Administrator', 1, account.id], ['Agent', 1, account.id]]);
      assert.equal(admin.role_id, roles[0].id);
      assert.equal((await blank.post('/api/v1/auth/login', { email: 'bea@beta.test', password: ATTACKER_PASSWORD })).status, 401);
      assert.equal((await blank.post('/api/v1/auth/login', { email: 'bea@beta.test', password })).status, 200);
    } finally {
      await blank.close();
    }
  });
});

describe('prototype pollution is refused', () => {
  /** Every create and update route with a valid body (the body alone would be accepted). */
  function routes(victimId: string): Array<{ method: string; url: string; body: Record<string, unknown>; token?: string }> {
    return [
      { method: 'POST', url: '/api/v1/agents', body: { email: 'proto@acme.test', name: 'Pia Proto', roleId: agentRoleId }, token: ownerToken },
      { method: 'PATCH', url: `/api/v1/agents/${victimId}`, body: { name: 'Pia Renamed' }, token: ownerToken },
      { method: 'POST', url: '/api/v1/roles', body: { name: 'Proto Role', permissions: [] }, token: ownerToken },
      { method: 'PATCH', url: `/api/v1/roles/${leadRoleId}`, body: { name: 'Leads Renamed' }, token: ownerToken },
      { method: 'PATCH', url: '/api/v1/account', body: { resetLinkLifetimeHours: 12, passwordPolicy: { minLength: 13 } }, token: ownerToken },
      { method: 'PUT', url: `/api/v1/agents/${victimId}/password`, body: { password: 'Nebula-Pistachio-Gorge-26', requireChangeAtNextLogin: false }, token: ownerToken },
      { method: 'POST', url: '/api/v1/me/password', body: { currentPassword: OWNER.password, newPassword: 'Nebula-Pistachio-Gorge-27' }, token: ownerToken },
      { method: 'POST', url: '/api/v1/setup', body: { token: 'x'.repeat(43), accountName: 'Proto', adminName: 'Pia Proto', adminEmail: 'pia@proto.test', password: 'Nebula-Pistachio-Gorge-28' } },
    ];
  }

  /** The body as JSON text with a poisoning member spliced in at the top or in a nested object. */
  function poisoned(body: Record<string, unknown>, member: string): string[] {
    const top = JSON.stringify(body).replace(/^\{/, `{${member},`);
    const nested = JSON.stringify({ ...body, extra: { inner: true } }).replace('"extra":{', `"extra":{${member},`);
    return [top, nested];
  }

  const MEMBERS = [
    '"__proto__": {"polluted": "yes", "isAccountAdministrator": true, "passwordHash": "x"}',
    '"constructor": {"prototype": {"polluted": "yes", "isAccountAdministrator": true}}',
    '"__proto__": null',
  ];

  test('__proto__ and constructor.prototype anywhere in a JSON body are 400 invalid_request, change nothing and pollute nothing', async () => {
    const victim = await newPlainAgent();
    for (const route of routes(victim.id)) {
      for (const member of MEMBERS) {
        for (const payload of poisoned(route.body, member)) {
          const before = await snapshotState(t);
          const answer = await t.request(route.method, route.url, { payload, headers: JSON_TYPE, token: route.token });
          const where = `${route.method} ${route.url} ${payload.slice(0, 80)}`;
          assert.equal(answer.status, 400, `${where}: ${answer.raw}`);
          assert.equal(answer.body.error.code, 'invalid_request', where);
          assertStateUnchanged(before, await snapshotState(t), where);
          assertNoPrototypePollution();
        }
      }
    }
    assert.equal(await countAccountAdministrators(), 1);
    assert.equal(await loginStatus(OWNER.email, OWNER.password), 200);
  });

  test('a query string cannot pollute the prototype either', async () => {
    for (const query of ['__proto__[polluted]=yes', '__proto__.polluted=yes', 'constructor[prototype][polluted]=yes', '__proto__=polluted']) {
      const answer = await t.get(`/api/v1/agents?${query}`, ownerToken);
      assert.ok(answer.status < 500, answer.raw);
      assertNoPrototypePollution();
    }
  });
});

test('after every attack there is still exactly one Account Administrator, the one created at setup', async () => {
  const admins = await db().selectFrom('agents').select(['id', 'role_id', 'status']).where('is_account_administrator', '=', 1).execute();
  assert.deepEqual(admins, [{ id: ownerId, role_id: adminRoleId, status: 'active' }]);
});
