import type pg from 'pg';

/**
 * Named prepared statements on PostgreSQL for the statements whose text never changes (the
 * compiled-once ones, compiled-once.ts): each connection parses, analyses and plans such a text
 * once, and afterwards sends only its values (Bind and Execute). A sign-in's three round trips
 * are all such statements; parsing and planning them each time was a share of the database's CPU
 * on the cores the hashes need (BENCHMARKS.md, issue 13, sixth round).
 *
 * - Which texts: those marked here (`markPreparable`), a fixed set (one per compiled-once
 *   statement and dialect, and the same wrapped to carry its notice); any other text goes
 *   unnamed, as before. The names are `deskpass_<n>`, one per text for the life of the process.
 * - Only outside a transaction (the connection idle): a sign-in's statements all are, and so a
 *   refusal below can always be answered by sending the statement again.
 * - A migration run by another instance meanwhile (a rolling upgrade) can change what such a
 *   statement's plan answers (`select "agents".*` after a column is added): PostgreSQL then
 *   refuses the prepared statement with `cached plan must not change result type` (SQLSTATE
 *   0A000) and does nothing else. The text gets a new name, so that every connection prepares it
 *   anew, and the statement is sent again at once under that name: no request fails for it.
 */
const names = new Map<string, string>();
let prepared = 0;

/** `sql` may go as a named prepared statement (PostgreSQL, a text that never changes). */
export function markPreparable(sql: string): void {
  if (!names.has(sql)) names.set(sql, `deskpass_${++prepared}`);
}

export function isPreparable(sql: string): boolean {
  return names.has(sql);
}

/** PostgreSQL's code for a prepared statement whose plan changed its result type under it. */
const FEATURE_NOT_SUPPORTED = '0A000';
const PLAN_CHANGED = /cached plan must not change result type/;

type QueryFunction = (...args: unknown[]) => unknown;

/**
 * Makes `client.query(text, values)` (how Kysely's PostgreSQL driver sends a statement) send a
 * marked text as a named prepared statement while the connection is not in a transaction. Every
 * other call is passed through as it came.
 */
export function preparingStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as QueryFunction;
  const named = async (text: string, values: unknown[]) => {
    const name = names.get(text)!;
    try {
      return await (query({ name, text, values }) as Promise<unknown>);
    } catch (error) {
      const { code, message } = (error ?? {}) as { code?: string; message?: string };
      if (code !== FEATURE_NOT_SUPPORTED || !PLAN_CHANGED.test(message ?? '')) throw error;
      if (names.get(text) === name) names.set(text, `deskpass_${++prepared}`); // not yet renamed by another connection
      return query({ name: names.get(text)!, text, values });
    }
  };
  (client as unknown as { query: QueryFunction }).query = (...args: unknown[]) => {
    const [text, values, callback] = args;
    if (typeof text === 'string' && Array.isArray(values) && callback === undefined && names.has(text) && client.getTransactionStatus() === 'I') return named(text, values);
    return query(...args);
  };
}
