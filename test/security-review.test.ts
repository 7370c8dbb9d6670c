// Security review of main 0f46340 (issue 8), findings 7 and 9–13, each named after the property it restores.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { OWNER, TestApp, freshIp } from './support/harness.js';
import { Browserish } from './support/browserish.js';
import { ConfigError, loadConfig, redactCredentials } from '../src/config.js';

const LEAD = { email: 'lee@acme.test', name: 'Lee Lead', password: 'Saffron-Glacier-Pylon-47' };
const SAM = { email: 'sam@acme.test', name: 'Sam Rivera', password: 'Juniper-Cobalt-Harbor-58' };
const KNOWN_TO_LEAD = 'Lead-Knows-This-Password-19';

describe('a password someone else chose stops working when the agent gains permissions', () => {
  let t: TestApp;
  let ownerToken: string;
  let adminRoleId: string;
  let agentRoleId: string;
  let leadToken: string;

  before(async () => {
    t = await TestApp.start();
    ({ ownerToken, adminRoleId, agentRoleId } = await t.setup());
    const leadRole = await t.role(ownerToken, 'Team lead', ['manage_agents', 'manage_agent_password']);
    leadToken = (await t.addAgent(ownerToken, { ...LEAD, roleId: leadRole })).token;
    t.secrets.add(KNOWN_TO_LEAD);
  });
  after(async () => t?.close());

  async function agentWithLeadsPassword(email: string, requireChange: boolean): Promise<{ id: string; session: string }> {
    const { id } = await t.addAgent(ownerToken, { email, name: 'Pat Promoted', roleId: agentRoleId, password: SAM.password });
    const set = await t.put(`/api/v1/agents/${id}/password`, { password: KNOWN_TO_LEAD, requireChangeAtNextLogin: requireChange }, leadToken);
    assert.equal(set.status, 204, set.raw);
    const session = (await t.post('/api/v1/auth/login', { email, password: KNOWN_TO_LEAD })).body.token;
    return { id, session };
  }

  test('a Team lead sets a one-time password, the Account Administrator promotes the agent: the password, its sessions and links die, and the agent is emailed a link of their own', async () => {
    const email = 'pat@acme.test';
    const { id, session } = await agentWithLeadsPassword(email, true);
    const since = t.smtp.messages.length;
    const promoted = await t.patch(`/api/v1/agents/${id}`, { roleId: adminRoleId }, ownerToken);
    assert.equal(promoted.status, 200, promoted.raw);

    const lead = await t.post('/api/v1/auth/login', { email, password: KNOWN_TO_LEAD });
    assert.equal(lead.status, 401, 'the password the Team lead knows no longer signs in');
    assert.equal((await t.get('/api/v1/me', session)).status, 401, 'the session opened with it has ended');
    const row = await t.app.deskpass.deps.db.selectFrom('agents').select(['password_hash', 'password_set_by_agent_id']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual(row, { password_hash: null, password_set_by_agent_id: null });

    const mail = await t.mailTo(email, /reset/i, since);
    assert.match(mail.text, /more permissions/);
    assert.deepEqual(t.leakedSecrets(mail.text + (mail.html ?? ''), [t.linkToken(mail)]), []);
    const own = 'Agents-Own-Choice-Password-88';
    t.secrets.add(own);
    assert.equal((await t.post('/api/v1/auth/reset-password', { token: t.linkToken(mail), newPassword: own })).status, 204);
    assert.equal((await t.post('/api/v1/auth/login', { email, password: own })).status, 200, 'the agent signs in with a password only they know');
    const events = await t.get(`/api/v1/audit-events?agentId=${id}&type=password.retired_on_permission_growth`, ownerToken);
    assert.equal(events.body.events.length, 1);
  });

  test("a Team lead's password set racing the agent's promotion never leaves the Team lead's password on an Administrator", async () => {
    for (let trial = 0; trial < 4; trial += 1) {
      const email = `race-${trial}@acme.test`;
      const { id } = await t.addAgent(ownerToken, { email, name: `Race ${trial}`, roleId: agentRoleId, password: SAM.password });
      const [put, patch] = await Promise.all([
        t.put(`/api/v1/agents/${id}/password`, { password: KNOWN_TO_LEAD, requireChangeAtNextLogin: false }, leadToken),
        t.patch(`/api/v1/agents/${id}`, { roleId: adminRoleId }, ownerToken),
      ]);
      assert.equal(patch.status, 200);
      assert.ok([204, 403].includes(put.status), `trial ${trial}: PUT ${put.status} ${put.raw}`);
      const signIn = await t.post('/api/v1/auth/login', { email, password: KNOWN_TO_LEAD });
      const role = (await t.get(`/api/v1/agents/${id}`, ownerToken)).body.role.name;
      assert.ok(!(signIn.status === 200 && role === 'Administrator'), `trial ${trial}: the Team lead's password signs in to an Administrator`);
    }
  });

  test('the same when the role itself gains a permission', async () => {
    const email = 'robin@acme.test';
    const helpers = await t.role(ownerToken, 'Helpers', []);
    const { id } = await t.addAgent(ownerToken, { email, name: 'Robin Role', roleId: helpers, password: SAM.password });
    assert.equal((await t.put(`/api/v1/agents/${id}/password`, { password: KNOWN_TO_LEAD, requireChangeAtNextLogin: false }, leadToken)).status, 204);
    assert.equal((await t.patch(`/api/v1/roles/${helpers}`, { permissions: ['view_audit_log'] }, ownerToken)).status, 200);
    assert.equal((await t.post('/api/v1/auth/login', { email, password: KNOWN_TO_LEAD })).status, 401);
  });

  test('a password the agent chose survives a promotion, and so does one set before a demotion', async () => {
    const email = 'kim@acme.test';
    const { id } = await t.addAgent(ownerToken, { email, name: 'Kim Keeps', roleId: agentRoleId, password: SAM.password });
    assert.equal((await t.patch(`/api/v1/agents/${id}`, { roleId: adminRoleId }, ownerToken)).status, 200);
    assert.equal((await t.post('/api/v1/auth/login', { email, password: SAM.password })).status, 200);

    const demoted = 'drew@acme.test';
    const other = await agentWithLeadsPassword(demoted, false);
    const lesser = await t.role(ownerToken, 'Nothing much', []);
    assert.equal((await t.patch(`/api/v1/agents/${other.id}`, { roleId: lesser }, ownerToken)).status, 200);
    assert.equal((await t.post('/api/v1/auth/login', { email: demoted, password: KNOWN_TO_LEAD })).status, 200, 'fewer permissions: nothing to retire');
  });
});

describe('the SQLite files are private', () => {
  test('database, WAL and shared-memory files are 0600 in a 0700 folder under umask 022', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deskpass-modes-'));
    const previous = process.umask(0o022);
    const dataDir = join(dir, 'data');
    const path = join(dataDir, 'deskpass.sqlite');
    let t: TestApp | undefined;
    try {
      t = await TestApp.start({ databaseUrl: `sqlite:${path}` });
      await t.setup(); // writes: the WAL exists
      assert.equal(statSync(dataDir).mode & 0o777, 0o700, 'data folder');
      for (const file of [path, `${path}-wal`, `${path}-shm`]) assert.equal(statSync(file).mode & 0o777, 0o600, file);
    } finally {
      process.umask(previous);
      await t?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('one email rule at every entry point', () => {
  let t: TestApp;
  let ownerToken: string;
  let agentRoleId: string;
  before(async () => {
    t = await TestApp.start();
    ({ ownerToken, agentRoleId } = await t.setup());
  });
  after(async () => t?.close());

  for (const email of ['x<agent@acme.test', 'evil,agent@acme.test', '"q"@acme.test', 'two words@acme.test', 'agent@acme', 'agent@-acme.test']) {
    test(`"${email}" is refused by the portal's Add agent and the API alike, and no agent is stored`, async () => {
      const browser = new Browserish(t, { ip: freshIp() });
      assert.equal((await browser.submit('/login', { email: OWNER.email, password: OWNER.password })).statusCode, 303);
      const page = await browser.submit('/manage/agents/new', { email, name: 'Mallory', roleId: agentRoleId });
      assert.equal(page.statusCode, 400, page.body.slice(0, 300));
      const api = await t.post('/api/v1/agents', { email, name: 'Mallory', roleId: agentRoleId }, ownerToken);
      assert.equal(api.status, 400);
      assert.equal(api.body.error.code, 'invalid_request');
      const stored = await t.app.deskpass.deps.db.selectFrom('agents').select('email').where('name', '=', 'Mallory').execute();
      assert.deepEqual(stored, []);
    });
  }
});

describe('a sign-in never answers 500 for its next= parameter', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start();
    await t.setup();
  });
  after(async () => t?.close());

  test('a non-Latin-1 or spaced next= is dropped before signing in: one session, a redirect home', async () => {
    for (const next of ['/manage/agents/\u0101', '/my settings', '/\u20ac', '/manage/agents?q=\u00fc']) {
      const browser = new Browserish(t, { ip: freshIp() });
      const before = (await t.app.deskpass.deps.db.selectFrom('sessions').select('id').execute()).length;
      const page = await browser.get(`/login?next=${encodeURIComponent(next)}`);
      assert.equal(page.statusCode, 200);
      const answer = await browser.post('/login', { _csrf: Browserish.csrfOf(page.body), email: OWNER.email, password: OWNER.password, next });
      assert.equal(answer.statusCode, 303, `${next}: ${answer.statusCode}`);
      assert.doesNotMatch(String(answer.headers.location), /[^\x21-\x7e]/);
      assert.equal((await t.app.deskpass.deps.db.selectFrom('sessions').select('id').execute()).length, before + 1, 'exactly one session');
    }
  });
});

describe('API answers are neither cached nor sniffed', () => {
  let t: TestApp;
  let ownerToken: string;
  before(async () => {
    t = await TestApp.start();
    ({ ownerToken } = await t.setup());
  });
  after(async () => t?.close());

  test('Cache-Control: no-store and X-Content-Type-Options: nosniff on /me, /agents, /audit-events, /me/sessions and the errors', async () => {
    for (const url of ['/api/v1/me', '/api/v1/agents', '/api/v1/audit-events', '/api/v1/me/sessions', '/api/v1/account']) {
      for (const token of [ownerToken, undefined]) {
        const answer = await t.get(url, token);
        assert.equal(answer.headers['cache-control'], 'no-store', `${url} ${answer.status}`);
        assert.equal(answer.headers['x-content-type-options'], 'nosniff', `${url} ${answer.status}`);
      }
    }
  });
});

describe('DATABASE_URL credentials never reach the console', () => {
  test('a malformed or unsupported DATABASE_URL is refused with its password redacted', () => {
    const secretKey = 'a'.repeat(64);
    for (const url of ['postgres://ada:S3cr3t-Pw@db.example:99999/desk', 'mysql://ada:S3cr3t-Pw@db.example/desk', 'postgres://ada:S3cr3t-Pw@[broken/desk']) {
      assert.throws(
        () => loadConfig({ DATABASE_URL: url, SECRET_KEY: secretKey }),
        (error: unknown) => error instanceof ConfigError && !error.message.includes('S3cr3t-Pw') && error.message.includes('ada:***@'),
        url,
      );
    }
    assert.equal(redactCredentials('postgres://u:p@h/db?password=x&sslmode=require'), 'postgres://u:***@h/db?password=***&sslmode=require');
  });
});

describe('second outside review (the fixes attacked)', () => {
  let t: TestApp;
  let ownerToken: string;
  let adminRoleId: string;
  let agentRoleId: string;
  before(async () => {
    t = await TestApp.start();
    ({ ownerToken, adminRoleId, agentRoleId } = await t.setup());
  });
  after(async () => t?.close());

  test("a refused admin-set password never says whether it is the agent's current or an earlier one", async () => {
    const { id } = await t.addAgent(ownerToken, { ...SAM, roleId: agentRoleId });
    const admin = await t.addAgent(ownerToken, { email: 'ada@acme.test', name: 'Ada Admin', roleId: adminRoleId, password: 'Ledger-Granite-Osprey-73' });
    assert.equal((await t.patch('/api/v1/account', { passwordPolicy: { minLength: 64 } }, admin.token)).status, 200);
    const verifies = t.hasher.calls.verify;
    const answer = await t.put(`/api/v1/agents/${id}/password`, { password: SAM.password, requireChangeAtNextLogin: false }, admin.token);
    assert.equal(answer.status, 422);
    assert.deepEqual(answer.body.error.details.map((d: { rule: string }) => d.rule), ['min_length']);
    assert.equal(t.hasher.calls.verify, verifies, 'no stored hash was compared');
    assert.equal((await t.patch('/api/v1/account', { passwordPolicy: { minLength: 12 } }, admin.token)).status, 200);
  });

  test('a cursor holding a NUL is 400 invalid_request, never a 500', async () => {
    const cursor = Buffer.from(JSON.stringify(['\u0000', 'x'])).toString('base64url');
    const answer = await t.get(`/api/v1/agents?cursor=${cursor}`, ownerToken);
    assert.equal(answer.status, 400);
  });

  test('router-level errors carry no-store and nosniff too', async () => {
    for (const url of ['/api/v1/agents/%E0%A4%A', `/api/v1/agents/${'x'.repeat(200)}`]) {
      const answer = await t.get(url, ownerToken);
      assert.equal(answer.status, 400, url);
      assert.equal(answer.headers['cache-control'], 'no-store', url);
      assert.equal(answer.headers['x-content-type-options'], 'nosniff', url);
    }
  });

  test('a password typed into the email field is not kept in the audit log', async () => {
    const typed = 'My-Secret-Passw0rd!';
    t.secrets.add(typed.toLowerCase());
    await t.request('POST', '/api/v1/auth/login', { body: { email: typed, password: 'whatever it is' }, ip: freshIp() });
    await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: typed }, ip: freshIp() });
    await new Promise((resolve) => setTimeout(resolve, 1200)); // the worker resolves the request
    const rows = await t.app.deskpass.deps.db.selectFrom('audit_events').select(['target_email', 'details']).execute();
    assert.deepEqual(t.leakedSecrets(JSON.stringify(rows)), []);
  });

  test('a token-shaped string in an unrouted URL is redacted in the log', async () => {
    const token = randomBytes(32).toString('base64url');
    t.secrets.add(token);
    for (const url of [`//reset-password/${token}`, `/Reset-password/${token}`, `/reset-password;/${token}`, `/x?next=${token}`]) await t.get(url);
    assert.deepEqual(t.leakedSecrets(t.logs.join('\n')), []);
  });
});
