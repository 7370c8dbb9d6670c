import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ScopeLog, SCOPE } from './change-scopes.js';
import { requestEchoes, type Feed } from './store-changes.js';

/** pg_stat_activity's application_name of the listening connection (operators and tests find it by that) */
export const LISTENER_NAME = 'deskpass changes';

export interface PostgresChangesOptions {
  connectionString: string;
  /** `-c search_path=…` of the pool, for the same schema's channel */
  schema: string | null;
  /** how long a request's answer waits for its commit's notice to come back on the listening connection */
  echoWaitMs?: number;
  reconnectMs?: number;
  onListening?: (listening: boolean, error?: unknown) => void;
}

/** the mark of a notice whose commit wrote no `accounts` row (nextAnnouncement) */
const HOLDERS_ONLY = 'h';

/** what may stand between quotes in announceAndCommitSql: no quote, no backslash, nothing else */
const LITERAL_SAFE = /^[A-Za-z0-9_:.]+$/;

/**
 * PostgreSQL: every commit of holder writes sends NOTIFY on one channel per schema (inside the
 * transaction, so the notice exists if and only if the commit does), and each serving instance
 * LISTENs on a connection of its own. PostgreSQL hands a notice to each listener separately, so a
 * notice the writer got back says nothing of the others: each instance that gets another's
 * notice drops its caches, then answers `ack:<notice>:<instance>` on the same channel, and the
 * request that committed is answered once its notice came back and every instance heard from in
 * the last 3 s (`hello:<instance>:<sent at>`, ten a second) has acknowledged it — at most
 * `echoWaitMs`. An instance serves from memory only while a hello it sent less than 200 ms ago
 * has come back (notices arrive in commit order, so it has read every notice committed before
 * that hello): one that stood still or whose connection lags reads the store until it is current
 * again, which is why an answer that went out without its acknowledgement finds it so.
 */
export class PostgresChanges implements Feed {
  readonly announceSql = 'select pg_notify($1, $2)';
  readonly channel: string;
  readonly #instance = randomBytes(6).toString('hex');
  readonly #options: Required<Omit<PostgresChangesOptions, 'onListening'>> & Pick<PostgresChangesOptions, 'onListening'>;
  #sequence = 0;
  #counter = 0;
  /** moves with #counter, but not for the notices of commits that did not write `accounts` (marked `h`) */
  #accountsCounter = 0;
  /** the scoped changes (change-scopes.ts), which leave #counter alone */
  readonly #scopes = new ScopeLog();
  #client: pg.Client | undefined;
  #listening = false;
  #wanted = false;
  #retry: NodeJS.Timeout | undefined;
  #hello: NodeJS.Timeout | undefined;
  /**
   * When the newest of this instance's hellos that came back was sent (0: none since the
   * connection opened). Notices reach a listener in commit order, so every notice committed
   * before that moment has been read: this is how current this instance's caches are.
   */
  #currentAsOf = 0;
  /** nothing is served from memory before this (a second after the connection's first hello came back: every peer knows this instance by then) */
  #cacheFrom = Infinity;
  #listeningSince = 0;
  /** other instances, by the time their last hello arrived */
  readonly #peers = new Map<string, number>();
  readonly #pending = new Map<string, PendingNotice>();

  constructor(options: PostgresChangesOptions) {
    this.#options = { echoWaitMs: 250, reconnectMs: 1000, ...options };
    this.channel = `deskpass_changes${options.schema ? `_${options.schema}` : ''}`.slice(0, 63);
  }

  version(): number | null {
    const now = Date.now();
    // Another instance answers at most echoWaitMs after its commit without this one's
    // acknowledgement (this process stood still, its connection lags): then a hello sent after
    // that commit has not come back yet, and nothing is served from memory.
    if (!this.#listening || now < this.#cacheFrom || now - this.#currentAsOf > HELLO_LATE_MS) return null;
    return this.#counter;
  }

  accountsVersion(): number | null {
    return this.version() === null ? null : this.#accountsCounter;
  }

  scopeSequence(): number {
    return this.#scopes.sequence;
  }

  scopesSince(sequence: number): Set<string> | null {
    return this.#scopes.since(sequence);
  }

  /**
   * Called before the notice is sent (inside the transaction): its echo and acknowledgements may
   * arrive before COMMIT returns. `<instance>:<sequence>`, and `h` after the sequence when the
   * commit wrote holders but not `accounts`: every instance then keeps its account row; then, for
   * a scoped change, `.<scope>` for each scope it changed: every instance forgets those holders
   * only. A notice without the mark (an older instance's, one sent by hand) drops everything, and
   * an older instance takes a scoped one for a change of everything.
   */
  nextAnnouncement(wroteAccounts = true, scopes: readonly string[] | null = null): string {
    this.#sequence += 1;
    const scoped = !wroteAccounts && scopes ? scopes.map((scope) => `.${scope}`).join('') : '';
    const announcement = `${this.#instance}:${this.#sequence}${wroteAccounts ? '' : HOLDERS_ONLY}${scoped}`;
    if (this.#listening) this.#pending.set(announcement, this.#awaitNotice(announcement));
    return announcement;
  }

  /**
   * `select pg_notify('…', '…'); commit` as one simple query. The channel and the announcement are
   * this feed's own (a schema name, hex digits and a number), written as literals only when they
   * are nothing but such characters; anything else goes apart, with parameters.
   */
  announceAndCommitSql(announcement: string): string | null {
    if (!LITERAL_SAFE.test(this.channel) || !LITERAL_SAFE.test(announcement)) return null;
    return `select pg_notify('${this.channel}', '${announcement}'); commit`;
  }

  async committed(announcement: string, wroteAccounts: boolean, scopes: readonly string[] | null): Promise<void> {
    if (scopes && !wroteAccounts) this.#scopes.record(scopes);
    else this.#counter += 1;
    if (wroteAccounts) this.#accountsCounter += 1;
    // Not listening, this instance cannot hear the acknowledgements: its answer waits the whole
    // time, which the other instances (who drop their caches on the notice, or serve nothing
    // from memory after a stall) need at most.
    if (!this.#listening) {
      requestEchoes.getStore()?.push(new Promise((resolve) => setTimeout(resolve, this.#options.echoWaitMs).unref()));
      return;
    }
    const pending = this.#pending.get(announcement);
    if (!pending) return;
    // The time allowed starts now that the commit is done: a peer's hello committed before the
    // notice was sent before this moment, so a peer still behind the notice when the time runs
    // out no longer counts itself current (HELLO_LATE_MS < echoWaitMs). The request's answer
    // waits (http/plugins/store-echoes.ts), not this connection: held until the
    // acknowledgements, it would starve the pool under a sign-in storm.
    pending.start();
    const waiting = requestEchoes.getStore();
    if (waiting) waiting.push(pending.settled);
    else pending.abandon(); // nobody to answer (the worker, the sweeps)
  }

  abandoned(announcement: string): void {
    this.#pending.get(announcement)?.abandon();
  }

  #awaitNotice(announcement: string): PendingNotice {
    const now = Date.now();
    // Just (re)connected, the list of peers may be short of one not heard from meanwhile: wait the whole time.
    const peersUncertain = now - this.#listeningSince < PEER_GONE_MS;
    const waitingFor = new Set([...this.#peers].filter(([, seenAt]) => now - seenAt <= PEER_GONE_MS).map(([peer]) => peer));
    let echoed = false;
    let started = false;
    let timer: NodeJS.Timeout | undefined;
    let resolve!: () => void;
    const settled = new Promise<void>((r) => (resolve = r));
    const done = () => {
      clearTimeout(timer);
      this.#pending.delete(announcement);
      resolve();
    };
    // echoes and acknowledgements may come before COMMIT returns; the answer goes once both are in and the commit is done
    const complete = () => started && echoed && waitingFor.size === 0 && !peersUncertain;
    return {
      settled,
      start: () => {
        started = true;
        timer = setTimeout(done, this.#options.echoWaitMs);
        timer.unref();
        if (complete()) done();
      },
      echoed: () => {
        echoed = true;
        if (complete()) done();
      },
      acknowledged: (peer) => {
        waitingFor.delete(peer);
        if (complete()) done();
      },
      abandon: done,
    };
  }

  #heard(client: pg.Client, payload: string): void {
    const [kind, first, second] = payload.split(':');
    if (kind === 'hello') {
      if (first === this.#instance) {
        if (this.#currentAsOf === 0) this.#cacheFrom = Date.now() + WARM_UP_MS;
        this.#currentAsOf = Math.max(this.#currentAsOf, Number(second) || 0);
      } else if (first) this.#peers.set(first, Date.now());
      return;
    }
    if (kind === 'ack') {
      if (first === this.#instance) this.#pending.get(`${first}:${second}`)?.acknowledged(payload.split(':')[3] ?? '');
      return;
    }
    // a change (`<instance>:<sequence>[h[.<scope>…]]`, or anything else on the channel): caches drop
    // what it names, and everything when it names nothing they can read
    const [mark = '', ...scopes] = (first ?? '').split('.');
    const holdersOnly = mark.endsWith(HOLDERS_ONLY) && /^\d+$/.test(mark.slice(0, -1));
    if (holdersOnly && second === undefined && scopes.length > 0 && scopes.every((scope) => SCOPE.test(scope))) this.#scopes.record(scopes);
    else this.#counter += 1;
    if (!holdersOnly) this.#accountsCounter += 1;
    if (kind === this.#instance) this.#pending.get(payload)?.echoed();
    else if (first !== undefined) client.query(this.announceSql, [this.channel, `ack:${payload}:${this.#instance}`]).catch(() => undefined);
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
      this.#currentAsOf = 0;
      this.#cacheFrom = Infinity;
      clearInterval(this.#hello);
      this.#counter += 1;
      this.#accountsCounter += 1;
      // what waits for acknowledgements waits its whole time now: they can no longer be heard
      client.end().catch(() => undefined);
      if (was) this.#options.onListening?.(false, error);
      this.#scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost(new Error('the listening connection ended')));
    client.on('notification', (message) => {
      if (message.channel === this.channel) this.#heard(client, message.payload ?? '');
    });
    // one hello at a time: behind a slow connection they would pile up (this instance reads the store meanwhile)
    let helloInFlight = false;
    const hello = async () => {
      if (helloInFlight) return;
      helloInFlight = true;
      await client.query(this.announceSql, [this.channel, `hello:${this.#instance}:${Date.now()}`]).catch(() => undefined);
      helloInFlight = false;
    };
    try {
      await client.connect();
      await client.query(`listen "${this.channel}"`);
    } catch (error) {
      lost(error);
      return;
    }
    if (this.#client !== client) return;
    // whatever was cached before this connection may have missed notices
    this.#counter += 1;
    this.#accountsCounter += 1;
    this.#listening = true;
    this.#listeningSince = Date.now();
    void hello();
    this.#hello = setInterval(() => void hello(), HELLO_EVERY_MS);
    this.#hello.unref();
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
    clearInterval(this.#hello);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    for (const pending of this.#pending.values()) pending.abandon();
    await client?.end().catch(() => undefined);
  }
}

interface PendingNotice {
  /** resolves once the commit is done, the notice came back and every live peer acknowledged it, or echoWaitMs after the commit */
  settled: Promise<void>;
  start(): void;
  echoed(): void;
  acknowledged(peer: string): void;
  abandon(): void;
}

const HELLO_EVERY_MS = 100;
/** a peer not heard from for this long is gone: no commit waits for it */
const PEER_GONE_MS = 3000;
/** this instance is behind when no hello it sent in this long came back; below the 250 ms an answer waits for acknowledgements */
const HELLO_LATE_MS = 200;
/** after the first hello came back, how long before anything is served from memory (every peer knows this instance by then) */
const WARM_UP_MS = 1000;
