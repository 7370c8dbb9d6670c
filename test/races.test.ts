import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestApp, OWNER } from './support/harness.js';
import { createArgon2Hasher } from '../src/security/password-hasher.js';
import { parseArgon2 } from '../src/config.js';
import { DEFAULT_SETTINGS } from '../src/domain/account-settings.js';
import { SECOND_STEP, auditOf, challengeFor, createAgentWithTotp, nextCode, outboxCount, rowsOf } from './support/two-factor.js';

/**
 * Concurrency: what two requests at once must not break, on both dialects (the races a review
 * found). Interleavings are forced with a gate in the hasher, not with timing.
 */
let t: TestApp;
let agentRoleId: string;
let counter = 0;

const OLD = 'Quartz-Harbor-Meadow-31';
const NEW = 'Saffron-Kettle-Orbit-64';

async function ownerToken() {
  return t.login(OWNER.email, OWNER.password);
}

async function newAgent() {
  counter += 1;
  const email = `racer${counter}@acme.test`;
  const { id } = await t.addAgent(await ownerToken(), { email, name: `Rae Runner ${counter}`, roleId: agentRoleId, password: OLD });
  return { id, email };
}

/** Holds the next password verification of `password` after it has run, until released. */
function holdNextVerification(password: string) {
  const hasher = t.app.deskpass.deps.hasher;
  const original = hasher.verify;
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reachedGate = new Promise<void>((resolve) => (reached = resolve));
  hasher.verify = async (hash, candidate) => {
    const result = await original(hash, candidate);
    if (candidate === password) {
      hasher.verify = original;
      reached();
      await released;
    }
    return result;
  };
  return { reachedGate, release };
}

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

/**
 * What a sign-in whose row changed under its proof must leave (flows/login.ts, admit: one
 * statement on PostgreSQL, a transaction on SQLite): no session, no `login.succeeded`, the
 * agent's last sign-in as it was, and the door as the change left it (a password set clears
 * every door of the address; a deactivation leaves the failure the sign-in reserved).
 */
async function assertNotAdmitted(agent: { id: string; email: string }, lastSignInAt: string | null, doorFailures: number | undefined) {
  const db = t.app.deskpass.deps.db;
  assert.deepEqual(await db.selectFrom('sessions').select('id').where('agent_id', '=', agent.id).execute(), [], 'no session');
  const succeeded = await db.selectFrom('audit_events').select('created_at').where('target_agent_id', '=', agent.id).where('type', '=', 'login.succeeded').execute();
  assert.deepEqual(succeeded.map((e) => e.created_at), [lastSignInAt], 'no login.succeeded but the one of the sign-in before the race');
  assert.equal(await lastSignInOf(agent), lastSignInAt, 'the last sign-in is as it was');
  const door = await db.selectFrom('login_attempts').select('failed_count').where('email_normalized', '=', agent.email).executeTakeFirst();
  assert.equal(door?.failed_count, doorFailures, 'the door is as the change left it: no success cleared it');
}

async function lastSignInOf(agent: { id: string }): Promise<string | null> {
  return (await t.app.deskpass.deps.db.selectFrom('agents').select('last_sign_in_at').where('id', '=', agent.id).executeTakeFirstOrThrow()).last_sign_in_at;
}

/** A sign-in with the old password held after its verification while `change` commits: 401, and nothing admitted. */
async function signInUnderChange(change: (agent: { id: string }, admin: string) => Promise<{ status: number }>, changeStatus: number, doorFailures: number | undefined) {
  const agent = await newAgent();
  const lastSignInAt = await lastSignInOf(agent);
  const admin = await ownerToken();
  const gate = holdNextVerification(OLD);
  const login = t.post('/api/v1/auth/login', { email: agent.email, password: OLD });
  await gate.reachedGate;
  assert.equal((await change(agent, admin)).status, changeStatus);
  gate.release();
  const answer = await login;
  assert.equal(answer.status, 401);
  assert.equal(answer.body.error.code, 'invalid_credentials');
  await assertNotAdmitted(agent, lastSignInAt, doorFailures);
}

describe('a sign-in racing a password change', () => {
  test('a sign-in with the old password that verified before an admin set commits opens no session', async () => {
    await signInUnderChange((agent, admin) => t.put(`/api/v1/agents/${agent.id}/password`, { password: NEW, requireChangeAtNextLogin: false }, admin), 204, undefined);
  });

  test('a sign-in that verified before a deactivation commits opens no session, writes nothing of a success, and its failure stays counted', async () => {
    await signInUnderChange((agent, admin) => t.patch(`/api/v1/agents/${agent.id}`, { status: 'deactivated' }, admin), 200, 1);
  });

  test('a sign-in that would upgrade a weaker hash does not write the old password over a reset that committed meanwhile', async () => {
    const agent = await newAgent();
    // a hash with weaker parameters than the configured ones: the next sign-in rehashes
    const weak = await createArgon2Hasher(parseArgon2('m=128,t=1,p=1')).hash(OLD);
    await t.app.deskpass.deps.db.updateTable('agents').set({ password_hash: weak }).where('id', '=', agent.id).execute();
    const admin = await ownerToken();
    const gate = holdNextVerification(OLD);
    const login = t.post('/api/v1/auth/login', { email: agent.email, password: OLD });
    await gate.reachedGate;
    assert.equal((await t.put(`/api/v1/agents/${agent.id}/password`, { password: NEW, requireChangeAtNextLogin: false }, admin)).status, 204);
    gate.release();
    assert.equal((await login).status, 401);
    assert.equal((await t.post('/api/v1/auth/login', { email: agent.email, password: NEW })).status, 200, 'the new password stands');
    assert.equal((await t.post('/api/v1/auth/login', { email: agent.email, password: OLD })).status, 401, 'the old one is gone');
  });
});

describe('concurrent creations of one name', () => {
  test('four concurrent POST /agents with one address: one 201, three 409 email_taken, never a 500', async () => {
    const token = await ownerToken();
    const email = `twin-${randomBytes(3).toString('hex')}@acme.test`;
    const answers = await Promise.all(Array.from({ length: 4 }, () => t.post('/api/v1/agents', { email, name: 'Tess Twin', roleId: agentRoleId }, token)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [201, 409, 409, 409]);
    for (const a of answers.filter((x) => x.status === 409)) assert.equal(a.body.error.code, 'email_taken');
  });

  test('four concurrent POST /roles with one name: one 201, three 409 role_name_taken', async () => {
    const token = await ownerToken();
    const name = `Shift lead ${randomBytes(3).toString('hex')}`;
    const answers = await Promise.all(Array.from({ length: 4 }, () => t.post('/api/v1/roles', { name, permissions: ['view_audit_log'] }, token)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [201, 409, 409, 409]);
  });
});

describe('concurrent settings changes', () => {
  test('two administrators changing different settings at once both keep their change', async () => {
    const [a, b] = [await ownerToken(), await ownerToken()];
    const answers = await Promise.all([t.patch('/api/v1/account', { resetLinkLifetimeHours: 24 }, a), t.patch('/api/v1/account', { passwordPolicy: { historyDepth: 7 } }, b)]);
    assert.deepEqual(answers.map((x) => x.status), [200, 200]);
    const account = await t.get('/api/v1/account', a);
    assert.equal(account.body.settings.resetLinkLifetimeHours, 24);
    assert.equal(account.body.settings.passwordPolicy.historyDepth, 7);
    await t.patch('/api/v1/account', { resetLinkLifetimeHours: 48, passwordPolicy: { historyDepth: 5 } }, a);
  });
});

test('an audit cursor that is not a positive whole number is 400 invalid_request, not a 500 or a wrong page', async () => {
  const token = await ownerToken();
  for (const value of ['x', 1.5, 1e30, -3, 0]) {
    const cursor = Buffer.from(JSON.stringify([value])).toString('base64url');
    const answer = await t.get(`/api/v1/audit-events?cursor=${cursor}`, token);
    assert.equal(answer.status, 400, String(value));
    assert.equal(answer.body.error.code, 'invalid_request');
  }
});

test('three concurrent setups with one link create one help desk', async () => {
  const fresh = await TestApp.start();
  try {
    const token = fresh.app.deskpass.setupLink.issue();
    const answers = await Promise.all(
      ['One', 'Two', 'Three'].map((name) =>
        fresh.post('/api/v1/setup', { token, accountName: `Desk ${name}`, adminName: 'Ada Admin', adminEmail: `ada-${name.toLowerCase()}@acme.test`, password: 'Juniper-Sextant-Marble-40' }),
      ),
    );
    assert.deepEqual(answers.map((a) => a.status).sort(), [201, 410, 410]);
    const accounts = await fresh.app.deskpass.deps.db.selectFrom('accounts').select('id').execute();
    assert.equal(accounts.length, 1);
  } finally {
    await fresh.close();
  }
});

test('a percent-encoded reset path is redacted in the request log like the plain one', async () => {
  const token = randomBytes(32).toString('base64url');
  const answer = await t.get(`/api/v1/auth/reset%2Dpassword/${token}`);
  assert.equal(answer.status, 410);
  assert.ok(!t.logs.join('\n').includes(token), 'the token is not in any log line');
});

describe('the second step under a race', () => {
  const THRESHOLD = DEFAULT_SETTINGS.lockoutThreshold;
  const sessionsOf = (id: string) => rowsOf(t, 'sessions', id);

  test(`30 parallel wrong codes against one challenge verify at most ${THRESHOLD} codes, lock once, and open nothing`, async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const challenge = await challengeFor(t, agent.email, agent.password);
    const sessions = await sessionsOf(agent.id);
    const queriesBefore = t.queries.length;
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => t.post(SECOND_STEP, { challenge, code: String(300000 + i) })));
    // each verification of a code reads the agent's authenticator once (proveSecondFactor)
    const verified = t.queries.slice(queriesBefore).filter((q) => /from "two_factor_totp"/.test(q) && /^select/i.test(q)).length;
    assert.equal(verified, THRESHOLD, 'codes verified in the burst');
    assert.equal(answers.filter((a) => a.status === 401).length, THRESHOLD - 1);
    assert.equal(answers.filter((a) => a.status === 423).length, 30 - (THRESHOLD - 1));
    assert.equal((await auditOf(t, 'login.two_factor_failed', agent.id)).length, THRESHOLD);
    assert.equal((await auditOf(t, 'account.locked', agent.id)).length, 1);
    assert.equal(await sessionsOf(agent.id), sessions);
  });

  test('ten parallel submissions of one right code on one challenge: exactly one session', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const challenge = await challengeFor(t, agent.email, agent.password);
    const sessions = await sessionsOf(agent.id);
    const code = nextCode(t, agent.secret);
    const answers = await Promise.all(Array.from({ length: 10 }, () => t.post(SECOND_STEP, { challenge, code })));
    assert.equal(answers.filter((a) => a.status === 200).length, 1, answers.map((a) => a.status).join(','));
    assert.ok(answers.every((a) => a.status === 200 || a.status === 401 || a.status === 423));
    assert.equal(await sessionsOf(agent.id), sessions + 1);
    assert.equal((await auditOf(t, 'login.succeeded', agent.id)).filter((e) => e.details?.secondFactor === 'totp').length, 2, 'the one of the helper and this one');
  });

  test('one right code on two challenges at once (two sign-ins): one session', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const [first, second] = [await challengeFor(t, agent.email, agent.password), await challengeFor(t, agent.email, agent.password)];
    const sessions = await sessionsOf(agent.id);
    const code = nextCode(t, agent.secret);
    const answers = await Promise.all([t.post(SECOND_STEP, { challenge: first, code }), t.post(SECOND_STEP, { challenge: second, code })]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401]);
    assert.equal(await sessionsOf(agent.id), sessions + 1);
  });

  test('two parallel uses of one recovery code: one success, one use audited and emailed, nine left', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const [first, second] = [await challengeFor(t, agent.email, agent.password), await challengeFor(t, agent.email, agent.password)];
    const sessions = await sessionsOf(agent.id);
    const recoveryCode = agent.recoveryCodes[0];
    const answers = await Promise.all([t.post(SECOND_STEP, { challenge: first, recoveryCode }), t.post(SECOND_STEP, { challenge: second, recoveryCode })]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401]);
    assert.equal(await sessionsOf(agent.id), sessions + 1);
    assert.deepEqual((await auditOf(t, 'two_factor.recovery_code_used', agent.id)).map((e) => e.details), [{ remaining: 9 }]);
    assert.equal(await outboxCount(t, agent.email), 2, 'the enrolment notice and one use');
    // and five at once on a single challenge
    const third = await challengeFor(t, agent.email, agent.password);
    const burst = await Promise.all(Array.from({ length: 5 }, () => t.post(SECOND_STEP, { challenge: third, recoveryCode: agent.recoveryCodes[1] })));
    assert.equal(burst.filter((a) => a.status === 200).length, 1, burst.map((a) => a.status).join(','));
    assert.equal(await rowsOf(t, 'recovery_codes', agent.id), 10);
    assert.equal((await auditOf(t, 'two_factor.recovery_code_used', agent.id)).length, 2);
  });
});
