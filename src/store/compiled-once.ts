import type { Compilable, CompiledQuery, QueryResult } from 'kysely';
import type { Executor } from './db.js';
import { dialectOf } from './dialect.js';
import { withScopes } from './change-scopes.js';
import { markPreparable } from './prepared-statements.js';

/** Stands in for the i-th value while the statement is compiled; never sent to a store. */
const MARK = '\u0000deskpass compiled-once value ';

type Slot = { value: number; key?: string } | { constant: unknown };

interface Compiled {
  query: CompiledQuery;
  slots: Slot[];
}

/**
 * A statement whose SQL depends only on the dialect, composed and compiled by Kysely once per
 * dialect and then run with each call's values in their places. Composing a statement (parsing
 * its column references, building and freezing its tree, compiling it) cost more of a sign-in's
 * event-loop time than SQLite takes to run it (BENCHMARKS.md), and a sign-in sends nine.
 *
 * `build` is called once per dialect with stand-ins for the values (a row's fields, for a value
 * that is an object), so it must use each value only as a value (a parameter of the statement),
 * never to choose the statement's shape: the values are therefore already what is stored
 * (strings, numbers, null: an ISO date, a JSON text).
 * Compiling checks what it can: every stand-in must come out as one whole parameter (not in the
 * SQL text, not transformed into another value), or the statement is refused at its first use.
 *
 * `scopes`, for a write that can change only the session holders of some agent or address: the
 * scopes (change-scopes.ts) each run changes, from the same values it runs with.
 */
export function compiledOnce<Values extends unknown[], Row>(
  build: (db: Executor, ...values: Values) => Compilable<Row>,
  options: { scopes?: (...values: Values) => readonly string[] } = {},
): (db: Executor, ...values: Values) => Promise<QueryResult<Row>> {
  const byDialect = new Map<string, Compiled>();
  return (db, ...values) => {
    const dialect = dialectOf(db);
    let compiled = byDialect.get(dialect);
    if (!compiled) {
      compiled = compile(db, build, values);
      byDialect.set(dialect, compiled);
      if (dialect === 'postgres') markPreparable(compiled.query.sql);
    }
    const parameters = compiled.slots.map((slot) => ('value' in slot ? (slot.key === undefined ? values[slot.value] : (values[slot.value] as Record<string, unknown>)[slot.key]) : slot.constant));
    const query = { ...compiled.query, parameters } as CompiledQuery<Row>;
    return db.executeQuery<Row>(options.scopes ? withScopes(query, options.scopes(...values)) : query);
  };
}

function compile<Values extends unknown[], Row>(db: Executor, build: (db: Executor, ...values: Values) => Compilable<Row>, values: Values): Compiled {
  // A row (an object value) stands in as an object whose every field is a stand-in of its own.
  const standIns = values.map((value, i) => (typeof value === 'object' && value !== null ? new Proxy({}, { get: (_, key) => `${MARK}${i}.${String(key)}` }) : `${MARK}${i}`)) as Values;
  const query = build(db, ...standIns).compile();
  if (query.sql.includes(MARK)) throw new Error(`compiledOnce: a value went into the SQL text of ${query.sql}`);
  const used = new Set<number>();
  const slots = query.parameters.map((parameter): Slot => {
    const standIn = typeof parameter === 'string' && parameter.startsWith(MARK) ? /^(\d+)(?:\.(\w+))?$/.exec(parameter.slice(MARK.length)) : null;
    if (standIn) {
      const value = Number(standIn[1]);
      used.add(value);
      return standIn[2] === undefined ? { value } : { value, key: standIn[2] };
    }
    if (JSON.stringify(parameter ?? null).includes(JSON.stringify(MARK).slice(1, -1))) throw new Error(`compiledOnce: a value was transformed in ${query.sql}`);
    return { constant: parameter };
  });
  if (used.size !== values.length) throw new Error(`compiledOnce: ${values.length - used.size} of ${values.length} values are not parameters of ${query.sql}`);
  return { query, slots };
}
