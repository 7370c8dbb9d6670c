import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER } from './support/harness.js';
import { sweepExpiredRecords } from '../src/flows/maintenance.js';

const HOUR_S = 3600;
const DAY_S = 24 * HOUR_S;

let t: TestApp;
let agentRoleId: string;
let counter = 0;

function ownerToken(): Promise<string> {
  return t.login(OWNER.email, OWNER.password);
}

async function newAgent(password = 'Quartz-Harbor-Meadow-31') {
  counter += 1;
  const email = `member${counter}@acme.test`;
  const since = t.smtp.messages.length;
  const { id, token } = await t.addAgent(await ownerToken(), { email, name: `Kai Moreno ${counter}`, roleId: agentRoleId, password });
  await t.mailTo(email, /was changed|password is set/i, since);
  return { id, email, password, token };
}

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

describe('wrong current passwords count toward the lockout', () => {
  test("five wrong re-authentications lock that session's re-authentication (423 even with the right password), not the agent's sign-in, and email the agent", async () => {
    const agent = await newAgent();
    for (let i = 0; i < 4; i += 1) {
      const wrong = await t.post('/api/v1/auth/reauthenticate', { password: `Wrong-Guess-Number-${i}` }, agent.token);
      assert.equal(wrong.status, 400);
      assert.equal(wrong.body.error.code, 'current_password_incorrect');
    }
    const fifth = await t.post('/api/v1/auth/reauthenticate', { password: 'Wrong-Guess-Number-5' }, agent.token);
    assert.equal(fifth.status, 423);
    assert.equal(fifth.body.error.code, 'account_locked');
    assert.ok(Number(fifth.headers['retry-after']) > 0);

    const right = await t.post('/api/v1/auth/reauthenticate', { password: agent.password }, agent.token);
    assert.equal(right.status, 423);
    const change = await t.post('/api/v1/me/password', { currentPassword: agent.password, newPassword: 'Brand-New-Lantern-88' }, agent.token);
    assert.equal(change.status, 423, 'the same door guards the password change in this session');
    // A stolen session's guesses must not lock the owner out (issue 8, finding 5): sign-in still works.
    const login = await t.post('/api/v1/auth/login', { email: agent.email, password: agent.password });
    assert.equal(login.status, 200);
    assert.equal((await t.post('/api/v1/auth/reauthenticate', { password: agent.password }, login.body.token)).status, 204, 'another session re-authenticates');
    const lockMail = await t.mailTo(agent.email, /lock/i);
    assert.ok(!lockMail.raw.includes(agent.password));
    assert.match(lockMail.text, /in one signed-in session/);
  });

  test('wrong current passwords on change-password count toward the same lockout, each audited', async () => {
    const agent = await newAgent();
    for (let i = 0; i < 4; i += 1) {
      const wrong = await t.post('/api/v1/me/password', { currentPassword: `Not-The-Password-${i}`, newPassword: 'Brand-New-Lantern-88' }, agent.token);
      assert.equal(wrong.body.error.code, 'current_password_incorrect');
    }
    const fifth = await t.post('/api/v1/me/password', { currentPassword: 'Not-The-Password-5', newPassword: 'Brand-New-Lantern-88' }, agent.token);
    assert.equal(fifth.status, 423);
    const events = await t.get(`/api/v1/audit-events?agentId=${agent.id}&type=password.change_failed`, await ownerToken());
    assert.equal(events.body.events.length, 5);
  });

  test('one agent\'s lock never blocks another agent', async () => {
    const locked = await newAgent();
    const other = await newAgent();
    for (let i = 0; i < 5; i += 1) await t.post('/api/v1/auth/reauthenticate', { password: `Wrong-Guess-${i}-Xyz` }, locked.token);
    assert.equal((await t.post('/api/v1/auth/reauthenticate', { password: other.password }, other.token)).status, 204);
    assert.equal((await t.post('/api/v1/auth/login', { email: other.email, password: other.password })).status, 200);
  });
});

describe('sweeping dead links and sessions', () => {
  test('a dead link is kept 7 days (a late click says "expired"), then swept (it says "unknown")', async () => {
    const agent = await newAgent();
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: agent.email })).status, 202);
    const token = t.linkToken(await t.mailTo(agent.email, /reset your password/i, since));

    t.clock.advanceSeconds(48 * HOUR_S + 1);
    await sweepExpiredRecords(t.app.deskpass.deps);
    const late = await t.get(`/api/v1/auth/reset-password/${token}`);
    assert.equal(late.body.error.details[0].reason, 'expired');

    t.clock.advanceSeconds(7 * DAY_S - 2);
    await sweepExpiredRecords(t.app.deskpass.deps);
    assert.equal((await t.get(`/api/v1/auth/reset-password/${token}`)).body.error.details[0].reason, 'expired');

    t.clock.advanceSeconds(2);
    const swept = await sweepExpiredRecords(t.app.deskpass.deps);
    assert.ok(swept.links >= 1);
    assert.equal((await t.get(`/api/v1/auth/reset-password/${token}`)).body.error.details[0].reason, 'unknown');
  });

  test('sessions past their idle timeout or absolute lifetime are deleted by the sweep, live ones are kept', async () => {
    const db = t.app.deskpass.deps.db;
    const idle = await newAgent();
    const live = await newAgent();
    t.clock.advanceSeconds(8 * HOUR_S - 60);
    assert.equal((await t.get('/api/v1/me', live.token)).status, 200); // touches last_seen_at
    t.clock.advanceSeconds(120);
    await sweepExpiredRecords(t.app.deskpass.deps);
    const rows = await db.selectFrom('sessions').select('agent_id').execute();
    assert.ok(!rows.some((r) => r.agent_id === idle.id), 'the idle session is gone');
    assert.ok(rows.some((r) => r.agent_id === live.id), 'the live session stays');
  });

  test('the sweep works in batches until nothing is left', async () => {
    const agent = await newAgent();
    const since = t.smtp.messages.length;
    for (let i = 0; i < 5; i += 1) await t.post('/api/v1/auth/forgot-password', { email: agent.email });
    // the worker issues the links as it sends the emails
    await t.smtp.waitFor(() => t.smtp.messages.slice(since).filter((m) => m.to.includes(agent.email)).length === 5);
    t.clock.advanceSeconds(48 * HOUR_S + 7 * DAY_S + 10);
    const swept = await sweepExpiredRecords(t.app.deskpass.deps, 2);
    assert.ok(swept.links >= 5);
    const left = await t.app.deskpass.deps.db.selectFrom('password_reset_tokens').select('id').where('agent_id', '=', agent.id).execute();
    assert.equal(left.length, 0);
  });
});
