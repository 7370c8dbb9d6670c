import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER, type Answer } from './support/harness.js';
import { formatTime } from '../src/mail/templates/format.js';

const HOUR_MS = 3_600_000;

let t: TestApp;
let ownerId: string;
let ownerToken: string;
let adminRoleId: string;
let agentRoleId: string;
/** roles: manage_agents only, manage_agent_password only, both */
let agentsOnlyRoleId: string;
let passwordOnlyRoleId: string;
let passwordAdminRoleId: string;

let admin2: { id: string; token: string };
const ADMIN2_PASSWORD = 'Copper-Lantern-Meadow-58';
let helper: { id: string; token: string };
const HELPER_PASSWORD = 'Prairie-Nimbus-Violet-36';

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

const sendLink = (id: string, token: string) => t.post(`/api/v1/agents/${id}/password-reset-email`, undefined, token);
const setPassword = (id: string, password: string, requireChangeAtNextLogin: boolean, token: string) => {
  // "password" is an ordinary word of every email; it is never accepted, so it is no secret
  if (password !== 'password') t.secrets.add(password);
  return t.put(`/api/v1/agents/${id}/password`, { password, requireChangeAtNextLogin }, token);
};

/** A fresh sign-in (the 10-minute window starts now). */
const signIn = (email: string, password: string) => t.login(email, password);

async function newAgent(email: string, name: string, roleId: string, password: string) {
  return t.addAgent(ownerToken, { email, name, roleId, password });
}

async function loginAnswer(email: string, password: string): Promise<Answer> {
  t.secrets.add(password);
  const answer = await t.post('/api/v1/auth/login', { email, password });
  if (answer.status === 200) t.secrets.add(answer.body.token);
  return answer;
}

/** An outstanding self-service reset link for the agent (to prove links die). */
async function forgotLink(email: string): Promise<string> {
  const since = t.smtp.messages.length;
  assert.equal((await t.post('/api/v1/auth/forgot-password', { email })).status, 202);
  const token = t.linkToken(await t.mailTo(email, /reset/i, since));
  assert.equal((await t.get(`/api/v1/auth/reset-password/${token}`)).status, 200);
  return token;
}

async function auditEvents(type: string): Promise<any[]> {
  const answer = await t.get(`/api/v1/audit-events?type=${type}&limit=200`, ownerToken);
  assert.equal(answer.status, 200, answer.raw);
  return answer.body.events;
}

before(async () => {
  t = await TestApp.start();
  ({ ownerId, ownerToken, adminRoleId, agentRoleId } = await t.setup());
  agentsOnlyRoleId = await t.role(ownerToken, 'Agent Managers', ['manage_agents']);
  passwordOnlyRoleId = await t.role(ownerToken, 'Password Only', ['manage_agent_password']);
  passwordAdminRoleId = await t.role(ownerToken, 'Password Admins', ['manage_agents', 'manage_agent_password']);
  admin2 = await newAgent('ada.admin@acme.test', 'Ada Admin', adminRoleId, ADMIN2_PASSWORD);
  helper = await newAgent('hal.helper@acme.test', 'Hal Helper', passwordAdminRoleId, HELPER_PASSWORD);
});

after(async () => {
  await t.close();
});

describe('option 1: email a reset link', () => {
  test('POST password-reset-email answers 202 with expiresAt = now + 48 h; the agent gets a working link naming the admin', async () => {
    const sam = await newAgent('sam@acme.test', 'Sam Support', agentRoleId, 'Glacier-Pepper-Violin-77');
    const now = t.clock.now();
    const since = t.smtp.messages.length;
    const sent = await sendLink(sam.id, ownerToken);
    assert.equal(sent.status, 202, sent.raw);
    assert.equal(sent.body.expiresAt, new Date(now.getTime() + 48 * HOUR_MS).toISOString());
    assert.deepEqual(Object.keys(sent.body), ['expiresAt'], 'the answer carries no token');

    const mail = await t.mailTo('sam@acme.test', /reset/i, since);
    const token = t.linkToken(mail);
    assert.ok(mail.text.includes(`${t.config.publicUrl}/reset-password/${token}`));
    assert.ok(mail.text.includes(OWNER.name), 'names the admin who sent it');
    assert.match(mail.text, /48 hours/, 'states the validity');
    assert.ok(mail.text.includes(formatTime(new Date(sent.body.expiresAt))), 'states until when');
    assert.ok(mail.html.includes(OWNER.name));

    const link = await t.get(`/api/v1/auth/reset-password/${token}`);
    assert.equal(link.status, 200);
    assert.equal(link.body.email, 'sam@acme.test');
    assert.equal(link.body.expiresAt, sent.body.expiresAt);
    t.secrets.add('Meadow-Falcon-Quartz-88');
    assert.equal((await t.post('/api/v1/auth/reset-password', { token, newPassword: 'Meadow-Falcon-Quartz-88' })).status, 204);
    assert.equal((await loginAnswer('sam@acme.test', 'Meadow-Falcon-Quartz-88')).status, 200);
    assertError(await loginAnswer('sam@acme.test', 'Glacier-Pepper-Violin-77'), 401, 'invalid_credentials');
    assertError(await t.get('/api/v1/me', sam.token), 401, 'unauthenticated', 'redeeming ends the old sessions');
  });

  test('a second reset email revokes the first link', async () => {
    const sue = await newAgent('sue@acme.test', 'Sue Second', agentRoleId, 'Onyx-Trellis-Marigold-40');
    let since = t.smtp.messages.length;
    assert.equal((await sendLink(sue.id, ownerToken)).status, 202);
    const first = t.linkToken(await t.mailTo('sue@acme.test', /reset/i, since));
    since = t.smtp.messages.length;
    assert.equal((await sendLink(sue.id, ownerToken)).status, 202);
    const second = t.linkToken(await t.mailTo('sue@acme.test', /reset/i, since));
    assert.equal(reason(await t.get(`/api/v1/auth/reset-password/${first}`)), 'revoked');
    assert.equal((await t.get(`/api/v1/auth/reset-password/${second}`)).status, 200);
  });
});

describe('option 2: set the password', () => {
  test('PUT password answers 204; the agent signs in with it, the old one fails, sessions and links die, and a notice without the password names the admin', async () => {
    const oldPassword = 'Tangerine-Whistle-Oak-21';
    const newPassword = 'Obsidian-Meadow-Kettle-64';
    const tom = await newAgent('tom@acme.test', 'Tom Target', agentRoleId, oldPassword);
    const secondSession = await signIn('tom@acme.test', oldPassword);
    const link = await forgotLink('tom@acme.test');

    const since = t.smtp.messages.length;
    const set = await setPassword(tom.id, newPassword, false, ownerToken);
    assert.equal(set.status, 204, set.raw);
    assert.equal(set.raw, '');

    const login = await loginAnswer('tom@acme.test', newPassword);
    assert.equal(login.status, 200, login.raw);
    assert.equal(login.body.passwordChangeRequired, false);
    assert.equal(login.body.agent.passwordChangeRequired, false);
    assertError(await loginAnswer('tom@acme.test', oldPassword), 401, 'invalid_credentials');
    assertError(await t.get('/api/v1/me', tom.token), 401, 'unauthenticated');
    assertError(await t.get('/api/v1/me', secondSession), 401, 'unauthenticated');
    const dead = await t.get(`/api/v1/auth/reset-password/${link}`);
    assertError(dead, 410, 'reset_link_invalid');
    assert.equal(reason(dead), 'revoked');
    assert.equal((await t.get('/api/v1/me', ownerToken)).status, 200, 'the admin stays signed in');

    const notice = await t.mailTo('tom@acme.test', /a new password was set/i, since);
    assert.ok(notice.text.includes(OWNER.name), 'names the admin');
    assert.ok(notice.text.includes(OWNER.email));
    assert.ok(!notice.raw.includes(newPassword) && !notice.text.includes(newPassword) && !notice.html.includes(newPassword), 'contains no password');
    assert.ok(!notice.text.includes(oldPassword));
    assert.doesNotMatch(notice.text, /\/reset-password\//, 'no link either');
  });

  test('an invited agent has no password to reset: both options answer 409 agent_invited, and the invitation still works, no link is made, no email goes out', async () => {
    const db = t.app.deskpass.deps.db;
    const since = t.smtp.messages.length;
    const created = await t.post('/api/v1/agents', { email: 'ian@acme.test', name: 'Ian Invited', roleId: agentRoleId }, ownerToken);
    assert.equal(created.status, 201, created.raw);
    const invitation = t.linkToken(await t.mailTo('ian@acme.test', /invit/i, since));
    await t.app.deskpass.mailWorker.runOnce();
    const linksBefore = await db.selectFrom('password_reset_tokens').select(['id', 'revoked_at', 'used_at']).where('agent_id', '=', created.body.id).execute();
    const outboxBefore = await db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const mailsBefore = t.smtp.messages.length;

    const link = await sendLink(created.body.id, ownerToken);
    assertError(link, 409, 'agent_invited');
    assert.match(link.body.error.message, /has not accepted their invitation yet: resend it/);
    assertError(await setPassword(created.body.id, 'Thimble-Garnet-Vortex-14', false, ownerToken), 409, 'agent_invited');
    assertError(await setPassword(created.body.id, 'Thimble-Garnet-Vortex-14', true, ownerToken), 409, 'agent_invited');
    assertError(await setPassword(created.body.id, 'password', true, ownerToken), 409, 'agent_invited', '409 before 422');

    await t.app.deskpass.mailWorker.runOnce();
    const linksAfter = await db.selectFrom('password_reset_tokens').select(['id', 'revoked_at', 'used_at']).where('agent_id', '=', created.body.id).execute();
    assert.deepEqual(linksAfter, linksBefore, 'no reset link created, the invitation not revoked');
    const outboxAfter = await db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(outboxAfter.n), Number(outboxBefore.n), 'no email queued');
    assert.equal(t.smtp.messages.length, mailsBefore, 'no email sent');
    assert.equal((await t.get(`/api/v1/agents/${created.body.id}`, ownerToken)).body.status, 'invited');
    assertError(await loginAnswer('ian@acme.test', 'Thimble-Garnet-Vortex-14'), 401, 'invalid_credentials');
    // the invitation is still the way in
    assert.equal((await t.get(`/api/v1/auth/reset-password/${invitation}`)).status, 200);
    t.secrets.add('Thimble-Garnet-Vortex-14');
    assert.equal((await t.post('/api/v1/auth/reset-password', { token: invitation, newPassword: 'Thimble-Garnet-Vortex-14' })).status, 204);
    assert.equal((await loginAnswer('ian@acme.test', 'Thimble-Garnet-Vortex-14')).status, 200);
  });

  test('the admin-set password must pass the policy: 422 password_rejected for "password", the name, or the current password', async () => {
    const pia = await newAgent('pia@acme.test', 'Pia Policy', agentRoleId, 'Lagoon-Cricket-Anvil-93');
    const weak = await setPassword(pia.id, 'password', false, ownerToken);
    assertError(weak, 422, 'password_rejected');
    assert.deepEqual(weak.body.error.details.map((d: { rule: string }) => d.rule).sort(), ['blocklisted', 'min_length', 'too_weak']);
    const personal = await setPassword(pia.id, 'Pia-Policy-Lantern-12', false, ownerToken);
    assertError(personal, 422, 'password_rejected');
    assert.deepEqual(personal.body.error.details.map((d: { rule: string }) => d.rule), ['contains_personal_info']);
    assert.equal(personal.body.error.details[0].message, 'Do not use their name, their email address or the help desk name in the password.', 'the name is the target\'s, not the administrator\'s');
    const same = await setPassword(pia.id, 'Lagoon-Cricket-Anvil-93', false, ownerToken);
    assertError(same, 422, 'password_rejected');
    assert.deepEqual(same.body.error.details.map((d: { rule: string }) => d.rule), ['same_as_current']);
    assert.equal((await t.get('/api/v1/me', pia.token)).status, 200, 'a rejected password changes nothing');
  });
});

describe('option 3: a one-time password', () => {
  test('with requireChangeAtNextLogin the agent\'s sign-in answers passwordChangeRequired true, and only a password change is allowed', async () => {
    const oldPassword = 'Cedar-Pixel-Harvest-55';
    const oneTime = 'Ripple-Granite-Otter-17';
    const own = 'Lantern-Basil-Tundra-28';
    const ola = await newAgent('ola@acme.test', 'Ola Onetime', agentRoleId, oldPassword);
    const since = t.smtp.messages.length;
    const now = t.clock.now();
    assert.equal((await setPassword(ola.id, oneTime, true, ownerToken)).status, 204);
    assertError(await t.get('/api/v1/me', ola.token), 401, 'unauthenticated');

    const login = await loginAnswer('ola@acme.test', oneTime);
    assert.equal(login.status, 200, login.raw);
    assert.equal(login.body.passwordChangeRequired, true);
    assert.equal(login.body.agent.passwordChangeRequired, true);
    const token = login.body.token;
    assert.equal((await t.get('/api/v1/me', token)).status, 200);
    assertError(await t.get('/api/v1/me/sessions', token), 403, 'password_change_required');
    const view = await t.get(`/api/v1/agents/${ola.id}`, ownerToken);
    assert.equal(view.body.passwordChangeRequired, true);

    const notice = await t.mailTo('ola@acme.test', /next sign-in/i, since);
    assert.ok(notice.text.includes(OWNER.name), 'names the admin');
    assert.ok(notice.text.includes(formatTime(new Date(now.getTime() + 72 * HOUR_MS))), 'states when it stops working (72 h by default)');
    assert.ok(!notice.raw.includes(oneTime) && !notice.text.includes(oneTime) && !notice.html.includes(oneTime), 'contains no password');

    const sameAgain = await t.post('/api/v1/me/password', { currentPassword: oneTime, newPassword: oneTime }, token);
    assertError(sameAgain, 422, 'password_rejected');
    t.secrets.add(own);
    assert.equal((await t.post('/api/v1/me/password', { currentPassword: oneTime, newPassword: own }, token)).status, 204);
    assert.equal((await t.get('/api/v1/me/sessions', token)).status, 200);
    const after = await loginAnswer('ola@acme.test', own);
    assert.equal(after.body.passwordChangeRequired, false);
  });
});

describe('security', () => {
  test('both permissions are required: manage_agents alone or manage_agent_password alone is 403 missing_permission on both routes', async () => {
    const target = await newAgent('tina@acme.test', 'Tina Target', agentRoleId, 'Mosaic-Thunder-Pebble-49');
    const agentsOnly = await newAgent('amy.agents@acme.test', 'Amy Agents', agentsOnlyRoleId, 'Walrus-Saffron-Delta-62');
    const passwordOnly = await newAgent('pat.password@acme.test', 'Pat Password', passwordOnlyRoleId, 'Quasar-Bramble-Ivory-35');
    for (const [who, token] of [['manage_agents only', agentsOnly.token], ['manage_agent_password only', passwordOnly.token]] as const) {
      assertForbidden(await sendLink(target.id, token), 'missing_permission', `${who}: reset email`);
      assertForbidden(await setPassword(target.id, 'Orbit-Cactus-Flannel-83', false, token), 'missing_permission', `${who}: set`);
      assertForbidden(await setPassword(target.id, 'Orbit-Cactus-Flannel-83', true, token), 'missing_permission', `${who}: set temporary`);
    }
    assert.equal((await t.get('/api/v1/me', target.token)).status, 200, 'nothing happened to the target');

    const both = await signIn('hal.helper@acme.test', HELPER_PASSWORD);
    assert.equal((await sendLink(target.id, both)).status, 202);
    assert.equal((await setPassword(target.id, 'Orbit-Cactus-Flannel-83', false, both)).status, 204);
    assert.equal((await setPassword(target.id, 'Falcon-Saddle-Juniper-26', true, both)).status, 204);
  });

  test('the Account Administrator is protected: an Administrator who is not the Account Administrator gets 403 account_administrator_protected on both routes', async () => {
    const fresh = await signIn('ada.admin@acme.test', ADMIN2_PASSWORD);
    const since = t.smtp.messages.length;
    assertForbidden(await sendLink(ownerId, fresh), 'account_administrator_protected');
    assertForbidden(await setPassword(ownerId, 'Hijack-Attempt-Zephyr-90', false, fresh), 'account_administrator_protected');
    assertForbidden(await setPassword(ownerId, 'Hijack-Attempt-Zephyr-90', true, fresh), 'account_administrator_protected');
    assertForbidden(await sendLink(ownerId, helper.token), 'account_administrator_protected');
    assertError(await loginAnswer(OWNER.email, 'Hijack-Attempt-Zephyr-90'), 401, 'invalid_credentials');
    assert.equal((await t.get('/api/v1/me', ownerToken)).status, 200);
    await t.app.deskpass.mailWorker.runOnce();
    assert.equal(t.smtp.messages.slice(since).filter((m) => m.to.includes(OWNER.email)).length, 0, 'the owner got no link');
  });

  test('the Account Administrator changes their own password with /me/password', async () => {
    const newOwnerPassword = 'Aurora-Copper-Willow-73';
    t.secrets.add(newOwnerPassword);
    const changed = await t.post('/api/v1/me/password', { currentPassword: OWNER.password, newPassword: newOwnerPassword }, ownerToken);
    assert.equal(changed.status, 204, changed.raw);
    assert.equal((await loginAnswer(OWNER.email, newOwnerPassword)).status, 200);
    assert.equal((await t.get('/api/v1/me', ownerToken)).status, 200, 'the current session is kept');
  });

  test('nobody takes over a stronger account: manage_agents + manage_agent_password without manage_roles cannot reset an Administrator (target_more_privileged)', async () => {
    const fresh = await signIn('hal.helper@acme.test', HELPER_PASSWORD);
    assertForbidden(await sendLink(admin2.id, fresh), 'target_more_privileged');
    assertForbidden(await setPassword(admin2.id, 'Takeover-Lichen-Spruce-11', false, fresh), 'target_more_privileged');
    assertForbidden(await setPassword(admin2.id, 'Takeover-Lichen-Spruce-11', true, fresh), 'target_more_privileged');
    assertError(await loginAnswer('ada.admin@acme.test', 'Takeover-Lichen-Spruce-11'), 401, 'invalid_credentials');
    assert.equal((await loginAnswer('ada.admin@acme.test', ADMIN2_PASSWORD)).status, 200);
  });

  test('error order: 400 before 403 forbidden, 403 missing_permission before 404, 404 before 403 reauthentication_required, and 404 for an id of no agent', async () => {
    const noPerms = await newAgent('nora@acme.test', 'Nora None', agentRoleId, 'Pewter-Sparrow-Lagoon-84');
    for (const id of ['no-such-agent', '00000000-0000-4000-8000-000000000000']) {
      assertForbidden(await sendLink(id, noPerms.token), 'missing_permission');
      assertForbidden(await setPassword(id, 'Pewter-Sparrow-Lagoon-99', false, noPerms.token), 'missing_permission');
      assertError(await sendLink(id, ownerToken), 404, 'not_found');
      assertError(await setPassword(id, 'Pewter-Sparrow-Lagoon-99', false, ownerToken), 404, 'not_found');
    }
    assertError(await t.put(`/api/v1/agents/${helper.id}/password`, { password: 'Pewter-Sparrow-Lagoon-99' }, noPerms.token), 400, 'invalid_request');
    assertError(await t.put(`/api/v1/agents/${helper.id}/password`, { password: '', requireChangeAtNextLogin: false }, ownerToken), 400, 'invalid_request');
    assertError(await t.put(`/api/v1/agents/${helper.id}/password`, { password: 'Pewter-Sparrow-Lagoon-99', requireChangeAtNextLogin: 'yes' }, ownerToken), 400, 'invalid_request');
    assertError(await t.post(`/api/v1/agents/${helper.id}/password-reset-email`), 401, 'unauthenticated');
    assertError(await t.put(`/api/v1/agents/${helper.id}/password`, { password: 'x' }), 401, 'unauthenticated');
  });

  test('a deactivated target is 409 agent_deactivated (after the other checks, before the policy)', async () => {
    const dee = await newAgent('dee@acme.test', 'Dee Deactivated', agentRoleId, 'Spindle-Auburn-Canyon-52');
    assert.equal((await t.patch(`/api/v1/agents/${dee.id}`, { status: 'deactivated' }, ownerToken)).status, 200);
    assertError(await sendLink(dee.id, ownerToken), 409, 'agent_deactivated');
    assertError(await setPassword(dee.id, 'Hollow-Reef-Cinder-41', false, ownerToken), 409, 'agent_deactivated');
    assertError(await setPassword(dee.id, 'password', true, ownerToken), 409, 'agent_deactivated', '409 before 422');
    assertError(await loginAnswer('dee@acme.test', 'Hollow-Reef-Cinder-41'), 401, 'invalid_credentials');
  });

  test('acting on another agent\'s password needs a sign-in in the last 10 minutes: allowed at exactly 10 min, 403 reauthentication_required 1 s later, allowed again after reauthenticate', async () => {
    const target = await newAgent('rex@acme.test', 'Rex Reauth', agentRoleId, 'Fennel-Glacier-Bishop-66');
    const session = await signIn('hal.helper@acme.test', HELPER_PASSWORD);
    t.clock.advanceSeconds(10 * 60);
    assert.equal((await sendLink(target.id, session)).status, 202, 'exactly 10 minutes is still fresh');
    assert.equal((await setPassword(target.id, 'Umber-Falcon-Prism-37', false, session)).status, 204);
    t.clock.advanceSeconds(1);
    assertError(await sendLink(target.id, session), 403, 'reauthentication_required');
    assertError(await setPassword(target.id, 'Velour-Anchor-Pistol-48', false, session), 403, 'reauthentication_required');
    assertError(await setPassword(target.id, 'Velour-Anchor-Pistol-48', true, session), 403, 'reauthentication_required');
    assertError(await loginAnswer('rex@acme.test', 'Velour-Anchor-Pistol-48'), 401, 'invalid_credentials', 'the refused set changed nothing');

    // 404 still comes before 403 reauthentication_required; 403 target rules too
    assertError(await sendLink('no-such-agent', session), 404, 'not_found');
    assertForbidden(await sendLink(ownerId, session), 'account_administrator_protected');

    t.secrets.add('Wrong-Password-Guess-00');
    assertError(await t.post('/api/v1/auth/reauthenticate', { password: 'Wrong-Password-Guess-00' }, session), 400, 'current_password_incorrect');
    assertError(await sendLink(target.id, session), 403, 'reauthentication_required');
    assert.equal((await t.post('/api/v1/auth/reauthenticate', { password: HELPER_PASSWORD }, session)).status, 204);
    assert.equal((await sendLink(target.id, session)).status, 202);
    assert.equal((await setPassword(target.id, 'Velour-Anchor-Pistol-48', false, session)).status, 204);
    assert.equal((await loginAnswer('rex@acme.test', 'Velour-Anchor-Pistol-48')).status, 200);
  });
});

describe('audit and mail', () => {
  test('password.reset_link_sent, password.set_by_admin and password.temporary_set_by_admin name actor and target', async () => {
    const owner = { id: ownerId, email: OWNER.email, name: OWNER.name };
    const linkSent = await auditEvents('password.reset_link_sent');
    const toSam = linkSent.find((e) => e.target?.email === 'sam@acme.test');
    assert.ok(toSam);
    assert.deepEqual(toSam.actor, owner);
    assert.equal(toSam.target.name, 'Sam Support');

    const set = await auditEvents('password.set_by_admin');
    const toTom = set.find((e) => e.target?.email === 'tom@acme.test');
    assert.ok(toTom);
    assert.deepEqual(toTom.actor, owner);
    const byHelper = set.filter((e) => e.actor?.id === helper.id);
    assert.deepEqual(byHelper.map((e) => e.target.email).sort(), ['rex@acme.test', 'rex@acme.test', 'tina@acme.test']);

    const temporary = await auditEvents('password.temporary_set_by_admin');
    const toOla = temporary.find((e) => e.target?.email === 'ola@acme.test');
    assert.ok(toOla);
    assert.deepEqual(toOla.actor, owner);
    assert.deepEqual(temporary.map((e) => e.target.email).sort(), ['ola@acme.test', 'tina@acme.test']);

    // refused attempts leave no success event
    for (const e of [...linkSent, ...set, ...temporary]) {
      assert.notEqual(e.target?.id, ownerId);
      assert.notEqual(e.target?.id, admin2.id);
    }
    const everything = JSON.stringify([linkSent, set, temporary]);
    assert.deepEqual(t.leakedSecrets(everything), [], 'no secret in the audit log');
  });

  test('no email contains any password or session token: each may carry only its own reset link token', async () => {
    await t.app.deskpass.mailWorker.runOnce();
    assert.ok(t.smtp.messages.length > 20);
    for (const mail of t.smtp.messages) {
      const ownTokens = [...mail.text.matchAll(/\/reset-password\/([A-Za-z0-9_-]{43})/g)].map((m) => m[1]);
      for (const part of [mail.raw, mail.text, mail.html]) {
        assert.deepEqual(t.leakedSecrets(part, ownTokens), [], `"${mail.subject}" to ${mail.to.join(',')}`);
      }
    }
    const passwordMails = t.smtp.messages.filter((m) => /a new password was set|next sign-in/i.test(m.subject));
    assert.ok(passwordMails.length >= 4);
  });
});
