// Issue 13, "Speed": the session holders of authenticated requests are kept in memory
// (src/store/change-bound-cache.ts), and no committed change outlives them
// (src/store/store-changes.ts). Each test asserts what a revocation must do to the very next
// request, and that the request before it really was served from memory (no store read).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OWNER, TestApp, freshIp } from './support/harness.js';
import { changesSessionHolders, type StoreChanges } from '../src/store/store-changes.js';
import { ChangeBoundCache } from '../src/store/change-bound-cache.js';
import { ScopeLog, addressScope, agentScope } from '../src/store/change-scopes.js';
import { PostgresChanges } from '../src/store/postgres-changes.js';
import { changesOf } from '../src/store/db.js';
import { DEFAULT_SETTINGS } from '../src/domain/account-settings.js';
import { MS_PER_HOUR, MS_PER_MINUTE } from '../src/domain/clock.js';

describe('which statements change a session holder', () => {
  const changing = [
    'update "agents" set "status" = ?, "updated_at" = ? where "id" = ? and "account_id" = ?',
    'delete from "sessions" where "agent_id" = ? returning "id", "token_hash", "account_id", "agent_id"',
    'insert into "login_attempts" ("account_id", "email_normalized", "client", "failures") values ($1, $2, $3, $4) on conflict ("account_id", "email_normalized", "client") do update set "failures" = "login_attempts"."failures" + 1',
    'delete from "login_attempts" where "account_id" = ?',
    'update "roles" set "permissions" = ? where "id" = ?',
    'update "accounts" set "settings" = ? where "id" = ?',
    'update "sessions" set "authenticated_at" = ?, "last_seen_at" = ? where "id" = ?',
    'update "sessions" set "last_seen_at" = ? where "id" = ? and "agent_id" = ?',
    'with "ended" as (delete from "sessions" where "expires_at" <= $1 returning "id") select count(*) from "ended"',
    'UPDATE agents SET status = \'deactivated\'',
    'update "t_abc"."agents" set "name" = $1 where "id" = $2',
    'insert into "agents" ("id", "email") values (?, ?)',
    'insert or replace into "roles" ("id") values (?)',
    'truncate table "sessions"',
  ];
  const unchanging = [
    'select "agents".* from "sessions" as "s" inner join "agents" on "agents"."id" = "s"."agent_id" where "s"."token_hash" = ?',
    'insert into "sessions" ("id", "account_id", "agent_id", "token_hash") values (?, ?, ?, ?)',
    'update "sessions" set "last_seen_at" = ? where "id" = ?',
    'update "sessions" set "last_seen_at" = $1 where "id" = $2',
    'insert into "audit_events" ("id", "type") values (?, ?)',
    'update "mail_outbox" set "attempts" = ? where "id" = ?',
    'select "id" from "sessions" where "id" = $1 for update',
    'insert into "agent_search_terms" ("agent_id", "term") values (?, ?)',
    'delete from "session_ends" where "token_hash" in (?)',
    'update "agents_archive" set "x" = 1',
  ];
  for (const sql of changing) test(`changes: ${sql.slice(0, 70)}`, () => assert.equal(changesSessionHolders(sql), true));
  for (const sql of unchanging) test(`does not change: ${sql.slice(0, 70)}`, () => assert.equal(changesSessionHolders(sql), false));
});

/** A change feed whose version and scoped changes the test moves. */
class FakeChanges implements StoreChanges {
  current: number | null = 0;
  readonly scopes: ScopeLog;
  constructor(scopeCapacity?: number) {
    this.scopes = new ScopeLog(scopeCapacity);
  }
  version() {
    return this.current;
  }
  accountsVersion() {
    return this.current;
  }
  scopeSequence() {
    return this.scopes.sequence;
  }
  scopesSince(sequence: number) {
    return this.scopes.since(sequence);
  }
  async listen() {}
  async close() {}
}

/** rows of the form `<scope>=<text>`: their scope is before the `=` */
const scopeBeforeEquals = (row: string) => [row.split('=')[0]!];

describe('the cache of session holders', () => {
  test('keeps at most maxEntries (the least recently used go first)', async () => {
    const cache = new ChangeBoundCache<string>(new FakeChanges(), { maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) await cache.find(key, async () => `row ${key}`);
    await cache.find('a', async () => assert.fail('a is kept'));
    await cache.find('d', async () => 'row d');
    assert.equal(cache.size, 3);
    let reloaded = false;
    await cache.find('b', async () => ((reloaded = true), 'row b'));
    assert.ok(reloaded, 'b, the least recently used, went first');
  });

  test('a row whose read overlapped a committed change is not kept', async () => {
    const changes = new FakeChanges();
    const cache = new ChangeBoundCache<string>(changes);
    await cache.find('a', async () => {
      changes.current! += 1; // a commit while the row was being read
      return 'old row';
    });
    assert.equal(cache.size, 0);
    assert.equal((await cache.find('a', async () => 'new row')).row, 'new row');
  });

  test('a moved version empties the cache; an unknown one (listener down) serves and keeps nothing', async () => {
    const changes = new FakeChanges();
    const cache = new ChangeBoundCache<string>(changes);
    await cache.find('a', async () => 'row 1');
    assert.equal((await cache.find('a', async () => 'row 2')).cached, true);
    changes.current = 1;
    assert.deepEqual(await cache.find('a', async () => 'row 2'), { row: 'row 2', cached: false });
    changes.current = null;
    assert.deepEqual(await cache.find('a', async () => 'row 3'), { row: 'row 3', cached: false });
    assert.deepEqual(await cache.find('a', async () => 'row 4'), { row: 'row 4', cached: false });
    assert.equal(cache.size, 0);
  });

  test('a scoped change forgets the rows of its scopes and keeps the others', async () => {
    const changes = new FakeChanges();
    const cache = new ChangeBoundCache<string>(changes, { scopesOf: scopeBeforeEquals });
    await cache.find('a', async () => 'x=row a');
    await cache.find('b', async () => 'y=row b');
    await cache.find('c', async () => 'x=row c');
    changes.scopes.record(['x']);
    assert.deepEqual(await cache.find('a', async () => 'x=row a 2'), { row: 'x=row a 2', cached: false });
    assert.deepEqual(await cache.find('b', async () => assert.fail('b is kept')), { row: 'y=row b', cached: true });
    assert.deepEqual(await cache.find('c', async () => 'x=row c 2'), { row: 'x=row c 2', cached: false });
    changes.scopes.record(['z', 'y']);
    changes.scopes.record(['w']);
    assert.deepEqual(await cache.find('b', async () => 'y=row b 2'), { row: 'y=row b 2', cached: false });
    assert.deepEqual(await cache.find('a', async () => assert.fail('a is kept')), { row: 'x=row a 2', cached: true });
    assert.equal(cache.size, 3);
  });

  test('a row whose read overlapped a scoped change of its own scope is not kept; of another scope, it is', async () => {
    const changes = new FakeChanges();
    const cache = new ChangeBoundCache<string>(changes, { scopesOf: scopeBeforeEquals });
    await cache.find('a', async () => {
      changes.scopes.record(['x']);
      return 'x=old row';
    });
    assert.equal(cache.size, 0);
    await cache.find('b', async () => {
      changes.scopes.record(['x']);
      return 'y=row b';
    });
    assert.deepEqual(await cache.find('b', async () => assert.fail('b is kept')), { row: 'y=row b', cached: true });
  });

  test('without scopesOf, or past what the log keeps, a scoped change drops everything', async () => {
    const changes = new FakeChanges(4);
    const unscoped = new ChangeBoundCache<string>(changes);
    await unscoped.find('a', async () => 'y=row a');
    changes.scopes.record(['x']);
    assert.equal((await unscoped.find('a', async () => 'y=row a 2')).cached, false);
    await unscoped.find('b', async () => {
      changes.scopes.record(['x']);
      return 'y=row b';
    });
    assert.equal(unscoped.size, 1, 'b, read across a scoped change, was not kept');

    const scoped = new ChangeBoundCache<string>(changes, { scopesOf: scopeBeforeEquals });
    await scoped.find('a', async () => 'y=row a');
    for (let i = 0; i < 4; i += 1) changes.scopes.record(['x']);
    assert.equal((await scoped.find('a', async () => assert.fail('a is kept'))).cached, true, 'four changes of x: the log still has them all');
    for (let i = 0; i < 5; i += 1) changes.scopes.record(['x']);
    assert.deepEqual(await scoped.find('a', async () => 'y=row a 2'), { row: 'y=row a 2', cached: false }, 'five: some are gone, so all is dropped');
  });

  test('an entry is read again after maxAgeMs, and unknown tokens are never kept', async () => {
    let now = 0;
    const cache = new ChangeBoundCache<string>(new FakeChanges(), { maxAgeMs: 1000, now: () => now });
    await cache.find('a', async () => 'row 1');
    now = 999;
    assert.equal((await cache.find('a', async () => 'row 2')).row, 'row 1');
    now = 1000;
    assert.equal((await cache.find('a', async () => 'row 2')).row, 'row 2');
    await cache.find('nobody', async () => undefined);
    assert.equal(cache.size, 1);
  });
});

describe('a cached session holder never outlives a change (one instance)', () => {
  let t: TestApp;
  let owner: string;
  let agentRoleId: string;
  let counter = 0;
  before(async () => {
    t = await TestApp.start();
    ({ ownerToken: owner, agentRoleId } = await t.setup());
  });
  after(async () => t?.close());

  async function newAgent(roleId = agentRoleId) {
    counter += 1;
    const password = 'Quartz-Harbor-Meadow-31';
    const email = `cached${counter}@acme.test`;
    const agent = await t.addAgent(owner, { email, name: `Casey Cache ${counter}`, roleId, password });
    return { ...agent, email, password };
  }

  /** GET /me twice: the second must come from memory (a cache hit, and no statement on the store). */
  async function cachedMe(token: string) {
    assert.equal((await t.get('/api/v1/me', token)).status, 200);
    const stats = t.app.deskpass.deps.sessionHolders!.stats;
    const hits = stats.hits;
    const queriesBefore = t.queries.length;
    const answer = await t.get('/api/v1/me', token);
    assert.equal(answer.status, 200);
    assert.equal(t.app.deskpass.deps.sessionHolders!.stats.hits, hits + 1, 'the second /me was a cache hit');
    assert.deepEqual(t.queries.slice(queriesBefore), [], 'and read nothing from the store');
    return answer.body;
  }

  test('deactivating an agent: their next request is 401', async () => {
    const agent = await newAgent();
    await cachedMe(agent.token);
    assert.equal((await t.patch(`/api/v1/agents/${agent.id}`, { status: 'deactivated' }, owner)).status, 200);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 401);
  });

  test('"sign out everywhere", one session signed out by an admin, and signing out: the next request is 401', async () => {
    const agent = await newAgent();
    const second = await t.login(agent.email, agent.password);
    const third = await t.login(agent.email, agent.password);
    for (const token of [agent.token, second, third]) await cachedMe(token);

    const sessions = (await t.get('/api/v1/me/sessions', second)).body.sessions as { id: string; current: boolean }[];
    const secondId = sessions.find((s) => s.current)!.id;
    await cachedMe(second);
    assert.equal((await t.delete(`/api/v1/agents/${agent.id}/sessions/${secondId}`, owner)).status, 204);
    assert.equal((await t.get('/api/v1/me', second)).status, 401);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 200, 'only that session ended');

    await cachedMe(third);
    assert.equal((await t.post('/api/v1/auth/logout', undefined, third)).status, 204);
    assert.equal((await t.get('/api/v1/me', third)).status, 401);

    await cachedMe(agent.token);
    assert.equal((await t.post(`/api/v1/agents/${agent.id}/sessions/revoke`, undefined, owner)).status, 204);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 401);
  });

  test('an admin sets the password: the agent\'s cached sessions end', async () => {
    const agent = await newAgent();
    await cachedMe(agent.token);
    const set = await t.put(`/api/v1/agents/${agent.id}/password`, { password: 'Lantern-Orchid-Basalt-58', requireChangeAtNextLogin: false }, owner);
    assert.equal(set.status, 204);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 401);
  });

  test("a role loses a permission: its holders' next request is refused, and /me shows the new permissions", async () => {
    const roleId = await t.role(owner, `Cache supervisors ${counter}`, ['manage_agents']);
    const agent = await newAgent(roleId);
    assert.equal((await t.get('/api/v1/agents', agent.token)).status, 200);
    assert.deepEqual((await cachedMe(agent.token)).role.permissions, ['manage_agents']);
    assert.equal((await t.patch(`/api/v1/roles/${roleId}`, { permissions: [] }, owner)).status, 200);
    assert.deepEqual((await t.get('/api/v1/me', agent.token)).body.role.permissions, []);
    assert.equal((await t.get('/api/v1/agents', agent.token)).status, 403);
  });

  test('failed sign-ins lock the agent: /me says locked at once', async () => {
    const agent = await newAgent();
    assert.equal((await cachedMe(agent.token)).locked, false);
    const ip = freshIp();
    for (let i = 0; i < 5; i += 1) await t.request('POST', '/api/v1/auth/login', { body: { email: agent.email, password: 'wrong-password-entirely' }, ip });
    assert.equal((await t.get('/api/v1/me', agent.token)).body.locked, true);
  });

  test("other agents' sign-ins, right and wrong, leave a holder in memory; the agent's own sign-in is in its very next /me", async () => {
    const agent = await newAgent();
    const other = await newAgent();
    const before = await cachedMe(agent.token);
    await t.login(other.email, other.password);
    assert.equal((await t.request('POST', '/api/v1/auth/login', { body: { email: other.email, password: 'wrong-password-entirely' }, ip: freshIp() })).status, 401);
    await t.login(other.email, other.password);
    const hits = t.app.deskpass.deps.sessionHolders!.stats.hits;
    const queriesBefore = t.queries.length;
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 200);
    assert.equal(t.app.deskpass.deps.sessionHolders!.stats.hits, hits + 1, "a cache hit after the other agent's sign-ins");
    assert.deepEqual(t.queries.slice(queriesBefore), [], 'and no store read');
    t.clock.advanceMs(MS_PER_MINUTE);
    await t.login(agent.email, agent.password);
    const after = (await t.get('/api/v1/me', agent.token)).body;
    assert.equal(after.lastSignInAt, t.clock.now().toISOString(), `the sign-in a minute after ${before.lastSignInAt}`);
  });

  test("a sign-in changes only its agent's and its address's holders (scoped), a password set every holder", async () => {
    const changes = changesOf(t.app.deskpass.deps.db);
    const agent = await newAgent();
    const { account_id: accountId } = await t.app.deskpass.deps.db.selectFrom('agents').select('account_id').where('id', '=', agent.id).executeTakeFirstOrThrow();
    const sequence = changes.scopeSequence();
    await t.login(agent.email, agent.password);
    assert.deepEqual([...changes.scopesSince(sequence)!].sort(), [agentScope(agent.id), addressScope(accountId, agent.email)].sort());
    const afterSignIn = changes.scopeSequence();
    const set = await t.put(`/api/v1/agents/${agent.id}/password`, { password: 'Lantern-Orchid-Basalt-58', requireChangeAtNextLogin: false }, owner);
    assert.equal(set.status, 204);
    assert.equal(changes.scopeSequence(), afterSignIn, 'the password set is no scoped change');
  });

  test('sign-ins leave the account row in memory, and a settings change is read by the very next sign-in', async () => {
    const agent = await newAgent();
    await t.login(agent.email, agent.password);
    const queriesBefore = t.queries.length;
    await t.login(agent.email, agent.password);
    await t.login(agent.email, agent.password);
    assert.deepEqual(t.queries.slice(queriesBefore).filter((sql) => /from "accounts"/.test(sql)), [], 'two sign-ins read no account row');
    assert.notEqual(DEFAULT_SETTINGS.lockoutThreshold, 3);
    assert.equal((await t.patch('/api/v1/account', { lockoutThreshold: 3 }, owner)).status, 200);
    try {
      const ip = freshIp();
      const wrong = (i: number) => t.request('POST', '/api/v1/auth/login', { body: { email: agent.email, password: `Wrong-Guess-${i}-Abc` }, ip });
      assert.equal((await wrong(1)).status, 401);
      assert.equal((await wrong(2)).status, 401);
      assert.equal((await wrong(3)).status, 423, 'the third failure locks under the new threshold');
      assert.equal((await t.get('/api/v1/me', agent.token)).body.locked, true);
    } finally {
      assert.equal((await t.patch('/api/v1/account', { lockoutThreshold: DEFAULT_SETTINGS.lockoutThreshold }, owner)).status, 200);
    }
  });

  test('the idle timeout ends a cached session on time, and the session row is gone', async () => {
    const agent = await newAgent();
    await cachedMe(agent.token);
    const idleHours = (await t.get('/api/v1/account', owner)).body.settings.sessionIdleHours as number;
    t.clock.advanceMs(idleHours * MS_PER_HOUR + 1000);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 401);
    const left = await t.app.deskpass.deps.db.selectFrom('sessions').select('id').where('agent_id', '=', agent.id).execute();
    assert.deepEqual(left, []);
    owner = await t.login(OWNER.email, OWNER.password); // the owner's session idled out too
  });

  test("activity is still recorded once a minute, and a cached holder's last-seen time follows it", async () => {
    const agent = await newAgent();
    await cachedMe(agent.token);
    const lastSeen = async () => (await t.app.deskpass.deps.db.selectFrom('sessions').select('last_seen_at').where('agent_id', '=', agent.id).executeTakeFirstOrThrow()).last_seen_at;
    const before = await lastSeen();
    t.clock.advanceMs(2 * MS_PER_MINUTE);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 200);
    const after = await lastSeen();
    assert.ok(after > before, `last_seen_at moved: ${before} → ${after}`);
    const sessions = (await t.get('/api/v1/me/sessions', agent.token)).body.sessions as { current: boolean; lastSeenAt: string }[];
    assert.equal(sessions.find((s) => s.current)!.lastSeenAt, after);
    await cachedMe(agent.token);
  });

  test('a write that rolls back leaves the cache serving (nothing changed)', async () => {
    const agent = await newAgent();
    await cachedMe(agent.token);
    await assert.rejects(
      t.app.deskpass.deps.db.transaction().execute(async (trx) => {
        await trx.updateTable('agents').set({ status: 'deactivated' }).where('id', '=', agent.id).execute();
        throw new Error('rolled back on purpose');
      }),
      /rolled back on purpose/,
    );
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 200);
  });

  test('a change written straight to the store, outside any flow, is seen at the next request', async () => {
    const agent = await newAgent();
    await cachedMe(agent.token);
    await t.app.deskpass.deps.db.updateTable('agents').set({ name: 'Renamed Outside' }).where('id', '=', agent.id).execute();
    assert.equal((await t.get('/api/v1/me', agent.token)).body.name, 'Renamed Outside');
  });

  test('every write statement these flows sent that names a holder table is seen as a change (but the touch and a new session)', () => {
    const watched = /"(agents|accounts|roles|login_attempts|sessions)"/;
    const writes = t.queries.filter((sql) => /^\s*(with\b[\s\S]*?\)\s*)?(insert|update|delete)\b/i.test(sql) && watched.test(sql));
    assert.ok(writes.length > 20, `many writes were seen (${writes.length})`);
    const missed = writes.filter((sql) => !changesSessionHolders(sql) && !/^insert into "sessions" /.test(sql) && !/^update "sessions" set "last_seen_at" = (\?|\$1) where "id" = (\?|\$2)$/.test(sql));
    // statements that write another table and only read a holder table are fine: name them here
    const readsOnly = missed.filter((sql) => !/^\s*(insert into|update|delete from) "(agents|accounts|roles|login_attempts|sessions)"/.test(sql));
    assert.deepEqual(missed.filter((sql) => !readsOnly.includes(sql)), []);
  });
});

describe('the notice and the COMMIT in one round trip (PostgreSQL)', () => {
  test('are one simple query when the channel and the announcement are plain words', () => {
    const feed = new PostgresChanges({ connectionString: 'postgres://unused', schema: 't_abc123' });
    assert.equal(feed.announceAndCommitSql('0a1b2c3d4e5f:17'), "select pg_notify('deskpass_changes_t_abc123', '0a1b2c3d4e5f:17'); commit");
  });

  test("a scoped change's notice names its scopes after the holders-only mark, and still goes with the COMMIT", () => {
    const feed = new PostgresChanges({ connectionString: 'postgres://unused', schema: 't_abc123' });
    const scopes = [agentScope('agent-1'), addressScope('account-1', 'casey@acme.test')];
    const announcement = feed.nextAnnouncement(false, scopes);
    assert.match(announcement, /^[0-9a-f]{12}:1h\.[0-9a-f]{16}\.[0-9a-f]{16}$/);
    assert.deepEqual(announcement.split('.').slice(1), scopes);
    assert.equal(feed.announceAndCommitSql(announcement), `select pg_notify('deskpass_changes_t_abc123', '${announcement}'); commit`);
    assert.match(feed.nextAnnouncement(true, scopes), /^[0-9a-f]{12}:2$/, 'a commit that wrote the account is no scoped change');
    assert.match(feed.nextAnnouncement(false, null), /^[0-9a-f]{12}:3h$/);
  });

  test('go apart, with parameters, when either holds anything else', () => {
    const quoted = new PostgresChanges({ connectionString: 'postgres://unused', schema: "x'; drop table agents; --" });
    assert.equal(quoted.announceAndCommitSql('0a1b:1'), null);
    const plain = new PostgresChanges({ connectionString: 'postgres://unused', schema: null });
    assert.equal(plain.announceAndCommitSql("0a1b:1'); commit; --"), null);
    assert.equal(plain.announceAndCommitSql('0a1b:1\\'), null);
  });
});
