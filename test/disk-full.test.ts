import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { OWNER, TestApp, type Answer } from './support/harness.js';

// The SQLite volume fills up under a running server: on a real size-limited filesystem (a
// 6 MiB tmpfs this test mounts; the machine runs tests as root), writes are answered 503
// storage_full (never a 500, never a half-done change), reads go on, the database is not
// damaged, and the service resumes by itself once space returns.

const mountPoint = mkdtempSync(join(tmpdir(), 'deskpass-full-'));
const filler = join(mountPoint, 'filler');
let mounted = false;
let t: TestApp;
let ownerToken: string;
let agentRoleId: string;

function fillTheDisk(): void {
  const fd = openSync(filler, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  // the last partial block: fill byte by byte until nothing fits
  const tail = openSync(filler, 'a');
  try {
    for (;;) writeSync(tail, Buffer.alloc(512, 1));
  } catch {
    /* full */
  } finally {
    closeSync(tail);
  }
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this test mounts a size-limited tmpfs and needs root (CI runs as root)');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mountPoint]);
  mounted = true;
  t = await TestApp.start({ databaseUrl: `sqlite:${join(mountPoint, 'data', 'deskpass.sqlite')}` });
  ({ ownerToken, agentRoleId } = await t.setup());
});
after(async () => {
  await t?.close();
  if (mounted) execFileSync('umount', [mountPoint]);
  rmdirSync(mountPoint);
});

const addAgent = (i: number): Promise<Answer> => t.post('/api/v1/agents', { email: `full${i}@acme.test`, name: `Full Disk ${i}`, roleId: agentRoleId }, ownerToken);

describe('the SQLite volume fills up', () => {
  test('writes are 503 storage_full, reads go on, nothing is half done or damaged; space back, it resumes', async () => {
    assert.equal((await addAgent(0)).status, 201, 'before: a write works');
    fillTheDisk();

    const refused: Answer[] = [];
    for (let i = 1; i <= 30; i += 1) refused.push(await addAgent(i));
    const statuses = new Set(refused.map((a) => a.status));
    assert.ok(!statuses.has(500), `never a 500: ${[...statuses].join(', ')}`);
    const full = refused.filter((a) => a.status === 503);
    assert.ok(full.length > 0, `the full disk is noticed: ${[...statuses].join(', ')}`);
    for (const answer of full) {
      assert.equal(answer.body.error.code, 'storage_full', answer.raw);
      assert.match(answer.body.error.message, /nothing was changed/);
    }
    const login = await t.post('/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
    assert.ok(login.status === 200 || (login.status === 503 && login.body.error.code === 'storage_full'), `a sign-in: ${login.status} ${login.raw}`);
    assert.equal((await t.get('/api/v1/agents?limit=5', ownerToken)).status, 200, 'reads go on');
    assert.ok(t.logs.some((line) => line.includes('the store is out of space')), 'the log says why');
    assert.equal(t.logs.filter((line) => /unhandled error/.test(line)).length, 0);

    rmSync(filler);
    const resumed = await addAgent(100);
    assert.equal(resumed.status, 201, `space back: ${resumed.raw}`);
    assert.equal((await t.post('/api/v1/auth/login', { email: OWNER.email, password: OWNER.password })).status, 200);

    // Whole transactions only: each agent answered 201 is there with its audit event; each refused one is not.
    const db = t.app.deskpass.deps.db;
    const stored = await db.selectFrom('agents').select(['id', 'email']).where('email', 'like', 'full%').execute();
    for (const [i, answer] of refused.entries()) {
      const email = `full${i + 1}@acme.test`;
      if (answer.status === 201) assert.ok(stored.some((a) => a.email === email), email);
      else assert.ok(!stored.some((a) => a.email === email), `${email} was refused and is not in the store`);
    }
    for (const agent of stored) {
      const events = await db.selectFrom('audit_events').select('id').where('type', '=', 'agent.created').where('target_agent_id', '=', agent.id).execute();
      assert.equal(events.length, 1, agent.email);
    }
    const check = new SQLite(join(mountPoint, 'data', 'deskpass.sqlite'), { readonly: true });
    try {
      assert.equal(check.pragma('integrity_check', { simple: true }), 'ok', 'the database is not damaged');
    } finally {
      check.close();
    }
  });
});
