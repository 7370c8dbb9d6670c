// Issue 13, "Speed": a password sign-in's admission (flows/login.ts, admit) is one statement on
// PostgreSQL (store/sign-in-admission.repo.ts) where SQLite keeps its transaction of four writes.
// These tests hold that both write the same rows, that the one statement is what PostgreSQL runs,
// and that a statement carrying its own notice cannot run where its notice would go nowhere.
// (A change committed under the proof: races.test.ts, "a sign-in racing a password change".)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER } from './support/harness.js';
import { hashToken } from '../src/security/tokens.js';
import { observeAuditEvents } from '../src/flows/consequences.js';
import { admitInOneStatement, admitsInOneStatement } from '../src/store/sign-in-admission.repo.js';
import { UNKNOWN_DEVICES } from '../src/store/login-attempts.repo.js';
import type { NewAuditEvent } from '../src/store/audit.repo.js';

const LOGIN = '/api/v1/auth/login';
const PASSWORD = 'Quartz-Harbor-Meadow-31';
const HOUR_MS = 3_600_000;

let t: TestApp;
let agentRoleId: string;
let counter = 0;

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

async function newAgent() {
  counter += 1;
  const email = `admitted${counter}@acme.test`;
  const { id } = await t.addAgent(await t.login(OWNER.email, OWNER.password), { email, name: `Ada Admitted ${counter}`, roleId: agentRoleId, password: PASSWORD });
  return { id, email };
}

test('a password sign-in writes the same rows on either dialect: the last sign-in, the door cleared, the session, login.succeeded (observed once)', async () => {
  const db = t.app.deskpass.deps.db;
  const agent = await newAgent();
  t.clock.advanceMs(60_000);
  const ip = '203.0.113.7';
  for (const guess of ['Wrong-Guess-1-Abc', 'Wrong-Guess-2-Abc']) assert.equal((await t.request('POST', LOGIN, { body: { email: agent.email, password: guess }, ip })).status, 401);
  assert.equal((await db.selectFrom('login_attempts').select('failed_count').where('email_normalized', '=', agent.email).executeTakeFirstOrThrow()).failed_count, 2);
  const observed: NewAuditEvent[] = [];
  const stop = observeAuditEvents((event) => void (event.type === 'login.succeeded' && observed.push(event)));
  const userAgent = `Mozilla/5.0 ${'x'.repeat(600)}`;
  const now = t.clock.now().toISOString();
  let answer;
  try {
    answer = await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD }, ip, headers: { 'user-agent': userAgent } });
  } finally {
    stop();
  }
  assert.equal(answer.status, 200);
  assert.equal(observed.length, 1, 'the metrics observers hear of the sign-in once');

  assert.equal((await db.selectFrom('agents').select('last_sign_in_at').where('id', '=', agent.id).executeTakeFirstOrThrow()).last_sign_in_at, now);
  assert.equal(await db.selectFrom('login_attempts').select('failed_count').where('email_normalized', '=', agent.email).where('client', '=', UNKNOWN_DEVICES).executeTakeFirst(), undefined, 'the door the proof came through is open again');

  const session = await db.selectFrom('sessions').selectAll().where('token_hash', '=', hashToken(answer.body.token)).executeTakeFirstOrThrow();
  const account = await db.selectFrom('accounts').select('id').executeTakeFirstOrThrow();
  assert.deepEqual(
    { ...session, id: typeof session.id },
    {
      id: 'string',
      account_id: account.id,
      agent_id: agent.id,
      token_hash: hashToken(answer.body.token),
      created_at: now,
      last_seen_at: now,
      authenticated_at: now,
      expires_at: new Date(t.clock.now().getTime() + 7 * 24 * HOUR_MS).toISOString(),
      ip,
      user_agent: userAgent.slice(0, 512),
      amr: '["pwd"]',
    },
  );
  assert.equal(answer.body.expiresAt, session.expires_at);

  const events = await db.selectFrom('audit_events').selectAll().where('target_agent_id', '=', agent.id).where('type', '=', 'login.succeeded').where('created_at', '=', now).execute();
  assert.equal(events.length, 1);
  const { id, ...event } = events[0]!;
  assert.ok(id !== null && id !== undefined);
  assert.deepEqual(
    { ...event, details: JSON.parse(event.details!) },
    { account_id: account.id, type: 'login.succeeded', actor_agent_id: agent.id, target_agent_id: agent.id, target_email: null, method: 'api', ip, user_agent: userAgent.slice(0, 512), details: { device: 'new' }, created_at: now },
  );

  // and the session is a session: /me answers it
  assert.equal((await t.request('GET', '/api/v1/me', { token: answer.body.token })).status, 200);
});

test('PostgreSQL admits in one statement after the reservation; SQLite writes in a transaction', async () => {
  const agent = await newAgent();
  const from = t.queries.length;
  assert.equal((await t.post(LOGIN, { email: agent.email, password: PASSWORD })).status, 200);
  const writes = t.queries.slice(from).filter((q) => /\b(insert|update|delete)\b/i.test(q) && !/"rate_limit_counters"/.test(q));
  const tables = (q: string) => [...q.matchAll(/\b(?:insert into|update|delete from) "(\w+)"/gi)].map((m) => m[1]);
  if (t.dialect === 'postgres') {
    assert.equal(writes.length, 2, `the reservation and the admission: ${writes.join('\n')}`);
    assert.deepEqual(tables(writes[1]!), ['agents', 'login_attempts', 'sessions', 'audit_events']);
  } else {
    assert.deepEqual(writes.map(tables), [['login_attempts'], ['agents'], ['login_attempts'], ['sessions'], ['audit_events']]);
  }
});

test('a statement that carries its own notice is refused, before it writes, inside a transaction and on SQLite', async () => {
  const db = t.app.deskpass.deps.db;
  const agent = await newAgent();
  const before = await t.settledDatabaseContents();
  const admission = { accountId: 'no-account', agentId: agent.id, expectedHash: null, doorEmail: agent.email, doorClient: UNKNOWN_DEVICES };
  const at = t.clock.now().toISOString();
  const session = { id: 'refused', account_id: 'no-account', agent_id: agent.id, token_hash: 'refused', created_at: at, last_seen_at: at, authenticated_at: at, expires_at: at, ip: null, user_agent: null, amr: '["pwd"]' };
  const event = { account_id: 'no-account', type: 'login.succeeded', actor_agent_id: agent.id, target_agent_id: agent.id, target_email: null, method: 'api', ip: null, user_agent: null, details: null, created_at: at };
  assert.equal(admitsInOneStatement(db), t.dialect === 'postgres');
  await db.transaction().execute(async (trx) => {
    assert.equal(admitsInOneStatement(trx), false, 'never inside a transaction');
    await assert.rejects(admitInOneStatement(trx, admission, session, event), /carries its own notice/);
  });
  if (t.dialect === 'sqlite') await assert.rejects(admitInOneStatement(db, admission, session, event), /carries its own notice/);
  assert.equal(await t.databaseContents(), before, 'nothing was written');
});
