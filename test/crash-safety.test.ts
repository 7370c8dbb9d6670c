import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SmtpCapture } from './support/smtp-capture.js';
import { ServerProcess } from './support/server-process.js';
import { dropDatabase, freshDatabaseUrl, DIALECT } from './support/harness.js';
import { openDatabase, type Db } from '../src/store/db.js';

/**
 * Crash safety: `kill -9` of a server in the middle of a load of password changes, resets and
 * admin actions, then a restart. Every change and its consequences commit together, so the store
 * must be consistent afterwards, and every queued email must still go out.
 */
const OWNER = { email: 'owner@acme.test', name: 'Olivia Owner', password: 'Tundra-Mosaic-Falcon-42' };
const AGENTS = 8;
const CHANGE_EVENTS = ['password.changed', 'password.reset_completed', 'password.set_by_admin', 'password.temporary_set_by_admin'];

let dir: string;
let smtp: SmtpCapture;
let databaseUrl: string;
let env: Record<string, string>;
let server: ServerProcess;
let db: Db;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'deskpass-crash-'));
  smtp = await SmtpCapture.start();
  databaseUrl = await freshDatabaseUrl(dir);
  env = { DATABASE_URL: databaseUrl, SECRET_KEY: randomBytes(32).toString('hex'), SMTP_URL: smtp.url, ARGON2ID: 'm=256,t=1,p=1', RATE_LIMITS: 'off' };
  server = await ServerProcess.start(env, dir);
  const setupToken = /\/setup\/([A-Za-z0-9_-]{43})/.exec(await server.waitForOutput(/\/setup\//))![1];
  assert.equal((await server.request('POST', '/api/v1/setup', { body: { token: setupToken, accountName: 'Acme Support', adminName: OWNER.name, adminEmail: OWNER.email, password: OWNER.password } })).status, 201);
  db = openDatabase(databaseUrl);
});

after(async () => {
  await server?.stop('SIGKILL');
  await db?.destroy();
  await smtp?.stop();
  if (databaseUrl) await dropDatabase(databaseUrl);
  rmSync(dir, { recursive: true, force: true });
});

test(`kill -9 in the middle of a load of password changes leaves the ${DIALECT} store consistent, and no email is lost`, async (t) => {
  const owner = (await server.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: OWNER.password } })).body.token;
  const roles = await server.request('GET', '/api/v1/roles', { token: owner });
  const roleId = roles.body.roles.find((r: { name: string }) => r.name === 'Agent').id;
  const agents: { id: string; email: string }[] = [];
  for (let i = 0; i < AGENTS; i += 1) {
    const created = await server.request('POST', '/api/v1/agents', { body: { email: `load${i}@acme.test`, name: `Load Agent ${i}`, roleId }, token: owner });
    assert.equal(created.status, 201);
    agents.push({ id: created.body.id, email: `load${i}@acme.test` });
  }

  // The load: admin sets (options 2 and 3), forgot-password requests, and sign-ins, from 6 clients.
  let stop = false;
  let completed = 0;
  let interrupted = 0;
  const client = async (n: number) => {
    for (let i = 0; !stop; i += 1) {
      const agent = agents[(n + i) % AGENTS];
      const action = (n + i) % 3;
      try {
        if (action === 0) await server.request('PUT', `/api/v1/agents/${agent.id}/password`, { body: { password: `Load-Password-${n}-${i}-Xy`, requireChangeAtNextLogin: i % 2 === 0 }, token: owner });
        else if (action === 1) await server.request('POST', '/api/v1/auth/forgot-password', { body: { email: agent.email } });
        else await server.request('POST', '/api/v1/auth/login', { body: { email: agent.email, password: 'Not-The-Password-123' } });
        completed += 1;
      } catch {
        interrupted += 1; // the connection died with the server: this operation was cut off
        return;
      }
    }
  };
  const load = Promise.all(Array.from({ length: 6 }, (_, n) => client(n)));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await server.stop('SIGKILL');
  stop = true;
  await load;
  t.diagnostic(`kill -9 after ${completed} completed operations; ${interrupted} were in flight and cut off`);
  assert.ok(completed > 10, 'the load ran before the kill');

  // Restart on the same store: it must come up, and its worker must send what was queued.
  server = await ServerProcess.start(env, dir);

  for (const agent of agents) {
    const row = await db.selectFrom('agents').select(['password_hash', 'password_changed_at', 'password_change_required']).where('id', '=', agent.id).executeTakeFirstOrThrow();
    const history = await db.selectFrom('password_history').select('id').where('agent_id', '=', agent.id).execute();
    const changes = await db.selectFrom('audit_events').select(['type', 'created_at']).where('target_agent_id', '=', agent.id).where('type', 'in', CHANGE_EVENTS).execute();
    // no password changed without its audit event (history rows are written with the change)
    assert.equal(history.length, changes.length, `${agent.email}: one audit event per password change`);
    if (changes.length === 0) {
      assert.equal(row.password_hash, null, `${agent.email}: no change, no password`);
      continue;
    }
    // no password changed without its session revocation: no session older than the change survives
    const stale = await db.selectFrom('sessions').select('id').where('agent_id', '=', agent.id).where('created_at', '<', row.password_changed_at!).execute();
    assert.equal(stale.length, 0, `${agent.email}: sessions older than the last change were ended`);
    // no password changed without its email
    const notices = await db.selectFrom('mail_outbox').select('id').where('recipient', '=', agent.email).where('template', 'in', ['password_set_by_admin', 'password_change_required']).execute();
    assert.equal(notices.length, changes.length, `${agent.email}: one notice per change`);
    // no link survives a password change
    const live = await db
      .selectFrom('password_reset_tokens')
      .select('id')
      .where('agent_id', '=', agent.id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('created_at', '<', row.password_changed_at!)
      .execute();
    assert.equal(live.length, 0, `${agent.email}: links older than the last change are dead`);
  }

  // Every queued email is sent after the restart (at least once). Messages the killed worker had
  // claimed wait for their 60-second lease to run out (a live instance may still be sending them),
  // and their recipients' later messages wait behind them, so allow the lease and some.
  const restartedAt = Date.now();
  const deadline = restartedAt + 90_000;
  for (;;) {
    const pending = await db.selectFrom('mail_outbox').select('id').where('status', '=', 'pending').execute();
    if (pending.length === 0) break;
    assert.ok(Date.now() < deadline, `${pending.length} emails still pending 90 s after the restart`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.diagnostic(`the outbox was empty ${Math.round((Date.now() - restartedAt) / 1000)} s after the restart`);
  const sent = await db.selectFrom('mail_outbox').select('id').where('status', '=', 'sent').execute();
  assert.ok(smtp.messages.length >= sent.length, 'every sent row reached the SMTP server');
});
