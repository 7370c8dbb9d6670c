import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import type SQLite from 'better-sqlite3';
import pg from 'pg';
import { CompiledQuery, type DatabaseConnection, type Dialect, type Driver, type QueryResult, type TransactionSettings } from 'kysely';

/**
 * Which committed writes can change what a request's session holder reads (the session, its
 * account, agent, role and lock state: findSessionHolder), seen below Kysely, on every statement
 * every repository sends, so that a cache of holders cannot miss a write by construction:
 *
 * - an INSERT, UPDATE or DELETE (or UPSERT, TRUNCATE) of `agents`, `accounts`, `roles` or
 *   `login_attempts`, anywhere in a statement's text (a CTE, raw SQL);
 * - an UPDATE or DELETE of `sessions`. A new session's INSERT changes no holder that exists, and
 *   the once-a-minute `last_seen_at` touch is left out on purpose (see SESSION_TOUCH): a holder
 *   read before it is at most a minute behind, and a session is never ended on a cached holder's
 *   `last_seen_at` (flows/sessions.ts reads it again first).
 *
 * A false positive only empties the cache; a write this pattern missed would leave a revoked
 * session alive on a cached holder, so the pattern errs wide and test/store-changes.test.ts holds
 * every write statement the repositories send against it.
 */
const HOLDER_WRITE = /\b(?:insert(?:\s+or\s+\w+)?\s+into|replace\s+into|update(?:\s+or\s+\w+)?|delete\s+from|truncate(?:\s+table)?)\s+(?:only\s+)?(?:"?\w+"?\.)?"?(agents|accounts|roles|login_attempts|sessions)\b/gi;
const SESSION_INSERT = /^\s*insert\s+into\s+"?sessions"?\s/i;
/** touchSession's statement, exactly as Kysely compiles it on either dialect */
const SESSION_TOUCH = /^update "sessions" set "last_seen_at" = (?:\?|\$1) where "id" = (?:\?|\$2)$/;

export function changesSessionHolders(sql: string): boolean {
  if (SESSION_TOUCH.test(sql)) return false;
  for (const match of sql.matchAll(HOLDER_WRITE)) {
    if (match[1]!.toLowerCase() !== 'sessions') return true;
    if (!SESSION_INSERT.test(sql)) return true;
  }
  return false;
}

/**
 * A number that moves whenever a committed write may have changed a session holder: this
 * process's writes, another process's on the same SQLite file (`PRAGMA data_version`), another
 * instance's on the same PostgreSQL (LISTEN/NOTIFY). `null` while writes elsewhere could go
 * unseen (the listening connection is down): nothing may be served from a cache then.
 */
export interface StoreChanges {
  version(): number | null;
  /** Starts seeing other instances' writes (PostgreSQL: the listening connection); a process that caches nothing need not. */
  listen(): Promise<void>;
  close(): Promise<void>;
}

/** What the watching driver needs of the feed: how to tell others, and that a commit happened. */
interface ChangeSink {
  /** SQL sent on the writer's connection before its COMMIT (or after an autocommitted write), so the news leaves with the commit; null: none */
  readonly announceSql: string | null;
  nextAnnouncement(): string;
  /** the writes of this announcement are committed: local caches drop, and (PostgreSQL) it waits briefly until the notice went round */
  committed(announcement: string): Promise<void>;
}

type Feed = StoreChanges & ChangeSink;

/**
 * SQLite: this process's commits count themselves; another process's (the CLI, a second
 * server on the same file) show in the WAL index, whose header SQLite rewrites at every commit
 * (its change counter, last frame and salts, in the -shm file every connection maps). Reading
 * those 48 bytes is one pread(2); `PRAGMA data_version`, which says the same, takes the WAL's
 * read locks, several system calls. Without a -shm file (an in-memory database, or before the
 * first transaction) the pragma is asked instead.
 */
export class SqliteChanges implements Feed {
  readonly announceSql = null;
  #counter = 0;
  #dataVersion: number;
  readonly #readDataVersion: () => number;
  readonly #shmPath: string | null;
  #shm: number | null = null;
  #lookedAt = -Infinity;
  readonly #header = Buffer.alloc(WAL_INDEX_HEADER_BYTES);
  readonly #seen = Buffer.alloc(WAL_INDEX_HEADER_BYTES);

  constructor(sqlite: SQLite.Database, path: string) {
    const statement = sqlite.prepare('pragma data_version').pluck();
    this.#readDataVersion = () => statement.get() as number;
    this.#dataVersion = this.#readDataVersion();
    this.#shmPath = path === ':memory:' || path === '' ? null : `${path}-shm`;
  }

  version(): number {
    // One look per millisecond at most: a read(2) costs more than the whole cached request on a
    // machine where system calls are dear (BENCHMARKS.md), and another process's commit is
    // then seen within a millisecond (this process's own, at once: committed()).
    const now = performance.now();
    if (now - this.#lookedAt < LOOK_EVERY_MS) return this.#counter;
    this.#lookedAt = now;
    if (this.#shm === null && this.#shmPath !== null) {
      try {
        this.#shm = openSync(this.#shmPath, 'r');
      } catch {
        /* not there yet: the pragma below */
      }
    }
    if (this.#shm !== null) {
      const read = readSync(this.#shm, this.#header, 0, WAL_INDEX_HEADER_BYTES, 0);
      if (read !== WAL_INDEX_HEADER_BYTES || !this.#header.equals(this.#seen)) {
        this.#header.copy(this.#seen);
        this.#counter += 1;
      }
      return this.#counter;
    }
    // another connection's commit moves data_version; ours do not
    const dataVersion = this.#readDataVersion();
    if (dataVersion !== this.#dataVersion) {
      this.#dataVersion = dataVersion;
      this.#counter += 1;
    }
    return this.#counter;
  }

  nextAnnouncement(): string {
    return '';
  }

  async committed(): Promise<void> {
    this.#counter += 1;
  }

  async listen(): Promise<void> {}

  async close(): Promise<void> {
    if (this.#shm !== null) closeSync(this.#shm);
    this.#shm = null;
  }
}

const LOOK_EVERY_MS = 1;

/** The first copy of SQLite's WAL-index header (walIndexHdr: version, change counter, page size, last frame, salts, checksums). */
const WAL_INDEX_HEADER_BYTES = 48;

/** pg_stat_activity's application_name of the listening connection (operators and tests find it by that) */
export const LISTENER_NAME = 'deskpass changes';

export interface PostgresChangesOptions {
  connectionString: string;
  /** `-c search_path=…` of the pool, for the same schema's channel */
  schema: string | null;
  /** how long a commit waits for its own notice to come back on the listening connection */
  echoWaitMs?: number;
  reconnectMs?: number;
  onListening?: (listening: boolean, error?: unknown) => void;
}

/**
 * PostgreSQL: every commit of holder writes sends NOTIFY on one channel per schema (inside the
 * transaction, so the notice exists if and only if the commit does), and each serving instance
 * LISTENs on its own connection. A commit then waits until its own notice comes back (at most
 * `echoWaitMs`): PostgreSQL sends a notice to every listener at once, so when the writer answers
 * its client, the other instances have it on their sockets too.
 */
export class PostgresChanges implements Feed {
  readonly announceSql = 'select pg_notify($1, $2)';
  readonly channel: string;
  readonly #instance = randomBytes(6).toString('hex');
  readonly #options: Required<Omit<PostgresChangesOptions, 'onListening'>> & Pick<PostgresChangesOptions, 'onListening'>;
  #sequence = 0;
  #counter = 0;
  #client: pg.Client | undefined;
  #listening = false;
  #wanted = false;
  #retry: NodeJS.Timeout | undefined;
  readonly #echoes = new Map<string, () => void>();

  constructor(options: PostgresChangesOptions) {
    this.#options = { echoWaitMs: 250, reconnectMs: 1000, ...options };
    this.channel = `deskpass_changes${options.schema ? `_${options.schema}` : ''}`.slice(0, 63);
  }

  version(): number | null {
    return this.#listening ? this.#counter : null;
  }

  nextAnnouncement(): string {
    this.#sequence += 1;
    return `${this.#instance}:${this.#sequence}`;
  }

  async committed(announcement: string): Promise<void> {
    this.#counter += 1;
    if (!this.#listening) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#options.echoWaitMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#echoes.set(announcement, () => {
        this.#echoes.delete(announcement);
        done();
      });
    });
    this.#echoes.delete(announcement);
  }

  async listen(): Promise<void> {
    this.#wanted = true;
    await this.#connect();
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#options.connectionString, connectionTimeoutMillis: 5000, application_name: LISTENER_NAME });
    this.#client = client;
    const lost = (error?: unknown) => {
      if (this.#client !== client) return;
      this.#client = undefined;
      const was = this.#listening;
      this.#listening = false;
      this.#counter += 1;
      for (const echo of this.#echoes.values()) echo();
      client.end().catch(() => undefined);
      if (was) this.#options.onListening?.(false, error);
      this.#scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost(new Error('the listening connection ended')));
    client.on('notification', (message) => {
      if (message.channel !== this.channel) return;
      this.#counter += 1;
      if (message.payload) this.#echoes.get(message.payload)?.();
    });
    try {
      await client.connect();
      await client.query(`listen "${this.channel}"`);
    } catch (error) {
      lost(error);
      return;
    }
    if (this.#client !== client) return;
    this.#counter += 1; // whatever was cached before this connection may have missed notices
    this.#listening = true;
    this.#options.onListening?.(true);
  }

  #scheduleReconnect(): void {
    if (!this.#wanted || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#connect();
    }, this.#options.reconnectMs);
    this.#retry.unref();
  }

  async close(): Promise<void> {
    this.#wanted = false;
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    await client?.end().catch(() => undefined);
  }
}

/** A Kysely dialect whose driver tells `feed` about the commits of holder writes (see changesSessionHolders). */
export function watchingDialect(inner: Dialect, feed: ChangeSink): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createDriver: () => new WatchingDriver(inner.createDriver(), feed),
    createIntrospector: (db) => inner.createIntrospector(db),
    createQueryCompiler: () => inner.createQueryCompiler(),
  };
}

class WatchingConnection implements DatabaseConnection {
  inTransaction = false;
  wroteHolders = false;

  constructor(
    readonly inner: DatabaseConnection,
    private readonly feed: ChangeSink,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.inner.executeQuery<R>(query);
    if (changesSessionHolders(query.sql)) {
      if (this.inTransaction) this.wroteHolders = true;
      else await announce(this.inner, this.feed);
    }
    return result;
  }

  streamQuery<R>(query: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    if (changesSessionHolders(query.sql)) throw new Error('a streamed query may not write');
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

/** Tells the feed about committed holder writes: NOTIFY first on `connection` when the feed sends one (inside the transaction, before COMMIT). */
async function announce(connection: DatabaseConnection, feed: ChangeSink, beforeCommit?: () => Promise<void>): Promise<void> {
  const announcement = feed.nextAnnouncement();
  if (feed.announceSql) await connection.executeQuery(CompiledQuery.raw(feed.announceSql, [(feed as PostgresChanges).channel, announcement]));
  await beforeCommit?.();
  await feed.committed(announcement);
}

class WatchingDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly feed: ChangeSink,
  ) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new WatchingConnection(await this.inner.acquireConnection(), this.feed);
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const watched = connection as WatchingConnection;
    await this.inner.beginTransaction(watched.inner, settings);
    watched.inTransaction = true;
    watched.wroteHolders = false;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const watched = connection as WatchingConnection;
    const wrote = watched.wroteHolders;
    watched.inTransaction = false;
    watched.wroteHolders = false;
    if (!wrote) return this.inner.commitTransaction(watched.inner);
    await announce(watched.inner, this.feed, () => this.inner.commitTransaction(watched.inner));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const watched = connection as WatchingConnection;
    watched.inTransaction = false;
    watched.wroteHolders = false;
    await this.inner.rollbackTransaction(watched.inner);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    await this.inner.releaseConnection((connection as WatchingConnection).inner);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}
