import { AsyncLocalStorage } from 'node:async_hooks';
import { CompiledQuery, type DatabaseConnection, type Dialect, type Driver, type QueryResult, type TransactionSettings } from 'kysely';
import { scopesOf } from './change-scopes.js';
import { isPreparable, markPreparable } from './prepared-statements.js';

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
 * session alive on a cached holder, so the pattern errs wide and test/session-cache.test.ts holds
 * every write statement the flows it drives send against it.
 *
 * A holder write marked with scopes (change-scopes.ts: a sign-in's three) changes only the holders
 * of those scopes; a commit whose every holder write is so marked is a scoped change, any other
 * a change of every holder.
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

/** Whether a statement writes the `accounts` table (which holds the settings every public request reads): a holder write too. */
export function changesAccounts(sql: string): boolean {
  for (const match of sql.matchAll(HOLDER_WRITE)) if (match[1]!.toLowerCase() === 'accounts') return true;
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
  /**
   * The same for the account row alone: moves on this process's commits that wrote `accounts`,
   * and on every change another process or instance made (which it cannot tell apart), so that
   * the sign-ins of a storm, which write holders but never the account, leave it in memory.
   */
  accountsVersion(): number | null;
  /**
   * Moves on committed scoped changes (change-scopes.ts), which leave version() alone: a cache
   * forgets the holders of scopesSince(what it saw last) and keeps the others.
   */
  scopeSequence(): number;
  /** the scopes changed after `sequence`, or null when they are no longer all known (forget everything then) */
  scopesSince(sequence: number): Set<string> | null;
  /** Starts seeing other instances' writes (PostgreSQL: the listening connection); a process that caches nothing need not. */
  listen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The echoes of one request's commits (PostgreSQL: its notices coming back on the listening
 * connection), for the HTTP layer to wait for before it answers (http/plugins/store-echoes.ts).
 * Outside a request (the outbox worker, the sweeps) nobody waits: no client is to be answered.
 */
export const requestEchoes = new AsyncLocalStorage<Promise<void>[]>();

/** What the watching driver needs of a feed: how to tell others, and that a commit happened. */
export interface ChangeSink {
  /** SQL sent on the writer's connection before its COMMIT (or after an autocommitted write), so the news leaves with the commit ($1 the channel, $2 the announcement); null: none */
  readonly announceSql: string | null;
  readonly channel?: string;
  /** the notice and the COMMIT as one simple query (one round trip instead of two), for an announcement of the feed's own making; null: send them apart */
  announceAndCommitSql?(announcement: string): string | null;
  /** `scopes`: the commit changes only these holders' rows (never with `wroteAccounts`); null: any holder's */
  nextAnnouncement(wroteAccounts?: boolean, scopes?: readonly string[] | null): string;
  /** the writes of this announcement are committed: local caches drop (what `scopes` name, or everything), and (PostgreSQL) the request's answer waits until the notice went round */
  committed(announcement: string, wroteAccounts: boolean, scopes: readonly string[] | null): Promise<void>;
  /** the commit of this announcement failed: nothing changed, nothing to wait for */
  abandoned(announcement: string): void;
}

/** A store's change feed: SqliteChanges (sqlite-changes.ts) or PostgresChanges (postgres-changes.ts). */
export type Feed = StoreChanges & ChangeSink;

/** A Kysely dialect whose driver tells `feed` about the commits of holder writes (see changesSessionHolders). */
export function watchingDialect(inner: Dialect, feed: ChangeSink): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createDriver: () => new WatchingDriver(inner.createDriver(), feed),
    createIntrospector: (db) => inner.createIntrospector(db),
    createQueryCompiler: () => inner.createQueryCompiler(),
  };
}

/** a write whose rows come back (RETURNING), at the top level: it can carry its notice (#carryingItsNotice) */
const WRITE_RETURNING = /^\s*(?:insert|update|delete)\b[\s\S]*\breturning\b/i;
export const NOTICE_COLUMN = '__deskpass_notice';

/**
 * The two parameters a statement of several writes sends where its own notice goes, as
 * `pg_notify(<NOTICE_CHANNEL>, <NOTICE_ANNOUNCEMENT>) as "__deskpass_notice"` in what it returns
 * (PostgreSQL only, outside a transaction; a data-modifying WITH cannot be wrapped as
 * #carryingItsNotice wraps a single write). The driver puts the feed's channel and announcement
 * in their places; a row that comes back sent the notice, none sent none. Anywhere else the
 * statement is refused before it runs: a write whose notice went nowhere would leave caches stale.
 */
// Objects, matched by identity: no value a client sends (an address, a header) can be one.
export const NOTICE_CHANNEL: unknown = Object.freeze({ deskpassNotice: 'channel' });
export const NOTICE_ANNOUNCEMENT: unknown = Object.freeze({ deskpassNotice: 'announcement' });

function carriesOwnNoticeSlots(query: CompiledQuery): boolean {
  return query.parameters.includes(NOTICE_CHANNEL);
}

/** What holder writes changed: the account row or not, and the holders of `scopes` only, or (null) any holder. */
interface HolderChange {
  accounts: boolean;
  scopes: readonly string[] | null;
}

/** What a statement changes of the holders: null, nothing (changesSessionHolders). */
function holderChangeOf(query: CompiledQuery): HolderChange | null {
  if (!changesSessionHolders(query.sql)) return null;
  const accounts = changesAccounts(query.sql);
  return { accounts, scopes: accounts ? null : scopesOf(query) };
}

function together(a: HolderChange | null, b: HolderChange): HolderChange {
  if (!a) return b;
  return { accounts: a.accounts || b.accounts, scopes: a.scopes && b.scopes ? [...new Set([...a.scopes, ...b.scopes])] : null };
}

/** The text of #carryingItsNotice, for the write `sql` with `n` parameters; a prepared write's is prepared too. */
const carryingTexts = new Map<string, string>();
function carryingSql(sql: string, n: number): string {
  let carrying = carryingTexts.get(sql);
  if (carrying === undefined) {
    carrying = `with "written" as (${sql}) select "written".*, pg_notify($${n + 1}, $${n + 2}) as "${NOTICE_COLUMN}" from "written"`;
    if (!isPreparable(sql)) return carrying; // any write: not kept
    carryingTexts.set(sql, carrying);
    markPreparable(carrying);
  }
  return carrying;
}

class WatchingConnection implements DatabaseConnection {
  inTransaction = false;
  /** what the open transaction's holder writes changed so far (null: none yet) */
  changed: HolderChange | null = null;

  constructor(
    readonly inner: DatabaseConnection,
    private readonly feed: ChangeSink,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    // A holder write outside a transaction is announced in its own commit on PostgreSQL: committed
    // first and announced after, a connection lost in between would leave the change without a
    // notice. One that returns its rows carries its notice itself; any other gets a transaction.
    const change = holderChangeOf(query);
    if (carriesOwnNoticeSlots(query)) {
      if (!change || this.inTransaction || !this.feed.announceSql || !this.feed.channel) throw new Error('a statement that carries its own notice runs on PostgreSQL, outside a transaction, and writes holders');
      const announcement = this.feed.nextAnnouncement(change.accounts, change.scopes);
      const parameters = query.parameters.map((p) => (p === NOTICE_CHANNEL ? this.feed.channel : p === NOTICE_ANNOUNCEMENT ? announcement : p));
      return this.#sendingItsNotice<R>({ ...query, parameters }, announcement, change);
    }
    if (change && !this.inTransaction && this.feed.announceSql) {
      return WRITE_RETURNING.test(query.sql) ? this.#carryingItsNotice<R>(query, change) : this.#inOwnTransaction<R>(query, change);
    }
    const result = await this.inner.executeQuery<R>(query);
    if (change) {
      if (this.inTransaction) this.changed = together(this.changed, change);
      else await announce(this.inner, this.feed, change);
    }
    return result;
  }

  /**
   * `with "written" as (<the write>) select "written".*, pg_notify(…) from "written"`: one
   * statement, so one commit holds the write and its notice, sent once per row written; a write
   * that wrote no row (an upsert whose WHERE refused) sends none and waits for none. One round
   * trip where a transaction of its own took three. PostgreSQL only ($n parameters).
   */
  async #carryingItsNotice<R>(query: CompiledQuery, change: HolderChange): Promise<QueryResult<R>> {
    const announcement = this.feed.nextAnnouncement(change.accounts, change.scopes);
    const n = query.parameters.length;
    const carrying = { ...query, sql: carryingSql(query.sql, n), parameters: [...query.parameters, this.feed.channel, announcement] };
    return this.#sendingItsNotice<R>(carrying, announcement, change);
  }

  /** Runs a statement that sends `announcement` once per row it returns (in its own commit). */
  async #sendingItsNotice<R>(carrying: CompiledQuery, announcement: string, change: HolderChange): Promise<QueryResult<R>> {
    let result: QueryResult<R & { [NOTICE_COLUMN]?: unknown }>;
    try {
      result = await this.inner.executeQuery<R & { [NOTICE_COLUMN]?: unknown }>(carrying);
    } catch (error) {
      this.feed.abandoned(announcement);
      throw error;
    }
    if (result.rows.length === 0) this.feed.abandoned(announcement);
    else await this.feed.committed(announcement, change.accounts, change.scopes);
    for (const row of result.rows) delete row[NOTICE_COLUMN];
    return result as QueryResult<R>;
  }

  async #inOwnTransaction<R>(query: CompiledQuery, change: HolderChange): Promise<QueryResult<R>> {
    await this.inner.executeQuery(CompiledQuery.raw('begin'));
    try {
      const result = await this.inner.executeQuery<R>(query);
      await announce(this.inner, this.feed, change, async () => void (await this.inner.executeQuery(CompiledQuery.raw('commit'))));
      return result;
    } catch (error) {
      await this.inner.executeQuery(CompiledQuery.raw('rollback')).catch(() => undefined);
      throw error;
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    if (changesSessionHolders(query.sql)) throw new Error('a streamed query may not write');
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

/**
 * Tells the feed about committed holder writes: NOTIFY first on `connection` when the feed sends
 * one (inside the transaction, before COMMIT), in the same round trip as the COMMIT when the feed
 * can write both as one query (a failed NOTIFY then leaves the COMMIT unsent, and the caller's
 * rollback ends the transaction).
 */
async function announce(connection: DatabaseConnection, feed: ChangeSink, change: HolderChange, commit?: () => Promise<void>): Promise<void> {
  const announcement = feed.nextAnnouncement(change.accounts, change.scopes);
  try {
    const both = commit && feed.announceAndCommitSql?.(announcement);
    if (both) await connection.executeQuery(CompiledQuery.raw(both));
    else {
      if (feed.announceSql) await connection.executeQuery(CompiledQuery.raw(feed.announceSql, [feed.channel, announcement]));
      await commit?.();
    }
  } catch (error) {
    feed.abandoned(announcement);
    throw error;
  }
  await feed.committed(announcement, change.accounts, change.scopes);
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
    watched.changed = null;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const watched = connection as WatchingConnection;
    const { changed } = watched;
    watched.inTransaction = false;
    watched.changed = null;
    if (!changed) return this.inner.commitTransaction(watched.inner);
    await announce(watched.inner, this.feed, changed, () => this.inner.commitTransaction(watched.inner));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const watched = connection as WatchingConnection;
    watched.inTransaction = false;
    watched.changed = null;
    await this.inner.rollbackTransaction(watched.inner);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    await this.inner.releaseConnection((connection as WatchingConnection).inner);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}
