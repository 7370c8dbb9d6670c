// Issue 13, "Speed": SQLite's checkpoints run on a thread of their own connection, never in the
// server's (src/store/sqlite-checkpoints.ts): the server's connection does none, and the WAL
// still goes back into the database file within seconds. SQLite only (scripts/test.mjs runs it once).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { TestApp } from './support/harness.js';

let t: TestApp;
let dir: string;
let file: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'deskpass-checkpoints-'));
  file = join(dir, 'deskpass.sqlite');
  t = await TestApp.start({ databaseUrl: `sqlite:${file}` });
  await t.setup();
});
after(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the server's connection never checkpoints; the checkpoint thread copies the WAL back into the file within seconds", async () => {
  const db = t.app.deskpass.deps.db;
  const setting = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db);
  assert.equal(setting.rows[0]!.wal_autocheckpoint, 0);
  const sizeBefore = statSync(file).size;
  // about 8 MB of audit rows, far past the 1,000 pages at which the connection would checkpoint by itself
  await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < 20000)
    insert into audit_events (account_id, type, actor_agent_id, target_agent_id, target_email, method, ip, user_agent, details, created_at)
    select (select id from accounts limit 1), 'bench.filler', null, null, null, 'cli', '127.0.0.1', null, printf('{"pad":"%s"}', hex(randomblob(150))), '2026-12-01T00:00:00.000Z' from n`.execute(db);
  assert.ok(statSync(`${file}-wal`).size > 4_000_000, 'the rows went to the WAL');
  const deadline = Date.now() + 10_000;
  while (statSync(file).size < sizeBefore + 4_000_000) {
    assert.ok(Date.now() < deadline, 'the database file took the rows back within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});
