// Issue 13, "Speed": on PostgreSQL the statements whose text never changes (compiled-once.ts) go
// as named prepared statements (store/prepared-statements.ts): parsed and planned once per
// connection. These tests read PostgreSQL's own view of the connection's prepared statements
// (`pg_prepared_statements`, one connection: `&pool_max=1`), and hold that a column added by
// another instance's migration meanwhile (a rolling upgrade) costs no request, and that
// `&prepared_statements=off` sends every statement unnamed. PostgreSQL only (scripts/test.mjs).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { sql } from 'kysely';
import { freshDatabaseUrl, dropDatabase, OWNER, TestApp } from './support/harness.js';
import { findAgentByEmail } from '../src/store/agents.repo.js';
import { isStale } from '../src/store/prepared-statements.js';

const LOGIN = '/api/v1/auth/login';
const PASSWORD = 'Quartz-Harbor-Meadow-31';

interface Prepared {
  name: string;
  statement: string;
  executions: number;
}

/** The prepared statements of the app's one pool connection, with how often each plan ran. */
async function preparedOf(t: TestApp): Promise<Prepared[]> {
  const { rows } = await sql<{ name: string; statement: string; executions: string }>`select name, statement, (generic_plans + custom_plans)::text as executions from pg_prepared_statements order by name`.execute(t.app.deskpass.deps.db);
  return rows.map((r) => ({ name: r.name, statement: r.statement, executions: Number(r.executions) }));
}

const isAgentLookup = (p: Prepared) => /from "agents" inner join "roles"/.test(p.statement) && /"agents"\."email_normalized" = \$\d/.test(p.statement);

async function onOneConnection(extra = ''): Promise<{ t: TestApp; url: string }> {
  const url = `${await freshDatabaseUrl(mkdtempSync(join(tmpdir(), 'deskpass-prepared-')))}&pool_max=1${extra}`;
  return { t: await TestApp.start({ databaseUrl: url }), url };
}

async function sessionsOf(t: TestApp, agentId: string): Promise<number> {
  return Number((await t.app.deskpass.deps.db.selectFrom('sessions').select((eb) => eb.fn.countAll<string>().as('n')).where('agent_id', '=', agentId).executeTakeFirstOrThrow()).n);
}

/** A statement sent on a connection of its own, as another instance's migration would be. */
async function asAnotherInstance(url: string, statement: string): Promise<void> {
  const schema = new URL(url).searchParams.get('schema');
  const other = new pg.Client({ connectionString: url.slice(0, url.indexOf('?')), options: `-c search_path=${schema}` });
  await other.connect();
  try {
    await other.query(statement);
  } finally {
    await other.end();
  }
}

describe('named prepared statements (PostgreSQL)', () => {
  let t: TestApp;
  let url: string;
  let agent: { id: string; email: string };

  before(async () => {
    ({ t, url } = await onOneConnection());
    const { agentRoleId } = await t.setup();
    const { id } = await t.addAgent(await t.login(OWNER.email, OWNER.password), { email: 'prepared@acme.test', name: 'Pia Prepared', roleId: agentRoleId, password: PASSWORD });
    agent = { id, email: 'prepared@acme.test' };
  });
  after(async () => {
    await t.close();
    await dropDatabase(url);
  });

  test("a sign-in's statements are prepared once per connection and then only executed", async () => {
    const signIns = 3;
    const before = (await preparedOf(t)).find(isAgentLookup)?.executions ?? 0;
    const sessionsBefore = await sessionsOf(t, agent.id);
    for (let i = 0; i < signIns; i++) assert.equal((await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD } })).status, 200);
    const prepared = await preparedOf(t);
    assert.ok(prepared.every((p) => /^deskpass_\d+$/.test(p.name)), `only the app's names: ${prepared.map((p) => p.name).join(', ')}`);
    const lookups = prepared.filter(isAgentLookup);
    assert.equal(lookups.length, 1, 'the agent lookup is prepared once');
    assert.equal(lookups[0]!.executions - before, signIns, 'and executed once per sign-in');
    // the reservation (carrying its notice) and the one-statement admission are prepared too
    assert.ok(prepared.some((p) => /^with "written" as \(insert into "login_attempts"/.test(p.statement) && /pg_notify\(\$\d+, \$\d+\)/.test(p.statement)), 'the lockout reservation');
    assert.ok(prepared.some((p) => /update "agents" set "last_sign_in_at"/.test(p.statement) && /insert into "sessions"/.test(p.statement)), 'the admission');
    // a statement composed each time (a query of the test's own, the audit page) is not
    assert.ok(prepared.every((p) => !/pg_prepared_statements/.test(p.statement)));
    assert.equal(await sessionsOf(t, agent.id) - sessionsBefore, signIns);
  });

  test('a column added meanwhile by another instance (a rolling upgrade) costs no request: the statement is prepared anew', async () => {
    assert.equal((await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD } })).status, 200);
    const [old] = (await preparedOf(t)).filter(isAgentLookup);
    assert.ok(old, 'the agent lookup is prepared');
    const sessionsBefore = await sessionsOf(t, agent.id);
    // "another instance": a connection of its own adds a column to agents, as a migration would;
    // the prepared lookup (`select "agents".*`) would now answer another row type
    await asAnotherInstance(url, 'alter table agents add column rolling_upgrade_note text');
    const answer = await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(await sessionsOf(t, agent.id), sessionsBefore + 1, 'exactly one session more: nothing ran twice');
    const lookups = (await preparedOf(t)).filter(isAgentLookup);
    const renamed = lookups.find((p) => p.name !== old.name);
    assert.ok(renamed, `the lookup has a new name: ${lookups.map((p) => p.name).join(', ')}`);
    assert.equal(renamed.executions, 1, 'prepared anew and executed once');
    // and the next sign-in uses the new name without another failure
    assert.equal((await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD } })).status, 200);
    assert.equal((await preparedOf(t)).find((p) => p.name === renamed.name)!.executions, 2);
  });

  test('a column type changed meanwhile (text to uuid) costs no request either: the parameter types are inferred anew', async () => {
    assert.equal((await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD } })).status, 200);
    const admissions = () => preparedOf(t).then((all) => all.filter((p) => /insert into "sessions"/.test(p.statement)));
    const [old] = await admissions();
    assert.ok(old, 'the admission is prepared, its session id a text parameter');
    const sessionsBefore = await sessionsOf(t, agent.id);
    const attemptsBefore = await t.app.deskpass.deps.db.selectFrom('login_attempts').selectAll().where('email_normalized', '=', agent.email).execute();
    await asAnotherInstance(url, 'alter table sessions alter column id type uuid using id::uuid');
    const answer = await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(await sessionsOf(t, agent.id), sessionsBefore + 1, 'exactly one session more');
    assert.deepEqual(await t.app.deskpass.deps.db.selectFrom('login_attempts').selectAll().where('email_normalized', '=', agent.email).execute(), attemptsBefore, 'no failed attempt left counted');
    assert.ok((await admissions()).some((p) => p.name !== old.name), 'the admission has a new name');
  });

  test('a prepared statement the connection lost (DEALLOCATE) is parsed again under a new name', async () => {
    assert.equal((await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD } })).status, 200);
    const names = new Set((await preparedOf(t)).map((p) => p.name));
    await sql`deallocate all`.execute(t.app.deskpass.deps.db); // the pool's one connection
    assert.deepEqual(await preparedOf(t), []);
    const answer = await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const now = await preparedOf(t);
    assert.ok(now.some(isAgentLookup), 'the lookup is prepared again');
    assert.ok(now.every((p) => !names.has(p.name)), 'under new names');
  });

  test('inside a transaction the same text goes unnamed: a plan changed meanwhile cannot fail the transaction', async () => {
    const db = t.app.deskpass.deps.db;
    const account = await db.selectFrom('accounts').select('id').executeTakeFirstOrThrow();
    assert.equal((await t.request('POST', LOGIN, { body: { email: agent.email, password: PASSWORD } })).status, 200);
    const executions = () => preparedOf(t).then((all) => all.filter(isAgentLookup).reduce((n, p) => n + p.executions, 0));
    const before = await executions();
    await asAnotherInstance(url, 'alter table agents add column another_rolling_note text');
    const found = await db.transaction().execute(async (trx) => {
      const row = await findAgentByEmail(trx, account.id, agent.email);
      await trx.updateTable('agents').set({ updated_at: new Date().toISOString() }).where('id', '=', agent.id).execute();
      return row;
    });
    assert.equal(found?.id, agent.id, 'the transaction read the agent and committed');
    assert.equal(await executions(), before, 'no prepared plan ran inside it');
  });
});

test('a statement that no longer parses at all (broken, not stale) is refused with the store error, and leaves no prepared statement per failure', async () => {
  const { t, url } = await onOneConnection();
  try {
    await t.setup();
    assert.equal((await t.request('POST', LOGIN, { body: { email: OWNER.email, password: OWNER.password } })).status, 200);
    assert.ok((await preparedOf(t)).some(isAgentLookup));
    // a schema the lookup cannot run against at all: no = operator for point (42883 on every parse)
    const schema = new URL(url).searchParams.get('schema');
    await asAnotherInstance(
      url,
      `do $$ declare i text; begin
         for i in select indexname from pg_indexes where schemaname = '${schema}' and tablename = 'agents' and indexdef like '%email_normalized%' loop
           execute format('alter table agents drop constraint if exists %I', i);
           execute format('drop index if exists %I', i);
         end loop;
       end $$; alter table agents alter column email_normalized type point using point(0, 0)`,
    );
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = await t.request('POST', LOGIN, { body: { email: OWNER.email, password: OWNER.password } });
      assert.notEqual(answer.status, 200);
      counts.push((await preparedOf(t)).length);
    }
    assert.equal(new Set(counts).size, 1, `no prepared statement per failure: ${counts.join(', ')}`);
    assert.ok((await preparedOf(t)).filter(isAgentLookup).length <= 2, 'the old name and at most the one parsed afresh');
  } finally {
    await t.close();
    await dropDatabase(url);
  }
});

test('&prepared_statements=off: every statement goes unnamed, and sign-ins work', async () => {
  const { t, url } = await onOneConnection('&prepared_statements=off');
  try {
    await t.setup();
    for (let i = 0; i < 2; i++) assert.equal((await t.request('POST', LOGIN, { body: { email: OWNER.email, password: OWNER.password } })).status, 200);
    assert.deepEqual(await preparedOf(t), []);
  } finally {
    await t.close();
    await dropDatabase(url);
  }
});

test('&prepared_statements= takes on or off, and &pool_max= a whole number from 1 to 1000; otherwise the start names what is wrong', async () => {
  const base = await freshDatabaseUrl(mkdtempSync(join(tmpdir(), 'deskpass-prepared-')));
  try {
    for (const value of ['maybe', 'ON', '']) await assert.rejects(TestApp.start({ databaseUrl: `${base}&prepared_statements=${value}` }), /prepared_statements= must be on or off/, value);
    for (const value of ['abc', '0', '-1', '1.5', '', '1e9']) await assert.rejects(TestApp.start({ databaseUrl: `${base}&pool_max=${value}` }), /pool_max= must be a whole number of connections from 1 to 1000/, value);
  } finally {
    await dropDatabase(base);
  }
});

test('a changed result type is known by the function PostgreSQL names, in whatever language its messages are (found by the outside tester)', () => {
  // What node-postgres gives for it with lc_messages = 'fr_FR' (this machine has only the C locale, so it is written out here).
  assert.equal(isStale({ code: '0A000', routine: 'RevalidateCachedQuery', message: 'le plan en cache ne doit pas modifier le type de résultat' }), true);
  assert.equal(isStale({ code: '0A000', message: 'cached plan must not change result type' }), true, 'a server that names no function: the English message');
  assert.equal(isStale({ code: '0A000', routine: 'transformLockingClause', message: 'FOR UPDATE is not allowed with aggregate functions' }), false, 'the same code for something else');
  for (const code of ['42804', '42883', '26000']) assert.equal(isStale({ code, routine: 'any', message: 'any' }), true, code);
  assert.equal(isStale({ code: '23505', message: 'duplicate key' }), false);
});
