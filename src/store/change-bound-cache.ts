import type { StoreChanges } from './store-changes.js';

export interface ChangeBoundCacheOptions {
  /** entries kept at most (the least recently used go first): memory stays bounded however many agents sign in */
  maxEntries?: number;
  /** an entry is read again from the store after this long, whatever happened */
  maxAgeMs?: number;
  now?: () => number;
}

interface Entry<Row> {
  row: Row;
  storedAt: number;
}

/**
 * Rows kept between requests that no committed change outlives: the session holders (the
 * joined row of a session token: findSessionHolder), so that an authenticated request reads
 * nothing from the store, and the help desk's account row of public requests. It can never
 * outlive a change:
 *
 * - `changes.version()` moves on every committed write that can change a holder (for the account
 *   row: `accountsVersion()`, which the sign-ins of a storm leave alone), this instance's, another
 *   process's or another instance's (store-changes.ts): the whole cache is dropped when it has moved;
 * - a row read from the store is kept only if the version did not move while it was being read
 *   (a write that committed meanwhile may be missing from it);
 * - while the version is unknown (PostgreSQL's listening connection is down) nothing is kept or
 *   served: every request reads the store, as without a cache.
 *
 * Only rows are kept (each hit converts its own copy): nothing a request changes is shared.
 */
export class ChangeBoundCache<Row> {
  readonly #changes: Pick<StoreChanges, 'version'>;
  readonly #entries = new Map<string, Entry<Row>>();
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #version: number | null = null;
  hits = 0;
  misses = 0;

  constructor(changes: Pick<StoreChanges, 'version'>, options: ChangeBoundCacheOptions = {}) {
    this.#changes = changes;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxAgeMs = options.maxAgeMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The row of `key`: kept, or read by `load` (and kept when that is safe). `cached` says which. */
  async find(key: string, load: () => Promise<Row | undefined>): Promise<{ row: Row | undefined; cached: boolean }> {
    const version = this.#changes.version();
    if (version === null) {
      this.#drop(null);
      this.misses += 1;
      return { row: await load(), cached: false };
    }
    if (version !== this.#version) this.#drop(version);
    const entry = this.#entries.get(key);
    if (entry && this.#now() - entry.storedAt < this.#maxAgeMs) {
      this.#entries.delete(key); // re-inserted: most recently used last
      this.#entries.set(key, entry);
      this.hits += 1;
      return { row: entry.row, cached: true };
    }
    if (entry) this.#entries.delete(key);
    this.misses += 1;
    const row = await load();
    if (row !== undefined && this.#changes.version() === version && this.#version === version) {
      if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
      this.#entries.set(key, { row, storedAt: this.#now() });
    }
    return { row, cached: false };
  }

  /** This instance changed `key`'s row in a way the change feed leaves out (the last-seen touch): read it again next time. */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  #drop(version: number | null): void {
    this.#entries.clear();
    this.#version = version;
  }
}
