import { closeSync, openSync, readSync } from 'node:fs';
import type SQLite from 'better-sqlite3';
import type { Feed } from './store-changes.js';

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
