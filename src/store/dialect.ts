import { PostgresAdapter, type Kysely } from 'kysely';

/** Which SQL dialect a store speaks; the few places that differ ask this (and only these). */
export function dialectOf(db: Kysely<any>): 'sqlite' | 'postgres' {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}
