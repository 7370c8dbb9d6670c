import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { OWNER, TestApp } from './support/harness.js';
import { runCliSource, type CliRun as Run } from './support/cli-source.js';

// `deskpass backup FILE` as an operator runs it (a child process on the CLI's sources) while the
// server keeps writing: the copy is consistent (every agent in it has the rows its creation wrote
// in the same transaction), passes SQLite's integrity check, is private, and a new server started
// on it with the same key signs the agents in. SQLite only: PostgreSQL's way is pg_dump.

const BOB = { email: 'bob@acme.test', name: 'Bob Baker', password: 'Juniper-Falcon-Orchard-12' };

let t: TestApp;
let ownerToken: string;
let agentRoleId: string;
const dir = mkdtempSync(join(tmpdir(), 'deskpass-backup-'));

function deskpass(args: string[], env: Record<string, string>): Promise<Run> {
  return runCliSource(args, { cwd: dir, env, timeoutMs: 120_000 });
}

const serverEnv = () => ({ DATABASE_URL: t.config.databaseUrl, SECRET_KEY: t.config.secretKey.toString('hex') });

before(async () => {
  t = await TestApp.start({ databaseUrl: `sqlite:${join(dir, 'live', 'deskpass.sqlite')}` });
  ({ ownerToken, agentRoleId } = await t.setup());
  await t.addAgent(ownerToken, { ...BOB, roleId: agentRoleId });
});
after(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('deskpass backup: a consistent copy while serving, restored into a new server', () => {
  test('backed up under write load: integrity ok, whole transactions only, 0600, the key reminder; restored, it signs in', async () => {
    const file = join(dir, 'deskpass-backup.sqlite');
    let writing = true;
    let created = 0;
    const load = (async () => {
      while (writing) {
        const answer = await t.post('/api/v1/agents', { email: `load${created}@acme.test`, name: `Load Agent ${created}`, roleId: agentRoleId }, ownerToken);
        assert.equal(answer.status, 201, answer.raw);
        created += 1;
      }
    })();
    while (created < 20) await new Promise((r) => setTimeout(r, 10));
    const createdBefore = created;
    const run = await deskpass(['backup', file], serverEnv());
    const createdDuring = created - createdBefore;
    writing = false;
    await load;

    assert.equal(run.code, 0, run.stderr);
    assert.ok(createdDuring > 0, 'the server kept writing while the backup ran');
    assert.match(run.stdout, /^Backed up \d+ agents to .*deskpass-backup\.sqlite \(\d+ bytes, \d+ pages; SQLite's integrity check: ok\)/);
    assert.match(run.stdout, /Keep the SECRET_KEY this server runs with too, stored apart from the backup/);
    assert.match(run.stdout, /To restore: stop the server/);
    assert.equal(statSync(file).mode & 0o777, 0o600, 'the copy holds password hashes: private');
    assert.equal(existsSync(`${file}.partial`), false);

    const copy = new SQLite(file, { readonly: true });
    try {
      assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
      const agents = copy.prepare("select id, email from agents where email like 'load%'").all() as Array<{ id: string; email: string }>;
      assert.ok(agents.length >= createdBefore && agents.length <= created, `a snapshot between ${createdBefore} and ${created}: ${agents.length}`);
      // An agent's creation writes the agent, its search rows, its invitation and its audit event in one transaction.
      const terms = copy.prepare('select count(distinct agent_id) as n from agent_search_terms where agent_id in (select id from agents)').get() as { n: number };
      const total = copy.prepare('select count(*) as n from agents').get() as { n: number };
      assert.equal(terms.n, total.n, 'every agent in the copy has its search rows');
      const audited = copy.prepare("select count(*) as n from audit_events where type = 'agent.created' and target_agent_id in (select id from agents where email like 'load%')").get() as { n: number };
      assert.equal(audited.n, agents.length, 'every agent in the copy has its audit event, and no event is there without its agent');
      assert.match(run.stdout, new RegExp(`^Backed up ${total.n} agents`));
    } finally {
      copy.close();
    }

    // Restore: a new server on the copy (its own folder, the same key) signs the agents in.
    const restoredPath = join(dir, 'restored', 'deskpass.sqlite');
    mkdirSync(join(dir, 'restored'), { mode: 0o700 });
    copyFileSync(file, restoredPath);
    const restored = await TestApp.start({ databaseUrl: `sqlite:${restoredPath}`, secretKey: t.config.secretKey });
    try {
      await restored.login(OWNER.email, OWNER.password);
      const bob = await restored.login(BOB.email, BOB.password);
      assert.equal((await restored.get('/api/v1/me', bob)).body.email, BOB.email);
      const list = await restored.get('/api/v1/agents?search=load&limit=200', await restored.login(OWNER.email, OWNER.password));
      assert.equal(list.status, 200);
      assert.ok(list.body.agents.length > 0, 'the agents created under load are in the restored server');
    } finally {
      await restored.close();
    }
  });

  test('refuses to overwrite a file, and leaves it as it was', async () => {
    const file = join(dir, 'precious.txt');
    writeFileSync(file, 'do not overwrite me\n');
    const run = await deskpass(['backup', file], serverEnv());
    assert.equal(run.code, 1);
    assert.equal(run.stderr, `deskpass: ${file} exists: choose a new file name (a backup never overwrites)\n`);
    assert.equal(statSync(file).size, 'do not overwrite me\n'.length);
  });

  test('with PostgreSQL it says to use pg_dump, and writes nothing', async () => {
    const file = join(dir, 'pg-backup.sqlite');
    const run = await deskpass(['backup', file], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test', SECRET_KEY: 'ab'.repeat(32) });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^deskpass: deskpass backup copies a SQLite database; with PostgreSQL use pg_dump/);
    assert.equal(existsSync(file), false);
  });
});
