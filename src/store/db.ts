import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { dialectOf } from './dialect.js';
import { Kysely, Migrator, PostgresDialect, sql, type LogEvent, SqliteDialect, type Migration, type MigrationProvider, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import * as initial from './migrations/001-initial.js';
import * as rateLimits from './migrations/002-rate-limits.js';

export type Db = Kysely<Database>;
/** What every repository takes first: the database or an open transaction, so the caller owns the transaction. */
export type Executor = Kysely<Database> | Transaction<Database>;

/** Sees the SQL text of every query (tests prove that paths do the same work). */
export type QueryObserver = (sql: string) => void;

/** Opens the store named by DATABASE_URL: `sqlite:PATH` or `postgres://…[?schema=NAME]`. */
export function openDatabase(databaseUrl: string, observeQuery?: QueryObserver): Db {
  const log = observeQuery ? (event: LogEvent) => observeQuery(event.query.sql) : undefined;
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
    const sqlite = new SQLite(path);
    // WAL lets readers go on while a writer commits; busy_timeout covers a second process (the CLI).
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }), log });
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const url = new URL(databaseUrl);
    // `?schema=NAME` puts every table in that schema (tests give each file a fresh one).
    const schema = url.searchParams.get('schema');
    url.searchParams.delete('schema');
    if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error('the schema in DATABASE_URL must be a plain lower-case identifier');
    const pool = new pg.Pool({
      connectionString: url.toString(),
      max: Number(url.searchParams.get('pool_max') ?? 10),
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log });
  }
  throw new Error('DATABASE_URL must be sqlite:PATH or postgres://…');
}

export { dialectOf };

const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-rate-limits': rateLimits,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

/** Brings the schema up to date; safe to run at every start. */
export async function migrateToLatest(db: Db): Promise<void> {
  // On PostgreSQL the bookkeeping tables live in the connection's schema, not wherever
  // another schema of the same database happens to have them.
  const migrationTableSchema =
    dialectOf(db) === 'postgres' ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema : undefined;
  const migrator = new Migrator({
    db,
    provider: new StaticMigrationProvider(),
    migrationTableName: 'deskpass_migrations',
    migrationLockTableName: 'deskpass_migrations_lock',
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
