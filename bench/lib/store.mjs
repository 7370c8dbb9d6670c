// Direct access to the server's store from the benchmark, for bulk seeding with plain SQL (not
// through the HTTP API: 100,000 agents and 1,000,000 audit events would take far too long).
// One small interface over both dialects: query(sql, params) → rows, and close().
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

/** SQLite: the server's own file, opened beside the running server (WAL lets both work). */
export function openSqliteStore(path) {
  const db = new Database(path);
  db.pragma('busy_timeout = 10000');
  return {
    dialect: 'sqlite',
    async query(sql, params = []) {
      const statement = db.prepare(sql);
      return statement.reader ? statement.all(...params) : (statement.run(...params), []);
    },
    /** Many rows through one prepared statement in one transaction: SQLite's fastest bulk path. */
    async insertMany(sql, rows) {
      const statement = db.prepare(sql);
      db.transaction((all) => {
        for (const row of all) statement.run(...row);
      })(rows);
    },
    /**
     * Rows of text columns only (the millions of search index rows): as insertMany, 20,000 rows a
     * transaction, so that the running server's own writes (sweeps, the outbox) never wait longer
     * than its busy timeout for the lock.
     */
    async insertText(table, columns, rows, batchSize = 20_000) {
      const sql = `insert into ${table} (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`;
      for (let start = 0; start < rows.length; start += batchSize) {
        await this.insertMany(sql, rows.slice(start, start + batchSize));
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    async close() {
      // Fold the seeding's large WAL back into the database file before the measurements.
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

/** PostgreSQL: one client on the benchmark's schema. */
export async function openPostgresStore(url, schema) {
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  return {
    dialect: 'postgres',
    async query(sql, params = []) {
      // the benchmark writes its SQL with ? placeholders, as SQLite takes them
      let n = 0;
      const text = sql.replace(/\?/g, () => `$${++n}`);
      return (await client.query(text, params)).rows;
    },
    /** Rows in batches of multi-row INSERTs (one round trip per batch), in one transaction. */
    async insertMany(sql, rows, batchSize = 2000) {
      const match = /^(.*\bvalues\s*)\((.*)\)\s*$/is.exec(sql);
      if (!match) throw new Error('insertMany wants "insert … values (?, …)"');
      const width = match[2].split(',').length;
      await client.query('begin');
      try {
        for (let start = 0; start < rows.length; start += batchSize) {
          const batch = rows.slice(start, start + batchSize);
          const tuples = batch.map((_, i) => `(${Array.from({ length: width }, (_, j) => `$${i * width + j + 1}`).join(', ')})`);
          await client.query(match[1] + tuples.join(', '), batch.flat());
        }
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw error;
      }
    },
    /**
     * Rows of text columns only (the millions of search index rows): one array per column through
     * unnest(), 50,000 rows a statement, in one transaction — far fewer parameters to parse than VALUES.
     */
    async insertText(table, columns, rows, batchSize = 50_000) {
      await client.query('begin');
      try {
        for (let start = 0; start < rows.length; start += batchSize) {
          const batch = rows.slice(start, start + batchSize);
          const arrays = columns.map((_, c) => batch.map((row) => row[c]));
          await client.query(`insert into ${table} (${columns.join(', ')}) select * from unnest(${columns.map((_, c) => `$${c + 1}::text[]`).join(', ')})`, arrays);
        }
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw error;
      }
    },
    async close() {
      await client.end();
    },
  };
}

/** Creates (and later drops) a throw-away schema for one benchmark run on PostgreSQL. */
export async function withPostgresSchema(url, schema, run) {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  try {
    return await run();
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}

/**
 * Runs `run({ dir, storeEnv, openStore })` against a throw-away store of `dialect`: a SQLite file
 * in a fresh temporary folder `dir`, or a fresh schema at the PostgreSQL server `pgUrl`. `storeEnv`
 * is the server's DATABASE_URL for it (with a SECRET_KEY on PostgreSQL, which requires one);
 * `openStore()` opens it for bulk seeding. The folder and the schema are removed afterwards.
 */
export async function inThrowAwayStore(dialect, pgUrl, run) {
  const dir = mkdtempSync(join(tmpdir(), `deskpass-bench-${dialect}-`));
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const sqlitePath = join(dir, 'deskpass.sqlite');
  const storeEnv = dialect === 'sqlite' ? { DATABASE_URL: `sqlite:${sqlitePath}` } : { DATABASE_URL: `${pgUrl}?schema=${schema}`, SECRET_KEY: randomBytes(32).toString('hex') };
  const openStore = async () => (dialect === 'sqlite' ? openSqliteStore(sqlitePath) : openPostgresStore(pgUrl, schema));
  const go = () => run({ dir, storeEnv, openStore });
  try {
    return dialect === 'postgres' ? await withPostgresSchema(pgUrl, schema, go) : await go();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
