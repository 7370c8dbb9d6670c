import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER } from './support/harness.js';
import { completeRequiredChange } from '../src/flows/change-password.js';
import { authenticateSession, startSession } from '../src/flows/sessions.js';

const LOGIN = '/api/v1/auth/login';
const HOUR_MS = 3_600_000;
const TEMPORARY = 'Temporary-Kestrel-Lagoon-19';
const NEW_PASSWORD = 'Chosen-Saffron-Glacier-73';

let t: TestApp;
let agentRoleId: string;
let counter = 0;

/** A freshly signed-in owner: setting a password needs a session younger than 10 minutes. */
function ownerToken(): Promise<string> {
  return t.login(OWNER.email, OWNER.password);
}

async function newAgent(): Promise<{ id: string; email: string; token: string }> {
  counter += 1;
  const email = `desk${counter}@acme.test`;
  const { id, token } = await t.addAgent(await ownerToken(), { email, name: `Tamsin Reyes ${counter}`, roleId: agentRoleId, password: 'Quartz-Harbor-Meadow-31' });
  return { id, email, token };
}

/** Option 3: the admin sets a one-time password; returns when it was set. */
async function setTemporaryPassword(agentId: string, password = TEMPORARY): Promise<Date> {
  t.secrets.add(password);
  const setAt = t.clock.now();
  const answer = await t.put(`/api/v1/agents/${agentId}/password`, { password, requireChangeAtNextLogin: true }, await ownerToken());
  assert.equal(answer.status, 204);
  return setAt;
}

/** An agent signed in with a one-time password. */
async function agentWithTemporaryPassword(): Promise<{ id: string; email: string; token: string; setAt: Date }> {
  const agent = await newAgent();
  const setAt = await setTemporaryPassword(agent.id);
  const answer = await t.post(LOGIN, { email: agent.email, password: TEMPORARY });
  assert.equal(answer.status, 200);
  t.secrets.add(answer.body.token);
  return { id: agent.id, email: agent.email, token: answer.body.token, setAt };
}

function assertChangeRequired(answer: { status: number; body: any }, what: string): void {
  assert.equal(answer.status, 403, what);
  assert.equal(answer.body.error.code, 'password_change_required', what);
}

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

describe('signing in with a one-time password', () => {
  test('after an admin sets a one-time password, login answers 200 with passwordChangeRequired true', async () => {
    const agent = await newAgent();
    await setTemporaryPassword(agent.id);
    const answer = await t.post(LOGIN, { email: agent.email, password: TEMPORARY });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.passwordChangeRequired, true);
    assert.equal(answer.body.agent.passwordChangeRequired, true);
    assert.equal(typeof answer.body.token, 'string');
    // the admin's set ended the sessions the agent had
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 401);
  });

  test('the agent is emailed a notice that does not contain the one-time password', async () => {
    const agent = await newAgent();
    const since = t.smtp.messages.length;
    await setTemporaryPassword(agent.id, 'Notice-Kestrel-Lagoon-21');
    const mail = await t.mailTo(agent.email, /next sign-in/i, since);
    assert.ok(!mail.raw.includes('Notice-Kestrel-Lagoon-21'));
    assert.ok(!mail.text.includes('Notice-Kestrel-Lagoon-21'));
    assert.ok(!mail.html.includes('Notice-Kestrel-Lagoon-21'));
  });

  test('while a change is required, GET /me answers 200 with passwordChangeRequired true', async () => {
    const agent = await agentWithTemporaryPassword();
    const me = await t.get('/api/v1/me', agent.token);
    assert.equal(me.status, 200);
    assert.equal(me.body.id, agent.id);
    assert.equal(me.body.passwordChangeRequired, true);
  });

  test('while a change is required, every other call answers 403 password_change_required', async () => {
    const agent = await agentWithTemporaryPassword();
    const calls: [string, string, unknown?][] = [
      ['GET', '/api/v1/me/sessions'],
      ['POST', '/api/v1/auth/reauthenticate', { password: TEMPORARY }],
      ['GET', '/api/v1/agents'],
      ['GET', `/api/v1/agents/${agent.id}`],
      ['GET', '/api/v1/roles'],
      ['GET', '/api/v1/account'],
      ['GET', '/api/v1/audit-events'],
      ['DELETE', '/api/v1/me/sessions/some-session-id'],
      ['POST', `/api/v1/agents/${agent.id}/password-reset-email`],
    ];
    for (const [method, url, body] of calls) {
      assertChangeRequired(await t.request(method, url, { token: agent.token, body }), `${method} ${url}`);
    }
    // the same through the cookie
    assertChangeRequired(await t.request('GET', '/api/v1/me/sessions', { headers: { cookie: `deskpass_session=${agent.token}` } }), 'cookie');
  });

  test('403 password_change_required wins over 400 invalid_request on an invalid body', async () => {
    const agent = await agentWithTemporaryPassword();
    assertChangeRequired(await t.post('/api/v1/auth/reauthenticate', {}, agent.token), 'reauthenticate without password');
    assertChangeRequired(await t.post('/api/v1/auth/reauthenticate', { password: 42 }, agent.token), 'reauthenticate with a number');
    assertChangeRequired(await t.request('POST', '/api/v1/agents', { token: agent.token, payload: '{not json', headers: { 'content-type': 'application/json' } }), 'malformed JSON');
    assertChangeRequired(await t.patch('/api/v1/account', { resetLinkLifetimeHours: 'soon' }, agent.token), 'PATCH /account');
    // but the allowed route still validates its body
    const invalid = await t.post('/api/v1/me/password', { currentPassword: TEMPORARY }, agent.token);
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.error.code, 'invalid_request');
  });

  test('while a change is required, POST /auth/logout works and ends the session', async () => {
    const agent = await agentWithTemporaryPassword();
    assert.equal((await t.post('/api/v1/auth/logout', undefined, agent.token)).status, 204);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 401);
  });

  test('without a session the answer is 401, not 403: unauthenticated comes first', async () => {
    const answer = await t.post('/api/v1/auth/reauthenticate', {});
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error.code, 'unauthenticated');
  });
});

describe('replacing the one-time password', () => {
  test('the new password must differ from the one-time password (422 same_as_current)', async () => {
    const agent = await agentWithTemporaryPassword();
    const same = await t.post('/api/v1/me/password', { currentPassword: TEMPORARY, newPassword: TEMPORARY }, agent.token);
    assert.equal(same.status, 422);
    assert.equal(same.body.error.code, 'password_rejected');
    assert.deepEqual(same.body.error.details.map((d: { rule: string }) => d.rule), ['same_as_current']);
    // still required
    assert.equal((await t.get('/api/v1/me', agent.token)).body.passwordChangeRequired, true);
    assertChangeRequired(await t.get('/api/v1/me/sessions', agent.token), 'after the refused change');
  });

  test('the change needs the one-time password as currentPassword (400 current_password_incorrect otherwise)', async () => {
    const agent = await agentWithTemporaryPassword();
    const wrong = await t.post('/api/v1/me/password', { currentPassword: 'Quartz-Harbor-Meadow-31', newPassword: NEW_PASSWORD }, agent.token);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error.code, 'current_password_incorrect');
  });

  test('after the change everything works, passwordChangeRequired is false, and only the new password signs in', async () => {
    const agent = await agentWithTemporaryPassword();
    t.secrets.add(NEW_PASSWORD);
    const changed = await t.post('/api/v1/me/password', { currentPassword: TEMPORARY, newPassword: NEW_PASSWORD }, agent.token);
    assert.equal(changed.status, 204);
    const me = await t.get('/api/v1/me', agent.token);
    assert.equal(me.status, 200);
    assert.equal(me.body.passwordChangeRequired, false);
    assert.equal((await t.get('/api/v1/me/sessions', agent.token)).status, 200);
    assert.equal((await t.post('/api/v1/auth/reauthenticate', { password: NEW_PASSWORD }, agent.token)).status, 204);
    // an Agent-role agent is refused for lack of permission now, not for the password
    const agents = await t.get('/api/v1/agents', agent.token);
    assert.equal(agents.status, 403);
    assert.equal(agents.body.error.code, 'forbidden');

    const login = await t.post(LOGIN, { email: agent.email, password: NEW_PASSWORD });
    assert.equal(login.status, 200);
    assert.equal(login.body.passwordChangeRequired, false);
    const old = await t.post(LOGIN, { email: agent.email, password: TEMPORARY });
    assert.equal(old.status, 401);
    assert.equal(old.body.error.code, 'invalid_credentials');
  });

  test('a one-time password given to an administrator blocks the admin routes until changed, then they work', async () => {
    const adminRoleId = (await t.get('/api/v1/roles', await ownerToken())).body.roles.find((r: { name: string }) => r.name === 'Administrator').id;
    counter += 1;
    const email = `lead${counter}@acme.test`;
    const lead = await t.addAgent(await ownerToken(), { email, name: 'Idris Lead', roleId: adminRoleId, password: 'Quartz-Harbor-Meadow-31' });
    await setTemporaryPassword(lead.id);
    const token = await t.login(email, TEMPORARY);
    assertChangeRequired(await t.get('/api/v1/agents', token), 'GET /agents before the change');
    assert.equal((await t.post('/api/v1/me/password', { currentPassword: TEMPORARY, newPassword: NEW_PASSWORD }, token)).status, 204);
    const agents = await t.get('/api/v1/agents', token);
    assert.equal(agents.status, 200);
    assert.ok(Array.isArray(agents.body.agents));
  });

  test('a reset link also clears a required change', async () => {
    const agent = await agentWithTemporaryPassword();
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: agent.email })).status, 202);
    const token = t.linkToken(await t.mailTo(agent.email, /reset your password/i, since));
    assert.equal((await t.post('/api/v1/auth/reset-password', { token, newPassword: NEW_PASSWORD })).status, 204);
    const login = await t.post(LOGIN, { email: agent.email, password: NEW_PASSWORD });
    assert.equal(login.status, 200);
    assert.equal(login.body.passwordChangeRequired, false);
  });
});

describe('one-time password expiry', () => {
  test('a one-time password signs in at 72 h − 1 s and answers 401 temporary_password_expired at 72 h + 1 s', async () => {
    const agent = await newAgent();
    const setAt = await setTemporaryPassword(agent.id);
    t.clock.set(new Date(setAt.getTime() + 72 * HOUR_MS - 1000));
    const before = await t.post(LOGIN, { email: agent.email, password: TEMPORARY });
    assert.equal(before.status, 200);
    assert.equal(before.body.passwordChangeRequired, true);
    t.clock.set(new Date(setAt.getTime() + 72 * HOUR_MS + 1000));
    const expired = await t.post(LOGIN, { email: agent.email, password: TEMPORARY });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error.code, 'temporary_password_expired');
    assert.equal(expired.headers['set-cookie'], undefined);
    // a wrong password still gets the answer that reveals nothing
    const wrong = await t.post(LOGIN, { email: agent.email, password: 'Wrong-Kestrel-Lagoon-19' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'invalid_credentials');
  });

  test('a session opened with a one-time password answers 401 temporary_password_expired once it expires', async () => {
    const agent = await newAgent();
    const setAt = await setTemporaryPassword(agent.id);
    t.clock.set(new Date(setAt.getTime() + 72 * HOUR_MS - 60_000));
    const token = await t.login(agent.email, TEMPORARY);
    assert.equal((await t.get('/api/v1/me', token)).status, 200);
    t.clock.set(new Date(setAt.getTime() + 72 * HOUR_MS + 1000));
    for (const [method, url, body] of [
      ['GET', '/api/v1/me'],
      ['POST', '/api/v1/me/password', { currentPassword: TEMPORARY, newPassword: NEW_PASSWORD }],
      ['GET', '/api/v1/me/sessions'],
    ] as [string, string, unknown?][]) {
      const answer = await t.request(method, url, { token, body });
      assert.equal(answer.status, 401, `${method} ${url}`);
      assert.equal(answer.body.error.code, 'temporary_password_expired', `${method} ${url}`);
    }
  });

  test('signing out still works once the one-time password has expired, and ends the session', async () => {
    const agent = await newAgent();
    const setAt = await setTemporaryPassword(agent.id);
    t.clock.set(new Date(setAt.getTime() + 72 * HOUR_MS - 60_000));
    const token = await t.login(agent.email, TEMPORARY);
    t.clock.set(new Date(setAt.getTime() + 72 * HOUR_MS + 1000));
    assert.equal((await t.post('/api/v1/auth/logout', undefined, token)).status, 204);
    const after = await t.get('/api/v1/me', token);
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'unauthenticated');
  });

  test('the account\'s temporaryPasswordLifetimeHours sets the expiry of new one-time passwords', async () => {
    const patched = await t.patch('/api/v1/account', { temporaryPasswordLifetimeHours: 4 }, await ownerToken());
    assert.equal(patched.status, 200);
    try {
      const agent = await newAgent();
      const setAt = await setTemporaryPassword(agent.id);
      t.clock.set(new Date(setAt.getTime() + 4 * HOUR_MS - 1000));
      assert.equal((await t.post(LOGIN, { email: agent.email, password: TEMPORARY })).status, 200);
      t.clock.set(new Date(setAt.getTime() + 4 * HOUR_MS + 1000));
      assert.equal((await t.post(LOGIN, { email: agent.email, password: TEMPORARY })).body.error.code, 'temporary_password_expired');
    } finally {
      assert.equal((await t.patch('/api/v1/account', { temporaryPasswordLifetimeHours: 72 }, await ownerToken())).status, 200);
    }
  });

  test('an expired one-time password is replaced by a new one from the admin, which works again', async () => {
    const agent = await newAgent();
    const setAt = await setTemporaryPassword(agent.id);
    t.clock.set(new Date(setAt.getTime() + 72 * HOUR_MS + 1000));
    assert.equal((await t.post(LOGIN, { email: agent.email, password: TEMPORARY })).status, 401);
    await setTemporaryPassword(agent.id, 'Second-Kestrel-Lagoon-20');
    const login = await t.post(LOGIN, { email: agent.email, password: 'Second-Kestrel-Lagoon-20' });
    assert.equal(login.status, 200);
    assert.equal(login.body.passwordChangeRequired, true);
  });

  test('a password set by the admin without requireChangeAtNextLogin never expires and needs no change', async () => {
    const agent = await newAgent();
    t.secrets.add('Permanent-Kestrel-Lagoon-22');
    const setAt = t.clock.now();
    const answer = await t.put(`/api/v1/agents/${agent.id}/password`, { password: 'Permanent-Kestrel-Lagoon-22', requireChangeAtNextLogin: false }, await ownerToken());
    assert.equal(answer.status, 204);
    t.clock.set(new Date(setAt.getTime() + 73 * HOUR_MS));
    const login = await t.post(LOGIN, { email: agent.email, password: 'Permanent-Kestrel-Lagoon-22' });
    assert.equal(login.status, 200);
    assert.equal(login.body.passwordChangeRequired, false);
    assert.equal((await t.get('/api/v1/me/sessions', login.body.token)).status, 200);
  });
});

/**
 * The portal's shortcut (flows/change-password.ts completeRequiredChange): right after signing in
 * with a one-time password, only the new password is asked. The API's POST /me/password does not
 * offer it (it keeps asking for currentPassword); these call the flow the portal calls.
 */
describe('the required change without typing the one-time password again', () => {
  const deps = () => t.app.deskpass.deps;
  const context = { method: 'portal' as const, ip: '203.0.113.9', userAgent: 'test' };

  async function authOf(token: string) {
    const auth = await authenticateSession(deps(), token);
    assert.ok(auth, 'a live session');
    return auth;
  }

  /** Rows that a change would write: its audit events and its email. */
  async function traces(agentId: string, email: string): Promise<{ audits: number; mails: number }> {
    const db = deps().db;
    const audits = await db.selectFrom('audit_events').select(db.fn.countAll().as('n')).where('target_agent_id', '=', agentId).where('type', '=', 'password.changed').executeTakeFirstOrThrow();
    const mails = await db.selectFrom('mail_outbox').select(db.fn.countAll().as('n')).where('recipient', '=', email).where('template', '=', 'password_changed').executeTakeFirstOrThrow();
    return { audits: Number(audits.n), mails: Number(mails.n) };
  }

  async function assertPasswordUnchanged(email: string, password: string) {
    const login = await t.post(LOGIN, { email, password });
    assert.equal(login.status, 200, 'the password is still the one it was');
    assert.equal(login.body.passwordChangeRequired, true);
    assert.equal((await t.post(LOGIN, { email, password: NEW_PASSWORD })).status, 401, 'the new password was not set');
  }

  test('right after signing in with the one-time password, the new password alone replaces it; the notice says what happened', async () => {
    const agent = await agentWithTemporaryPassword();
    t.secrets.add(NEW_PASSWORD);
    const done = await completeRequiredChange(deps(), await authOf(agent.token), { newPassword: NEW_PASSWORD, context });
    assert.deepEqual(done, { ok: true });
    const me = await t.get('/api/v1/me', agent.token);
    assert.equal(me.status, 200, 'the session that made the change goes on');
    assert.equal(me.body.passwordChangeRequired, false);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: NEW_PASSWORD })).status, 200);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: TEMPORARY })).status, 401);
    // (the invitation's own "password set" notice may arrive late: wait for this change's)
    const mail = await t.smtp.waitFor((m) => m.to.includes(agent.email) && /was changed/.test(m.subject) && /one-time password/.test(m.text));
    assert.match(mail.subject, /was changed/);
    assert.match(mail.text, /you replaced the one-time password your administrator set with a password of your own/i);
    assert.doesNotMatch(mail.text, /from My Settings/);
  });

  test('the new password must still differ from the one-time password (nothing changes)', async () => {
    const agent = await agentWithTemporaryPassword();
    const before = await traces(agent.id, agent.email);
    const same = await completeRequiredChange(deps(), await authOf(agent.token), { newPassword: TEMPORARY, context });
    assert.equal(same.ok, false);
    assert.equal(!same.ok && same.code, 'password_rejected');
    assert.deepEqual(await traces(agent.id, agent.email), before);
    await assertPasswordUnchanged(agent.email, TEMPORARY);
  });

  test('a session not started by the one-time password cannot use the shortcut (password unchanged, nothing written)', async () => {
    const agent = await agentWithTemporaryPassword();
    const auth = await authOf(agent.token);
    const before = await traces(agent.id, agent.email);
    // a session older than the one-time password (the set ends them all; made here directly), and a passkey's
    const older = await startSession(deps().db, auth.account, auth.agent, context, new Date(auth.agent.passwordChangedAt!.getTime() - 1000));
    const passkey = await startSession(deps().db, auth.account, auth.agent, context, t.clock.now(), ['hwk', 'mfa']);
    for (const [what, token] of [['older session', older.token], ['passkey session', passkey.token]] as const) {
      const refused = await completeRequiredChange(deps(), await authOf(token), { newPassword: NEW_PASSWORD, context });
      assert.equal(!refused.ok && refused.code, 'reauthentication_required', what);
    }
    assert.deepEqual(await traces(agent.id, agent.email), before);
    await assertPasswordUnchanged(agent.email, TEMPORARY);
  });

  test('the shortcut ends 10 minutes after the sign-in: the one-time password is asked again', async () => {
    const agent = await agentWithTemporaryPassword();
    const before = await traces(agent.id, agent.email);
    t.clock.advanceMs(10 * 60_000 + 1000);
    const refused = await completeRequiredChange(deps(), await authOf(agent.token), { newPassword: NEW_PASSWORD, context });
    assert.equal(!refused.ok && refused.code, 'reauthentication_required');
    assert.deepEqual(await traces(agent.id, agent.email), before);
    await assertPasswordUnchanged(agent.email, TEMPORARY);
  });

  test('the shortcut does not work once passwordChangeRequired is false', async () => {
    const agent = await agentWithTemporaryPassword();
    const auth = await authOf(agent.token);
    assert.equal((await t.post('/api/v1/me/password', { currentPassword: TEMPORARY, newPassword: NEW_PASSWORD }, agent.token)).status, 204);
    const before = await traces(agent.id, agent.email);
    // the session as it was read before the change (a stale snapshot), and as it is now
    for (const [what, snapshot] of [['stale', auth], ['current', await authOf(agent.token)]] as const) {
      const refused = await completeRequiredChange(deps(), snapshot, { newPassword: 'Another-Umber-Lantern-58', context });
      assert.equal(!refused.ok && refused.code, 'reauthentication_required', what);
    }
    assert.deepEqual(await traces(agent.id, agent.email), before);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: NEW_PASSWORD })).status, 200);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: 'Another-Umber-Lantern-58' })).status, 401);
  });

  test('an agent who signed in with their own password (no change required) cannot use it', async () => {
    const agent = await newAgent();
    const refused = await completeRequiredChange(deps(), await authOf(agent.token), { newPassword: NEW_PASSWORD, context });
    assert.equal(!refused.ok && refused.code, 'reauthentication_required');
    assert.equal((await t.post(LOGIN, { email: agent.email, password: 'Quartz-Harbor-Meadow-31' })).status, 200);
  });

  test('the API keeps its contract: POST /me/password still needs the one-time password as currentPassword', async () => {
    const agent = await agentWithTemporaryPassword();
    const missing = await t.post('/api/v1/me/password', { newPassword: NEW_PASSWORD }, agent.token);
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 'invalid_request');
    await assertPasswordUnchanged(agent.email, TEMPORARY);
  });
});
