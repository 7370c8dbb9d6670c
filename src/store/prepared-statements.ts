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
 *   unnamed, as before. The names are `deskpass_<n>`, one per text at a time (a new one when it
 *   goes stale, below).
 * - Only outside a transaction (the connection idle): a sign-in's statements all are, and so a
 *   refusal below can always be answered by sending the statement again.
 * - A migration run by another instance meanwhile (a rolling upgrade) can leave a connection's
 *   prepared statement stale, where the same text parsed again would run:
 *   `cached plan must not change result type` (0A000, a `select "agents".*` after a column is
 *   added), a parameter type inferred at the first parse that no longer fits its column (42804,
 *   42883: a column changed from text to uuid), or a statement the connection lost (26000). The
 *   text then gets a new name, so that every connection parses it anew, and is sent again at once
 *   under it. Sending again cannot do anything twice: the statement ran alone in its own commit
 *   (the connection was idle), and a statement that fails is undone whole. A second failure is
 *   the caller's, as any store error; if it is the same kind of refusal, the text was not stale
 *   but broken, and goes unnamed from then on.
 */
const names = new Map<string, string>();
let prepared = 0;
const newName = () => `deskpass_${++prepared}`;

/** `sql` may go as a named prepared statement (PostgreSQL, a text that never changes). */
export function markPreparable(sql: string): void {
  if (!names.has(sql)) names.set(sql, newName());
}

export function isPreparable(sql: string): boolean {
  return names.has(sql);
}

/**
 * PostgreSQL's codes for what a stale prepared statement answers (see above): a plan whose result
 * type changed (0A000 with its message; the same code means other things too), a parameter type
 * that no longer fits (42804 datatype_mismatch, 42883 undefined_function: no operator or cast for
 * the old type), a statement name the connection no longer has (26000).
 */
const FEATURE_NOT_SUPPORTED = '0A000';
// Known by the function that raises it (plancache.c), which the server names in every language;
// by the English message only where no function is named (found by the outside tester: with
// lc_messages in another language the message alone missed it, and the statement failed until
// its connection closed).
const PLAN_CHANGED_ROUTINE = 'RevalidateCachedQuery';
const PLAN_CHANGED = /cached plan must not change result type/;
const STALE = new Set(['42804', '42883', '26000']);

export function isStale(error: unknown): boolean {
  const { code, message, routine } = (error ?? {}) as { code?: string; message?: string; routine?: string };
  if (code === FEATURE_NOT_SUPPORTED) return routine === undefined ? PLAN_CHANGED.test(message ?? '') : routine === PLAN_CHANGED_ROUTINE;
  return code !== undefined && STALE.has(code);
}

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
      if (!isStale(error)) throw error;
      if (names.get(text) === name) names.set(text, newName()); // not yet renamed by another connection
      const again = names.get(text); // undefined: another connection found the text broken (below)
      return (query(again === undefined ? { text, values } : { name: again, text, values }) as Promise<unknown>).catch((second: unknown) => {
        // parsed afresh and still refused: not a stale statement but a broken one; unnamed from
        // now on, one attempt per use instead of two (a refused Parse leaves no statement behind)
        if (isStale(second)) names.delete(text);
        throw second;
      });
    }
  };
  (client as unknown as { query: QueryFunction }).query = (...args: unknown[]) => {
    const [text, values, callback] = args;
    if (typeof text === 'string' && Array.isArray(values) && callback === undefined && names.has(text) && client.getTransactionStatus() === 'I') return named(text, values);
    return query(...args);
  };
}
