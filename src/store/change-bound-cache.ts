import type { StoreChanges } from './store-changes.js';

export interface ChangeBoundCacheOptions<Row = unknown> {
  /** entries kept at most (the least recently used go first): memory stays bounded however many agents sign in */
  maxEntries?: number;
  /** an entry is read again from the store after this long, whatever happened */
  maxAgeMs?: number;
  now?: () => number;
  /**
   * The scopes (change-scopes.ts) whose changes change `row`: a scoped change forgets the rows of
   * its scopes and keeps the rest. Without it every scoped change drops the whole cache.
   */
  scopesOf?: (row: Row) => readonly string[];
}

/** What a cache watches: the version, and (when the feed has them) the scoped changes. */
export type WatchedChanges = Pick<StoreChanges, 'version'> & Partial<Pick<StoreChanges, 'scopeSequence' | 'scopesSince'>>;

interface Entry<Row> {
  row: Row;
  storedAt: number;
  scopes: readonly string[];
}

/**
 * Rows kept between requests that no committed change outlives: the session holders (the
 * joined row of a session token: findSessionHolder), so that an authenticated request reads
 * nothing from the store, and the help desk's account row of public requests. It can never
 * outlive a change:
 *
 * - `changes.version()` moves on every committed write that can change any holder (for the
 *   account row: `accountsVersion()`, which the sign-ins of a storm leave alone), this
 *   instance's, another process's or another instance's (store-changes.ts): the whole cache is
 *   dropped when it has moved;
 * - a scoped change (a sign-in's writes: change-scopes.ts) moves `scopeSequence()` instead: the
 *   rows of its scopes are forgotten (all rows, without `scopesOf`, or when the changes since the
 *   last look are no longer all known);
 * - a row read from the store is kept only if neither moved for it while it was being read (a
 *   write that committed meanwhile may be missing from it);
 * - while the version is unknown (PostgreSQL's listening connection is down) nothing is kept or
 *   served: every request reads the store, as without a cache.
 *
 * Only rows are kept (each hit converts its own copy): nothing a request changes is shared.
 */
export class ChangeBoundCache<Row> {
  readonly #changes: WatchedChanges;
  readonly #entries = new Map<string, Entry<Row>>();
  /** the keys of the entries of each scope */
  readonly #byScope = new Map<string, Set<string>>();
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #scopesOf: ((row: Row) => readonly string[]) | undefined;
  #version: number | null = null;
  #scopeSequence = 0;
  hits = 0;
  misses = 0;

  constructor(changes: WatchedChanges, options: ChangeBoundCacheOptions<Row> = {}) {
    this.#changes = changes;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxAgeMs = options.maxAgeMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#scopesOf = options.scopesOf;
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
    const scopeSequence = this.#changes.scopeSequence?.() ?? 0;
    if (version !== this.#version) this.#drop(version);
    else if (scopeSequence !== this.#scopeSequence) this.#forgetChangedScopes();
    this.#scopeSequence = scopeSequence;
    const entry = this.#entries.get(key);
    if (entry && this.#now() - entry.storedAt < this.#maxAgeMs) {
      this.#entries.delete(key); // re-inserted: most recently used last
      this.#entries.set(key, entry);
      this.hits += 1;
      return { row: entry.row, cached: true };
    }
    if (entry) this.#delete(key);
    this.misses += 1;
    const row = await load();
    if (row !== undefined && this.#changes.version() === version && this.#version === version) {
      const scopes = this.#scopesOf?.(row) ?? [];
      if (this.#unchangedSince(scopeSequence, scopes)) {
        this.#delete(key);
        if (this.#entries.size >= this.#maxEntries) this.#delete(this.#entries.keys().next().value!);
        this.#entries.set(key, { row, storedAt: this.#now(), scopes });
        for (const scope of scopes) {
          let keys = this.#byScope.get(scope);
          if (!keys) this.#byScope.set(scope, (keys = new Set()));
          keys.add(key);
        }
      }
    }
    return { row, cached: false };
  }

  /** This instance changed `key`'s row in a way the change feed leaves out (the last-seen touch): read it again next time. */
  forget(key: string): void {
    this.#delete(key);
  }

  /** whether no scoped change since `sequence` can have changed a row of `scopes` */
  #unchangedSince(sequence: number, scopes: readonly string[]): boolean {
    if ((this.#changes.scopeSequence?.() ?? 0) === sequence) return true;
    if (!this.#scopesOf) return false;
    const changed = this.#changes.scopesSince!(sequence);
    return changed !== null && !scopes.some((scope) => changed.has(scope));
  }

  #forgetChangedScopes(): void {
    const changed = this.#scopesOf ? this.#changes.scopesSince!(this.#scopeSequence) : null;
    if (changed === null) return this.#drop(this.#version);
    for (const scope of changed) for (const key of this.#byScope.get(scope) ?? []) this.#delete(key);
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    for (const scope of entry.scopes) {
      const keys = this.#byScope.get(scope);
      keys?.delete(key);
      if (keys?.size === 0) this.#byScope.delete(scope);
    }
  }

  #drop(version: number | null): void {
    this.#entries.clear();
    this.#byScope.clear();
    this.#version = version;
  }
}
