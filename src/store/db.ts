import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { dialectOf } from './dialect.js';
import { CompiledQuery, Kysely, PostgresDialect, sql, type DatabaseConnection, type Dialect, type Driver, type LogEvent, SqliteDialect, type SqliteDatabase, type Transaction } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import type { Database } from './schema.js';
import { assertPostgresCanDecode, describeStoreFailure, StoreConfigError } from './store-check.js';
import { watchingDialect, type StoreChanges } from './store-changes.js';
import { SqliteChanges } from './sqlite-changes.js';
import { PostgresChanges } from './postgres-changes.js';
import * as initial from './migrations/001-initial.js';
import * as rateLimits from './migrations/002-rate-limits.js';
import * as agentSearch from './migrations/003-agent-search.js';
import * as deviceLockout from './migrations/004-device-lockout.js';
import * as appsAndProvider from './migrations/005-apps-and-provider.js';
import * as secondFactor from './migrations/006-second-factor.js';
import * as agentSubstringSearch from './migrations/007-agent-substring-search.js';
import * as timeZones from './migrations/008-time-zones.js';
import * as sessionEnds from './migrations/010-session-ends.js';
import { preparingStatements } from './prepared-statements.js';

export type Db = Kysely<Database>;
/** What every repository takes first: the database or an open transaction, so the caller owns the transaction. */
export type Executor = Kysely<Database> | Transaction<Database>;

/** Sees the SQL text of every query (tests prove that paths do the same work). */
export type QueryObserver = (sql: string) => void;

/** Opens the store named by DATABASE_URL: `sqlite:PATH` or `postgres://…[?schema=NAME]`. */
export function openDatabase(databaseUrl: string, observeQuery?: QueryObserver): Db {
  const log = observeQuery ? (event: LogEvent) => observeQuery(event.query.sql) : undefined;
  if (databaseUrl.startsWith('sqlite:')) {
    let sqlite: SQLite.Database;
    const path = databaseUrl.slice('sqlite:'.length);
    try {
      sqlite = openSqlite(path);
    } catch (error) {
      throw new StoreConfigError(describeStoreFailure(databaseUrl, error));
    }
    const changes = new SqliteChanges(sqlite);
    return withChanges(new Kysely<Database>({ dialect: watchingDialect(immediateTransactions(new SqliteDialect({ database: withStatementCache(sqlite) })), changes), log }), changes);
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const url = new URL(databaseUrl);
    // `?schema=NAME` puts every table in that schema (tests give each file a fresh one).
    const schema = url.searchParams.get('schema');
    url.searchParams.delete('schema');
    if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new StoreConfigError('DATABASE_URL: the schema in ?schema= must be a plain lower-case identifier (letters, digits, _)');
    // `&pool_max=N` sizes the pool; `&prepared_statements=off` sends every statement unnamed, for a
    // pooler in front of PostgreSQL that cannot keep a connection's prepared statements
    // (PgBouncer's transaction mode before 1.21; prepared-statements.ts).
    const poolMax = Number(url.searchParams.get('pool_max') ?? 10);
    if (!Number.isInteger(poolMax) || poolMax < 1 || poolMax > 1000) throw new StoreConfigError('DATABASE_URL: &pool_max= must be a whole number of connections from 1 to 1000');
    const prepared = url.searchParams.get('prepared_statements') ?? 'on';
    if (prepared !== 'on' && prepared !== 'off') throw new StoreConfigError('DATABASE_URL: &prepared_statements= must be on or off');
    url.searchParams.delete('pool_max');
    url.searchParams.delete('prepared_statements');
    assertPostgresCanDecode(databaseUrl, url.toString());
    const pool = new pg.Pool({
      connectionString: url.toString(),
      max: poolMax,
      // A request waits at most this long for a connection while PostgreSQL is away, then is
      // answered 503 store_unavailable (the default, 0, waits for ever: a restart hung requests).
      connectionTimeoutMillis: 5000,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // A connection that PostgreSQL ends (a restart, pg_terminate_backend) is an 'error' event:
    // on the pool for an idle client, and on the client itself for one that is checked out (its
    // query also fails, and is answered 503). Unheard, either would crash the process. pg drops
    // such a client; the next query connects anew.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => {
      client.on('error', () => undefined);
      if (prepared === 'on') preparingStatements(client);
    });
    const changes = new PostgresChanges({ connectionString: url.toString(), schema });
    return withChanges(new Kysely<Database>({ dialect: watchingDialect(new PostgresDialect({ pool }), changes), log }), changes);
  }
  throw new StoreConfigError('DATABASE_URL must be sqlite:PATH or postgres://USER@HOST:PORT/DATABASE[?schema=NAME]');
}

export { dialectOf };

const storeChanges = new WeakMap<Db, StoreChanges>();

function withChanges(db: Db, changes: StoreChanges): Db {
  storeChanges.set(db, changes);
  return db;
}

/** The change feed of a store openDatabase opened: what a cache of session holders watches (store-changes.ts). */
export function changesOf(db: Db): StoreChanges {
  const changes = storeChanges.get(db);
  if (!changes) throw new Error('changesOf: not a store opened by openDatabase');
  return changes;
}

/**
 * SQLite transactions begin IMMEDIATE: they take the write lock at BEGIN, where `busy_timeout`
 * waits for another process's writer (the CLI's, a second server's on the same file). A deferred
 * transaction that read first and then wrote after another process had committed cannot wait:
 * SQLite answers SQLITE_BUSY_SNAPSHOT at once, a 503 (found by issue 13's third outside tester:
 * with two servers on one file under a sign-in load, a quarter of the administrator's writes were
 * refused). Within one process nothing changes: its one connection runs one transaction at a time.
 */
function immediateTransactions(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new ImmediateTransactions(dialect.createDriver()),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}

class ImmediateTransactions implements Driver {
  constructor(private readonly inner: Driver) {}
  init = () => this.inner.init();
  acquireConnection = () => this.inner.acquireConnection();
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
  commitTransaction = (connection: DatabaseConnection) => this.inner.commitTransaction(connection);
  rollbackTransaction = (connection: DatabaseConnection) => this.inner.rollbackTransaction(connection);
  releaseConnection = (connection: DatabaseConnection) => this.inner.releaseConnection(connection);
  destroy = () => this.inner.destroy();
}

function openSqlite(path: string): SQLite.Database {
  if (path !== ':memory:') createPrivateFile(path);
  const sqlite = new SQLite(path);
  try {
    // WAL lets readers go on while a writer commits; busy_timeout covers a second process (the CLI).
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    // Reads from memory, not read(2) calls and a 2 MiB page cache: the whole store of a help desk
    // of 100,000 agents fits in the 256 MiB map (pages are the OS's page cache, shared, not heap).
    sqlite.pragma('mmap_size = 268435456');
    sqlite.pragma('cache_size = -32768');
  } catch (error) {
    sqlite.close();
    throw error;
  }
  return sqlite;
}

/**
 * The database holds password hashes and the audit log: its folder is made 0700 and the file
 * 0600 before SQLite opens it, whatever the umask. SQLite gives its -wal and -shm files the
 * main file's mode; files from an older start that are open to others are narrowed too.
 */
function createPrivateFile(path: string): void {
  mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 });
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file) && (statSync(file).mode & 0o077) !== 0) chmodSync(file, statSync(file).mode & 0o700);
  }
}

/**
 * Kysely prepares every query it runs, and better-sqlite3 compiles SQL on every prepare() —
 * for a cheap indexed read, compiling costs more than running. The same few dozen SQL texts
 * come back on every request, so their compiled statements are kept (least recently used out).
 * Safe because better-sqlite3 is synchronous: a statement finishes before the next one starts
 * (Kysely's streaming, the one exception, is not used here).
 */
function withStatementCache(sqlite: SQLite.Database, maxStatements = 256): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      // SQLite ends a transaction by itself on some errors (SQLITE_FULL: the disk is full); the
      // ROLLBACK Kysely then sends would fail with "no transaction is active" and hide the real
      // error (a 500 instead of 503 storage_full). With no transaction open, it is a no-op.
      if (text === 'rollback') {
        const rollback = sqlite.prepare(text);
        return {
          reader: false,
          all: (...params: unknown[]) => rollback.all(...params),
          iterate: (...params: unknown[]) => rollback.iterate(...params),
          run: (...params: unknown[]) => (sqlite.inTransaction ? rollback.run(...params) : { changes: 0, lastInsertRowid: 0 }),
        } as unknown as SQLite.Statement;
      }
      let statement = statements.get(text);
      if (statement) {
        statements.delete(text); // re-inserted below: most recently used last
      } else {
        statement = sqlite.prepare(text);
        if (statements.size >= maxStatements) statements.delete(statements.keys().next().value!);
      }
      statements.set(text, statement);
      return statement;
    },
  };
}

const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-rate-limits': rateLimits,
  '003-agent-search': agentSearch,
  '004-device-lockout': deviceLockout,
  '005-apps-and-provider': appsAndProvider,
  '006-second-factor': secondFactor,
  '007-agent-substring-search': agentSubstringSearch,
  '008-time-zones': timeZones,
  '010-session-ends': sessionEnds,
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
