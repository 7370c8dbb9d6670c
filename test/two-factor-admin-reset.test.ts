// Resetting another agent's second factor (API.md "Second factor"): DELETE /agents/{id}/two-factor
// under exactly the rules of the admin password options, and the operator's last resort,
// `deskpass recover-admin --reset-two-factor`, run as a process on this test's store.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { TestApp, OWNER, TEST_ARGON2ID } from './support/harness.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import {
  LOGIN,
  SECOND_STEP,
  addPasskey,
  auditOf,
  challengeFor,
  createAgent,
  createAgentWithTotp,
  enrolTotp,
  nextCode,
  outboxCount,
  rowsOf,
  signInWithTotp,
  softPasskey,
} from './support/two-factor.js';

const FRESH_S = 10 * 60;

let t: TestApp;
let agentRoleId: string;

function ownerToken(): Promise<string> {
  return t.login(OWNER.email, OWNER.password);
}

const newAgent = (roleId = agentRoleId) => createAgent(t, roleId);
const agentWithTotp = (roleId = agentRoleId) => createAgentWithTotp(t, roleId);

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

describe('DELETE /agents/{id}/two-factor: an administrator resets another agent\'s factor', () => {
  let leadRoleId: string;
  let agentsOnlyRoleId: string;
  let passwordOnlyRoleId: string;
  let adminRoleId: string;

  before(async () => {
    const owner = await ownerToken();
    leadRoleId = await t.role(owner, 'Team Lead', ['manage_agents', 'manage_agent_password']);
    agentsOnlyRoleId = await t.role(owner, 'Agent Manager', ['manage_agents']);
    passwordOnlyRoleId = await t.role(owner, 'Password Clerk', ['manage_agent_password']);
    adminRoleId = (await t.get('/api/v1/roles', owner)).body.roles.find((r: { name: string }) => r.name === 'Administrator').id;
  });

  test('204: the authenticator, passkeys and recovery codes are gone, every session and open challenge ends, the agent is emailed, audited', async () => {
    const lead = await newAgent(leadRoleId);
    const target = await agentWithTotp();
    assert.equal((await addPasskey(t, target.token, softPasskey(t))).status, 201);
    const secondSession = await signInWithTotp(t, target.email, target.password, target.secret);
    const openChallenge = await challengeFor(t, target.email, target.password);
    const leadToken = await t.login(lead.email, lead.password);
    const since = t.smtp.messages.length;
    const reset = await t.delete(`/api/v1/agents/${target.id}/two-factor`, leadToken);
    assert.equal(reset.status, 204, reset.raw);
    for (const table of ['two_factor_totp', 'passkeys', 'recovery_codes', 'sessions'] as const) assert.equal(await rowsOf(t, table, target.id), 0, table);
    for (const token of [target.token, secondSession]) assert.equal((await t.get('/api/v1/me', token)).status, 401);
    const challenge = await t.post(SECOND_STEP, { challenge: openChallenge, code: nextCode(t, target.secret) });
    assert.equal(challenge.body.error.code, 'two_factor_challenge_invalid');
    const mail = await t.mailTo(target.email, /second factor was reset/i, since);
    assert.ok(mail.text.includes(`${lead.name} (Team Lead) removed your authenticator app, passkeys and recovery codes`), mail.text);
    assert.match(mail.text, /signed out everywhere/);
    assert.deepEqual((await auditOf(t, 'two_factor.reset_by_admin', target.id)).map((e) => [e.actor_agent_id, e.method]), [[lead.id, 'api']]);
    assert.equal((await t.get(`/api/v1/agents/${target.id}`, leadToken)).body.twoFactorEnabled, false);
    // they sign in with the password alone now, and can enrol again
    const login = await t.post(LOGIN, { email: target.email, password: target.password });
    assert.equal(typeof login.body.token, 'string');
    t.secrets.add(login.body.token);
  });

  test('exactly the rules of the password options: each refusal answers as POST /password-reset-email does, and changes nothing', async () => {
    const owner = await ownerToken();
    const lead = await newAgent(leadRoleId);
    const agentsOnly = await newAgent(agentsOnlyRoleId);
    const passwordOnly = await newAgent(passwordOnlyRoleId);
    const strongAdmin = await agentWithTotp(adminRoleId);
    const target = await agentWithTotp();
    const deactivated = await agentWithTotp();
    assert.equal((await t.patch(`/api/v1/agents/${deactivated.id}`, { status: 'deactivated' }, owner)).status, 200);
    const ownerId = (await t.get('/api/v1/me', owner)).body.id;
    const leadWithFactor = await agentWithTotp(leadRoleId);
    const stale = await t.login(lead.email, lead.password);
    const freshLead = async () => t.login(lead.email, lead.password);
    const cases: { name: string; token: () => Promise<string>; targetId: string; expect: [number, string, string | undefined] }[] = [
      { name: 'only manage_agents', token: async () => t.login(agentsOnly.email, agentsOnly.password), targetId: target.id, expect: [403, 'forbidden', 'missing_permission'] },
      { name: 'only manage_agent_password', token: async () => t.login(passwordOnly.email, passwordOnly.password), targetId: target.id, expect: [403, 'forbidden', 'missing_permission'] },
      { name: 'the Account Administrator', token: freshLead, targetId: ownerId, expect: [403, 'forbidden', 'account_administrator_protected'] },
      { name: 'a more privileged agent', token: freshLead, targetId: strongAdmin.id, expect: [403, 'forbidden', 'target_more_privileged'] },
      { name: 'oneself', token: async () => signInWithTotp(t, leadWithFactor.email, leadWithFactor.password, leadWithFactor.secret), targetId: leadWithFactor.id, expect: [403, 'forbidden', 'own_account'] },
      { name: 'an unknown agent', token: freshLead, targetId: 'no-such-agent', expect: [404, 'not_found', undefined] },
      { name: 'a deactivated agent', token: freshLead, targetId: deactivated.id, expect: [409, 'agent_deactivated', undefined] },
      {
        name: 'a session older than 10 minutes',
        token: async () => {
          t.clock.advanceSeconds(FRESH_S + 1);
          return stale;
        },
        targetId: target.id,
        expect: [403, 'reauthentication_required', undefined],
      },
    ];
    for (const c of cases) {
      const token = await c.token();
      const before = await snapshotState(t);
      const reset = await t.delete(`/api/v1/agents/${c.targetId}/two-factor`, token);
      assertStateUnchanged(before, await snapshotState(t), c.name);
      const link = await t.post(`/api/v1/agents/${c.targetId}/password-reset-email`, undefined, token);
      assert.deepEqual([reset.status, reset.body.error.code, reset.body.error.details?.[0]?.reason], c.expect, `${c.name}: ${reset.raw}`);
      assert.deepEqual([link.status, link.body.error.code, link.body.error.details?.[0]?.reason], c.expect, `${c.name} (password option): ${link.raw}`);
    }
    // the target kept everything through the refusals
    assert.equal(await rowsOf(t, 'two_factor_totp', target.id), 1);
    assert.equal(await rowsOf(t, 'recovery_codes', target.id), 10);
    assert.equal(await rowsOf(t, 'two_factor_totp', deactivated.id), 1);
    assert.deepEqual(await auditOf(t, 'two_factor.reset_by_admin', target.id), []);
    // and the Account Administrator may reset an Administrator's
    assert.equal((await t.delete(`/api/v1/agents/${strongAdmin.id}/two-factor`, await ownerToken())).status, 204);
  });

  test('an agent without a factor: 409 two_factor_not_enabled, nothing changes (their sessions live on), no email, no audit', async () => {
    const lead = await newAgent(leadRoleId);
    const target = await newAgent();
    const leadToken = await t.login(lead.email, lead.password);
    const before = await snapshotState(t);
    const answer = await t.delete(`/api/v1/agents/${target.id}/two-factor`, leadToken);
    assert.equal(answer.status, 409);
    assert.equal(answer.body.error.code, 'two_factor_not_enabled');
    assertStateUnchanged(before, await snapshotState(t), 'a reset of no factor');
    assert.equal((await t.get('/api/v1/me', target.token)).status, 200);
    assert.equal(await outboxCount(t, target.email), 0);
  });
});

describe('deskpass recover-admin --reset-two-factor', () => {
  const ROOT = resolve(import.meta.dirname, '..');

  /** The deskpass command (src/cli/run.ts, what the built bin runs) on this test's store, as the operator runs it. */
  function recoverAdmin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: t.config.databaseUrl,
      SECRET_KEY: t.config.secretKey.toString('hex'),
      PUBLIC_URL: t.config.publicUrl,
      ARGON2ID: TEST_ARGON2ID,
      LOG_LEVEL: 'info',
    };
    for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'SMTP_URL', 'REDIS_URL']) delete env[name];
    return new Promise((done) => {
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', 'recover-admin', ...args], { cwd: ROOT, env, timeout: 60_000 }, (error, stdout, stderr) => {
        done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });
  }

  test("the Account Administrator's factors go, their sessions end, they are emailed; audited with no actor, method cli", async () => {
    const owner = await ownerToken();
    const ownerId = (await t.get('/api/v1/me', owner)).body.id;
    const { secret } = await enrolTotp(t, owner);
    assert.equal((await addPasskey(t, owner, softPasskey(t))).status, 201);
    const session = await signInWithTotp(t, OWNER.email, OWNER.password, secret);
    const since = t.smtp.messages.length;
    const run = await recoverAdmin(['--reset-two-factor']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`second factor of the Account Administrator ${OWNER.email} is removed`));
    assert.ok(!run.stdout.includes(secret));
    for (const table of ['two_factor_totp', 'passkeys', 'recovery_codes', 'sessions'] as const) assert.equal(await rowsOf(t, table, ownerId), 0, table);
    assert.equal((await t.get('/api/v1/me', session)).status, 401);
    await t.app.deskpass.mailWorker.runOnce();
    const mail = await t.mailTo(OWNER.email, /second factor was reset/i, since);
    assert.match(mail.text, /operator of the server removed your authenticator app, passkeys and recovery codes/);
    // the password alone signs in now
    const token = await t.login(OWNER.email, OWNER.password);
    const events = await t.get('/api/v1/audit-events?type=two_factor.reset_by_admin&limit=200', token);
    const about = events.body.events.filter((e: { target: { id: string } | null }) => e.target?.id === ownerId);
    assert.equal(about.length, 1);
    const [event] = about;
    assert.equal(event.actor, null);
    assert.equal(event.target.id, ownerId);
    assert.equal(event.method, 'cli');
    assert.deepEqual(event.details, { by: 'operator', hadFactor: true });
  });

  test('without a factor: exit 0, it says so, the sessions end, no email; audited with hadFactor false', async () => {
    const owner = await ownerToken();
    const ownerId = (await t.get('/api/v1/me', owner)).body.id;
    const mails = await outboxCount(t, OWNER.email);
    const run = await recoverAdmin(['--reset-two-factor']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /had no second factor/);
    assert.equal((await t.get('/api/v1/me', owner)).status, 401);
    assert.equal(await outboxCount(t, OWNER.email), mails);
    assert.deepEqual((await auditOf(t, 'two_factor.reset_by_admin', ownerId)).map((e) => e.details), [{ by: 'operator', hadFactor: true }, { by: 'operator', hadFactor: false }]);
  });

  test('an unknown account slug: a non-zero exit, nothing changes', async () => {
    const before = await snapshotState(t);
    const run = await recoverAdmin(['--reset-two-factor', '--account', 'no-such-desk']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /no help desk with slug "no-such-desk"/);
    assertStateUnchanged(before, await snapshotState(t), 'an unknown slug');
  });
});
