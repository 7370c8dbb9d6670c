import { randomBytes } from 'node:crypto';
import pg from 'pg';
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

/**
 * PostgreSQL: every commit of holder writes sends NOTIFY on one channel per schema (inside the
 * transaction, so the notice exists if and only if the commit does), and each serving instance
 * LISTENs on its own connection. The answer to the request that committed waits until its own
 * notice comes back (at most `echoWaitMs`): PostgreSQL sends a notice to every listener at once,
 * so when the writer answers its client, the other instances have it on their sockets too.
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
    const waiting = requestEchoes.getStore();
    if (!this.#listening || !waiting) return;
    // The request's answer waits for the echo (answerAfterEchoes), not this connection: held
    // until the echo, it would starve the pool under a sign-in storm.
    waiting.push(
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#echoes.delete(announcement);
          resolve();
        };
        const timer = setTimeout(done, this.#options.echoWaitMs);
        this.#echoes.set(announcement, done);
      }),
    );
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
