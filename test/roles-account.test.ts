import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER, ACCOUNT_NAME, type Answer } from './support/harness.js';

const HOUR_MS = 3_600_000;
/** the password policy options beyond length and history, all off by default */
const DEFAULT_POLICY = {
  requireUppercase: false,
  requireLowercase: false,
  requireDigit: false,
  requireSymbol: false,
  expiryDays: 0,
  adminSetPasswordDisabled: false,
  enforceOnNextSignIn: false,
};
const ALL_PERMISSIONS = ['manage_agents', 'manage_agent_password', 'manage_roles', 'manage_account_settings', 'view_audit_log', 'manage_apps'];

let t: TestApp;
let ownerToken: string;
let adminRoleId: string;
let agentRoleId: string;
let keeper: { id: string; token: string };
let plain: { id: string; token: string };
let admin2: { id: string; token: string };

const reason = (a: Answer) => a.body?.error?.details?.[0]?.reason;

function assertForbidden(answer: Answer, expectedReason?: string, message?: string): void {
  assert.equal(answer.status, 403, message ?? answer.raw);
  assert.equal(answer.body.error.code, 'forbidden', message);
  if (expectedReason) assert.equal(reason(answer), expectedReason, message);
}

function assertError(answer: Answer, status: number, code: string, message?: string): void {
  assert.equal(answer.status, status, message ?? answer.raw);
  assert.equal(answer.body.error.code, code, message);
}

/** The roles as the contract's role objects; each listed role also carries `agentCount` (issue 12), checked here and set aside. */
async function roles(token = ownerToken): Promise<any[]> {
  const answer = await t.get('/api/v1/roles', token);
  assert.equal(answer.status, 200, answer.raw);
  return answer.body.roles.map(({ agentCount, ...role }: { agentCount: unknown }) => {
    assert.ok(Number.isInteger(agentCount) && (agentCount as number) >= 0, `agentCount of ${JSON.stringify(role)}`);
    return role;
  });
}

async function account(token = ownerToken): Promise<any> {
  const answer = await t.get('/api/v1/account', token);
  assert.equal(answer.status, 200, answer.raw);
  return answer.body;
}

before(async () => {
  t = await TestApp.start();
  ({ ownerToken, adminRoleId, agentRoleId } = await t.setup());
  const keeperRoleId = await t.role(ownerToken, 'Role Keepers', ['manage_roles']);
  keeper = await t.addAgent(ownerToken, { email: 'kay.keeper@acme.test', name: 'Kay Keeper', roleId: keeperRoleId, password: 'Gravel-Sonnet-Harbor-45' });
  plain = await t.addAgent(ownerToken, { email: 'pete.plain@acme.test', name: 'Pete Plain', roleId: agentRoleId, password: 'Silver-Harbor-Thistle-64' });
  admin2 = await t.addAgent(ownerToken, { email: 'ada.admin@acme.test', name: 'Ada Admin', roleId: adminRoleId, password: 'Copper-Lantern-Meadow-58' });
});

after(async () => {
  await t.close();
});

describe('roles', () => {
  test('the built-in Administrator (every permission) and Agent (none) are listed with builtIn true', async () => {
    const list = await roles();
    const administrator = list.find((r) => r.name === 'Administrator');
    const agent = list.find((r) => r.name === 'Agent');
    assert.deepEqual(administrator, { id: adminRoleId, name: 'Administrator', permissions: ALL_PERMISSIONS, builtIn: true });
    assert.deepEqual(agent, { id: agentRoleId, name: 'Agent', permissions: [], builtIn: true });
    const keepers = list.find((r) => r.name === 'Role Keepers');
    assert.deepEqual(keepers.permissions, ['manage_roles']);
    assert.equal(keepers.builtIn, false);
    assert.deepEqual(list.slice(0, 2).map((r) => r.builtIn), [true, true], 'built-in roles first');
  });

  test('the role routes need manage_roles: 403 missing_permission without it', async () => {
    assertForbidden(await t.get('/api/v1/roles', plain.token), 'missing_permission');
    assertForbidden(await t.post('/api/v1/roles', { name: 'Sneaky', permissions: [] }, plain.token), 'missing_permission');
    assertForbidden(await t.patch(`/api/v1/roles/${agentRoleId}`, { permissions: ['manage_agents'] }, plain.token), 'missing_permission');
    assertForbidden(await t.patch('/api/v1/roles/no-such-role', { name: 'X' }, plain.token), 'missing_permission', '403 before 404');
    assert.equal((await roles()).some((r) => r.name === 'Sneaky'), false);
    assert.equal((await t.get('/api/v1/roles', keeper.token)).status, 200);
  });

  test('POST /roles answers 201 with a custom role, its permissions in catalogue order without duplicates', async () => {
    const created = await t.post('/api/v1/roles', { name: '  Support Leads  ', permissions: ['view_audit_log', 'manage_agents', 'view_audit_log'] }, ownerToken);
    assert.equal(created.status, 201, created.raw);
    assert.equal(typeof created.body.id, 'string');
    assert.deepEqual({ ...created.body, id: undefined }, { id: undefined, name: 'Support Leads', permissions: ['manage_agents', 'view_audit_log'], builtIn: false });
    const listed = (await roles()).find((r) => r.id === created.body.id);
    assert.deepEqual(listed, created.body);
    const empty = await t.post('/api/v1/roles', { name: 'Observers', permissions: [] }, ownerToken);
    assert.equal(empty.status, 201, empty.raw);
    assert.deepEqual(empty.body.permissions, []);
  });

  test('a permission outside the catalogue, a blank name or a missing list is 400 invalid_request', async () => {
    for (const body of [
      { name: 'Flyers', permissions: ['fly'] },
      { name: 'Flyers', permissions: ['manage_agents', 'MANAGE_ROLES'] },
      { name: 'Flyers', permissions: 'manage_agents' },
      { name: '   ', permissions: [] },
      { name: 'Flyers' },
    ]) {
      assertError(await t.post('/api/v1/roles', body, ownerToken), 400, 'invalid_request', JSON.stringify(body));
    }
    assertError(await t.patch(`/api/v1/roles/${agentRoleId}`, { permissions: ['fly'] }, ownerToken), 400, 'invalid_request');
    assert.equal((await roles()).some((r) => r.name === 'Flyers'), false);
  });

  test('a role name already taken is 409 role_name_taken, compared case-insensitively, on create and on rename', async () => {
    assertError(await t.post('/api/v1/roles', { name: 'Support Leads', permissions: [] }, ownerToken), 409, 'role_name_taken');
    assertError(await t.post('/api/v1/roles', { name: 'support LEADS', permissions: [] }, ownerToken), 409, 'role_name_taken');
    assertError(await t.post('/api/v1/roles', { name: 'administrator', permissions: [] }, ownerToken), 409, 'role_name_taken');
    const observers = (await roles()).find((r) => r.name === 'Observers');
    assertError(await t.patch(`/api/v1/roles/${observers.id}`, { name: 'SUPPORT leads' }, ownerToken), 409, 'role_name_taken');
    assert.equal((await roles()).filter((r) => r.name.toLowerCase() === 'support leads').length, 1);
  });

  test('PATCH renames a custom role and changes its permissions; the change applies at once to agents holding it', async () => {
    const observers = (await roles()).find((r) => r.name === 'Observers');
    const obi = await t.addAgent(ownerToken, { email: 'obi@acme.test', name: 'Obi Observer', roleId: observers.id, password: 'Nutmeg-Radar-Clover-29' });
    assertForbidden(await t.get('/api/v1/audit-events', obi.token), 'missing_permission');

    const renamed = await t.patch(`/api/v1/roles/${observers.id}`, { name: 'Auditors' }, ownerToken);
    assert.equal(renamed.status, 200, renamed.raw);
    assert.deepEqual(renamed.body, { id: observers.id, name: 'Auditors', permissions: [], builtIn: false });
    const granted = await t.patch(`/api/v1/roles/${observers.id}`, { permissions: ['view_audit_log'] }, ownerToken);
    assert.equal(granted.status, 200, granted.raw);
    assert.deepEqual(granted.body.permissions, ['view_audit_log']);
    assert.equal((await t.get('/api/v1/audit-events', obi.token)).status, 200, 'the existing session holds the new permission');
    assert.equal((await t.get('/api/v1/me', obi.token)).body.role.name, 'Auditors');
    // renaming to its own name in another case is not a clash
    assert.equal((await t.patch(`/api/v1/roles/${observers.id}`, { name: 'AUDITORS' }, ownerToken)).status, 200);
    assertError(await t.patch('/api/v1/roles/no-such-role', { name: 'X' }, ownerToken), 404, 'not_found');
  });

  test('built-in roles cannot be renamed: 403 forbidden', async () => {
    assertForbidden(await t.patch(`/api/v1/roles/${adminRoleId}`, { name: 'Superusers' }, ownerToken));
    assertForbidden(await t.patch(`/api/v1/roles/${agentRoleId}`, { name: 'Staff' }, ownerToken));
    const list = await roles();
    assert.equal(list.find((r) => r.id === adminRoleId).name, 'Administrator');
    assert.equal(list.find((r) => r.id === agentRoleId).name, 'Agent');
  });

  test('the Administrator role keeps every permission: reducing or emptying it is 403 forbidden', async () => {
    assertForbidden(await t.patch(`/api/v1/roles/${adminRoleId}`, { permissions: [] }, ownerToken));
    assertForbidden(await t.patch(`/api/v1/roles/${adminRoleId}`, { permissions: ALL_PERMISSIONS.slice(1) }, ownerToken));
    assertForbidden(await t.patch(`/api/v1/roles/${adminRoleId}`, { permissions: ['manage_agents', 'manage_agents', 'manage_agents', 'manage_agents', 'manage_agents'] }, ownerToken));
    assert.deepEqual((await roles()).find((r) => r.id === adminRoleId).permissions, ALL_PERMISSIONS);
    assert.equal((await t.get('/api/v1/account', admin2.token)).status, 200, 'administrators keep their powers');
    // restating all of them changes nothing and is fine
    assert.equal((await t.patch(`/api/v1/roles/${adminRoleId}`, { permissions: [...ALL_PERMISSIONS].reverse() }, ownerToken)).status, 200);
  });

  test('nobody creates or widens a role with a permission they lack: 403 cannot_grant_permissions', async () => {
    assertForbidden(await t.post('/api/v1/roles', { name: 'Escalators', permissions: ['manage_agents'] }, keeper.token), 'cannot_grant_permissions');
    assertForbidden(await t.post('/api/v1/roles', { name: 'Escalators', permissions: ['manage_roles', 'view_audit_log'] }, keeper.token), 'cannot_grant_permissions');
    assert.equal((await roles()).some((r) => r.name === 'Escalators'), false);
    const own = await t.post('/api/v1/roles', { name: 'Junior Keepers', permissions: ['manage_roles'] }, keeper.token);
    assert.equal(own.status, 201, own.raw);
    assertForbidden(await t.patch(`/api/v1/roles/${own.body.id}`, { permissions: ['manage_roles', 'manage_account_settings'] }, keeper.token), 'cannot_grant_permissions');
    const keeperRole = (await t.get('/api/v1/me', keeper.token)).body.role;
    assertForbidden(await t.patch(`/api/v1/roles/${keeperRole.id}`, { permissions: ALL_PERMISSIONS }, keeper.token), 'cannot_grant_permissions', 'not even their own role');
    assertForbidden(await t.patch(`/api/v1/roles/${agentRoleId}`, { permissions: ['manage_agents'] }, keeper.token), 'cannot_grant_permissions');
    assert.deepEqual((await t.get('/api/v1/me', keeper.token)).body.role.permissions, ['manage_roles']);
  });

  test('a role holding a permission the actor lacks cannot be edited by them (target_more_privileged)', async () => {
    const leads = (await roles()).find((r) => r.name === 'Support Leads');
    assertForbidden(await t.patch(`/api/v1/roles/${leads.id}`, { permissions: [] }, keeper.token), 'target_more_privileged');
    assertForbidden(await t.patch(`/api/v1/roles/${leads.id}`, { name: 'Demoted Leads' }, keeper.token), 'target_more_privileged');
    assert.deepEqual((await roles()).find((r) => r.id === leads.id), { ...leads });
  });
});

describe('account', () => {
  test('the account routes need manage_account_settings: 403 missing_permission without it', async () => {
    assertForbidden(await t.get('/api/v1/account', keeper.token), 'missing_permission');
    assertForbidden(await t.patch('/api/v1/account', { resetLinkLifetimeHours: 24 }, keeper.token), 'missing_permission');
    assertForbidden(await t.patch('/api/v1/account', { resetLinkLifetimeHours: 24 }, plain.token), 'missing_permission');
    assert.equal((await account()).settings.resetLinkLifetimeHours, 48);
  });

  test('GET /account shows the plan and the default settings', async () => {
    const body = await account();
    assert.equal(body.name, ACCOUNT_NAME);
    assert.equal(body.plan, 'enterprise');
    assert.equal(body.planName, 'Enterprise');
    assert.equal(typeof body.id, 'string');
    assert.equal(body.settings.resetLinkLifetimeHours, 48);
    assert.equal(body.settings.temporaryPasswordLifetimeHours, 72);
    assert.deepEqual(body.settings.passwordPolicy, { ...DEFAULT_POLICY, minLength: 12, maxLength: 256, historyDepth: 5 });
  });

  test('resetLinkLifetimeHours accepts 1 to 72; 0, 73, a fraction and "abc" are 400 invalid_request', async () => {
    for (const hours of [1, 72, 24]) {
      const answer = await t.patch('/api/v1/account', { resetLinkLifetimeHours: hours }, ownerToken);
      assert.equal(answer.status, 200, answer.raw);
      assert.equal(answer.body.settings.resetLinkLifetimeHours, hours);
      assert.equal((await account()).settings.resetLinkLifetimeHours, hours, 'stored');
    }
    for (const value of [0, 73, -1, 1.5, 'abc', '24', null]) {
      assertError(await t.patch('/api/v1/account', { resetLinkLifetimeHours: value }, ownerToken), 400, 'invalid_request', JSON.stringify(value));
    }
    assert.equal((await account()).settings.resetLinkLifetimeHours, 24);
  });

  test('the reset-link lifetime is what a sent link gets: 1 h gives expiresAt = now + 1 h', async () => {
    assert.equal((await t.patch('/api/v1/account', { resetLinkLifetimeHours: 1 }, ownerToken)).status, 200);
    const now = t.clock.now();
    const before = t.smtp.messages.length;
    const sent = await t.post(`/api/v1/agents/${plain.id}/password-reset-email`, undefined, ownerToken);
    assert.equal(sent.status, 202, sent.raw);
    assert.equal(sent.body.expiresAt, new Date(now.getTime() + HOUR_MS).toISOString());
    // wait for the admin's email, so the next one we read is the self-service link
    await t.mailTo('pete.plain@acme.test', /reset/i, before);
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: 'pete.plain@acme.test' })).status, 202);
    const token = t.linkToken(await t.mailTo('pete.plain@acme.test', /reset/i, since));
    assert.equal((await t.get(`/api/v1/auth/reset-password/${token}`)).body.expiresAt, new Date(now.getTime() + HOUR_MS).toISOString());
    assert.equal((await t.patch('/api/v1/account', { resetLinkLifetimeHours: 48 }, ownerToken)).status, 200);
  });

  test('temporaryPasswordLifetimeHours accepts 1 to 720; 0 and 721 are 400', async () => {
    for (const hours of [1, 720, 72]) {
      const answer = await t.patch('/api/v1/account', { temporaryPasswordLifetimeHours: hours }, ownerToken);
      assert.equal(answer.status, 200, answer.raw);
      assert.equal(answer.body.settings.temporaryPasswordLifetimeHours, hours);
    }
    for (const value of [0, 721, 'abc']) {
      assertError(await t.patch('/api/v1/account', { temporaryPasswordLifetimeHours: value }, ownerToken), 400, 'invalid_request', JSON.stringify(value));
    }
    assert.equal((await account()).settings.temporaryPasswordLifetimeHours, 72);
  });

  test('passwordPolicy.minLength accepts 8 to 64; 7 and 65 are 400; the other policy fields are kept', async () => {
    for (const minLength of [8, 64, 12]) {
      const answer = await t.patch('/api/v1/account', { passwordPolicy: { minLength } }, ownerToken);
      assert.equal(answer.status, 200, answer.raw);
      assert.deepEqual(answer.body.settings.passwordPolicy, { ...DEFAULT_POLICY, minLength, maxLength: 256, historyDepth: 5 });
    }
    for (const minLength of [7, 65, 0, 'abc']) {
      assertError(await t.patch('/api/v1/account', { passwordPolicy: { minLength } }, ownerToken), 400, 'invalid_request', JSON.stringify(minLength));
    }
    assert.equal((await account()).settings.passwordPolicy.minLength, 12);
  });

  test('a request with one bad field changes nothing, not even its good fields', async () => {
    assertError(await t.patch('/api/v1/account', { resetLinkLifetimeHours: 12, temporaryPasswordLifetimeHours: 0 }, ownerToken), 400, 'invalid_request');
    assertError(await t.patch('/api/v1/account', { resetLinkLifetimeHours: 12, passwordPolicy: { minLength: 100 } }, ownerToken), 400, 'invalid_request');
    const settings = (await account()).settings;
    assert.equal(settings.resetLinkLifetimeHours, 48);
    assert.equal(settings.temporaryPasswordLifetimeHours, 72);
  });

  test('settings outside the API (the lockout threshold) cannot be changed through PATCH', async () => {
    const before = (await account()).settings;
    const answer = await t.patch('/api/v1/account', { lockoutThreshold: 1000, plan: 'mighty' }, ownerToken);
    assert.ok(answer.status === 200 || answer.status === 400, answer.raw);
    const after = await account();
    assert.equal(after.settings.lockoutThreshold, before.lockoutThreshold);
    assert.equal(after.plan, 'enterprise');
  });

  test('the policy minimum applies to new passwords: 20 rejects a 16-character password (422 min_length), 8 lets a 9-character one through', async () => {
    assert.equal((await t.patch('/api/v1/account', { passwordPolicy: { minLength: 20 } }, ownerToken)).status, 200);
    t.secrets.add('Qx7-Rv9-Tm2k-Lp9w');
    const rejected = await t.put(`/api/v1/agents/${plain.id}/password`, { password: 'Qx7-Rv9-Tm2k-Lp9w', requireChangeAtNextLogin: false }, ownerToken);
    assertError(rejected, 422, 'password_rejected');
    assert.deepEqual(rejected.body.error.details.map((d: { rule: string }) => d.rule), ['min_length']);
    assert.equal((await t.patch('/api/v1/account', { passwordPolicy: { minLength: 8 } }, ownerToken)).status, 200);
    // zxcvbn counts 10 guesses per random character, so 8 characters (10^8) never reach score 3:
    // with a minimum of 8, an 8-character password fails too_weak (not min_length) and 9 pass
    t.secrets.add('Qx7-Rv9k');
    const eight = await t.put(`/api/v1/agents/${plain.id}/password`, { password: 'Qx7-Rv9k', requireChangeAtNextLogin: false }, ownerToken);
    assertError(eight, 422, 'password_rejected');
    assert.deepEqual(eight.body.error.details.map((d: { rule: string }) => d.rule), ['too_weak']);
    t.secrets.add('Qx7-Rv9k#');
    assert.equal((await t.put(`/api/v1/agents/${plain.id}/password`, { password: 'Qx7-Rv9k#', requireChangeAtNextLogin: false }, ownerToken)).status, 204);
    assert.equal(typeof (await t.login('pete.plain@acme.test', 'Qx7-Rv9k#')), 'string');
    assert.equal((await t.patch('/api/v1/account', { passwordPolicy: { minLength: 12 } }, ownerToken)).status, 200);
  });

  test('the one-time password lifetime is applied: with 1 h it works 1 s before and is expired at exactly 1 h', async () => {
    assert.equal((await t.patch('/api/v1/account', { temporaryPasswordLifetimeHours: 1 }, ownerToken)).status, 200);
    const oneTime = 'Pylon-Meadow-Sextant-71';
    t.secrets.add(oneTime);
    assert.equal((await t.put(`/api/v1/agents/${plain.id}/password`, { password: oneTime, requireChangeAtNextLogin: true }, ownerToken)).status, 204);
    t.clock.advanceMs(HOUR_MS - 1000);
    const early = await t.post('/api/v1/auth/login', { email: 'pete.plain@acme.test', password: oneTime });
    assert.equal(early.status, 200, early.raw);
    assert.equal(early.body.passwordChangeRequired, true);
    t.secrets.add(early.body.token);
    t.clock.advanceSeconds(1);
    assertError(await t.post('/api/v1/auth/login', { email: 'pete.plain@acme.test', password: oneTime }), 401, 'temporary_password_expired');
    assertError(await t.get('/api/v1/me', early.body.token), 401, 'temporary_password_expired');
  });
});

test('no API answer of this file carried a password', () => {
  const passwords = [...t.secrets].filter((s) => s.length < 43 && s !== OWNER.password);
  for (const answer of t.answers) {
    assert.deepEqual(passwords.filter((p) => answer.includes(p)), []);
  }
});
