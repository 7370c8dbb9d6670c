// Issue 13, "Speed": the statements every sign-in sends are composed and compiled by Kysely once
// per dialect (src/store/compiled-once.ts). These tests hold that what runs is exactly what the
// builder composes with the call's values, and that a builder whose shape depends on a value is
// refused at its first use instead of running the first call's statement for every call.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, sql, type CompiledQuery } from 'kysely';
import { compiledOnce } from '../src/store/compiled-once.js';
import type { Database } from '../src/store/schema.js';

/** A Kysely that runs nothing and records every statement it was asked to run. */
function recordingDb(dialect: 'sqlite' | 'postgres') {
  const ran: CompiledQuery[] = [];
  const db = new Kysely<Database>({
    dialect: {
      createAdapter: () => (dialect === 'postgres' ? new PostgresAdapter() : new SqliteAdapter()),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => (dialect === 'postgres' ? new PostgresIntrospector(k) : new SqliteIntrospector(k)),
      createQueryCompiler: () => (dialect === 'postgres' ? new PostgresQueryCompiler() : new SqliteQueryCompiler()),
    },
    log: (event) => void ran.push(event.query),
  });
  return { db, ran };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`compiledOnce (${dialect})`, () => {
    test('runs what the builder composes with each call’s values, values and rows alike', async () => {
      const { db, ran } = recordingDb(dialect);
      const build = (k: typeof db, accountId: string, row: { id: string; ip: string | null }, limit: number) =>
        k.selectFrom('sessions').select(['id']).where('account_id', '=', accountId).where('id', '=', row.id).where(sql<boolean>`ip = ${row.ip} or ${row.ip} is null`).limit(limit);
      const run = compiledOnce((k, accountId: string, row: { id: string; ip: string | null }, limit: number) => build(k as typeof db, accountId, row, limit));
      const calls: [string, { id: string; ip: string | null }, number][] = [
        ['acc-1', { id: 's-1', ip: '10.0.0.1' }, 5],
        ['acc-2', { id: 's-2', ip: null }, 1],
        ['acc-3', { id: "s-3'; drop table sessions; --", ip: '::1' }, 7],
      ];
      for (const [accountId, row, limit] of calls) await run(db, accountId, row, limit);
      assert.equal(ran.length, calls.length);
      calls.forEach(([accountId, row, limit], i) => {
        const expected = build(db, accountId, row, limit).compile();
        assert.equal(ran[i]!.sql, expected.sql);
        assert.deepEqual(ran[i]!.parameters, expected.parameters);
      });
    });

    test('keeps the builder’s own constants', async () => {
      const { db, ran } = recordingDb(dialect);
      const run = compiledOnce((k, email: string) => k.selectFrom('agents').select('id').where('email_normalized', '=', email).where('status', '=', 'active').limit(1));
      await run(db, 'a@x.test');
      await run(db, 'b@x.test');
      assert.deepEqual(ran.map((q) => q.parameters), [['a@x.test', 'active', 1], ['b@x.test', 'active', 1]]);
    });

    test('refuses a value written into the SQL text', async () => {
      const { db, ran } = recordingDb(dialect);
      const run = compiledOnce((k, table: string) => k.selectFrom(sql.table(table).as('t')).selectAll());
      await assert.rejects(async () => run(db, 'agents'), /went into the SQL text/);
      assert.equal(ran.length, 0, 'nothing ran');
    });

    test('refuses a value the builder transforms', async () => {
      const { db, ran } = recordingDb(dialect);
      const run = compiledOnce((k, email: string) => k.selectFrom('agents').select('id').where('email_normalized', '=', email.trim().toLowerCase() + '!'));
      await assert.rejects(async () => run(db, 'A@x.test'), /transformed/);
      assert.equal(ran.length, 0, 'nothing ran');
    });

    test('refuses a value that chooses the shape instead of being a parameter', async () => {
      const { db, ran } = recordingDb(dialect);
      const run = compiledOnce((k, id: string, onlyLocked: string) => {
        const q = k.selectFrom('agents').select('id').where('id', '=', id);
        return onlyLocked ? q.where('status', '=', 'locked') : q;
      });
      await assert.rejects(async () => run(db, 'a', ''), /1 of 2 values are not parameters/);
      assert.equal(ran.length, 0, 'nothing ran');
    });
  });
}
