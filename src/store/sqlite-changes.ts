import type SQLite from 'better-sqlite3';
import { ScopeLog } from './change-scopes.js';
import type { Feed } from './store-changes.js';

/**
 * SQLite: this process's commits count themselves (committed()); another process's on the same
 * file (the CLI, a second server) move `PRAGMA data_version`, which SQLite moves for the commits
 * of every connection but the one asking. It takes the WAL's read locks, several system calls,
 * which cost more than a whole cached request on a machine where system calls are dear
 * (BENCHMARKS.md): it is asked at most once a millisecond, so another process's commit is seen
 * within a millisecond, this process's at once.
 */
export class SqliteChanges implements Feed {
  readonly announceSql = null;
  #counter = 0;
  #accountsCounter = 0;
  readonly #scopes = new ScopeLog();
  #dataVersion: number;
  #askedAt = -Infinity;
  readonly #readDataVersion: () => number;

  constructor(sqlite: SQLite.Database) {
    const statement = sqlite.prepare('pragma data_version').pluck();
    this.#readDataVersion = () => statement.get() as number;
    this.#dataVersion = this.#readDataVersion();
  }

  version(): number {
    this.#seeOthers();
    return this.#counter;
  }

  accountsVersion(): number {
    this.#seeOthers();
    return this.#accountsCounter;
  }

  scopeSequence(): number {
    return this.#scopes.sequence;
  }

  scopesSince(sequence: number): Set<string> | null {
    return this.#scopes.since(sequence);
  }

  /** another process's commit moves both: which tables and rows it wrote is not known */
  #seeOthers(): void {
    const now = performance.now();
    if (now - this.#askedAt < ASK_EVERY_MS) return;
    this.#askedAt = now;
    const dataVersion = this.#readDataVersion();
    if (dataVersion !== this.#dataVersion) {
      this.#dataVersion = dataVersion;
      this.#counter += 1;
      this.#accountsCounter += 1;
    }
  }

  nextAnnouncement(): string {
    return '';
  }

  async committed(_announcement: string, wroteAccounts: boolean, scopes: readonly string[] | null): Promise<void> {
    if (scopes) this.#scopes.record(scopes);
    else this.#counter += 1;
    if (wroteAccounts) this.#accountsCounter += 1;
  }

  abandoned(): void {}

  async listen(): Promise<void> {}
  async close(): Promise<void> {}
}

const ASK_EVERY_MS = 1;
