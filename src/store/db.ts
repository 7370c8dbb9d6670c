import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, type LogEvent, SqliteDialect, type Migration, type MigrationProvider, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import * as initial from './migrations/001-initial.js';
import * as rateLimits from './migrations/002-rate-limits.js';

export type Db = Kysely<Database>;
/** What every repository takes first: the database or an open transaction, so the caller owns the transaction. */
export type Executor = Kysely<Database> | Transaction<Database>;

/** Sees the SQL text of every query (tests prove that paths do the same work). */
export type QueryObserver = (sql: string) => void;

/** Opens the store named by DATABASE_URL (`sqlite:PATH`). */
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
  throw new Error('PostgreSQL support is not built yet: use DATABASE_URL=sqlite:PATH');
}

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
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider(), migrationTableName: 'deskpass_migrations', migrationLockTableName: 'deskpass_migrations_lock' });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
