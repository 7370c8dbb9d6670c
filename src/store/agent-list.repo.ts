import { sql, type ExpressionBuilder, type SelectQueryBuilder } from 'kysely';
import type { Agent, AgentStatus } from '../domain/models.js';
import type { Executor } from './db.js';
import { dialectOf } from './dialect.js';
import { decodeCursor, encodeCursor, escapeLike, flag, iso } from './convert.js';
import { foldForSearch, GRAM_LENGTH, gramsOf, prefixUpperBound } from './agent-search-terms.repo.js';
import { ROLE_COLUMNS, toAgent, type AgentWithRoleRow } from './agents.repo.js';
import { UNKNOWN_DEVICES } from './login-attempts.repo.js';

/** The list's status filter: the agent's status, or a state that needs attention. */
export type AgentListStatus = AgentStatus | 'locked' | 'password_change_pending' | 'invitation_expired';

export interface AgentListQuery {
  search?: string;
  status?: AgentListStatus;
  /** false: only agents without a second factor (`?twoFactor=off`); true: only those with one */
  twoFactor?: boolean;
  limit: number;
  /** the page after this row (a `nextCursor`) */
  cursor?: string;
  /** the page before this row (a `prevCursor`): the portal's "Previous" */
  before?: string;
  /** count the matches too, up to COUNT_CAP */
  count?: boolean;
}

export interface AgentListPage {
  agents: Agent[];
  nextCursor: string | null;
  prevCursor: string | null;
  /** the number of matches, when asked; `more`: more than COUNT_CAP (then `n` is COUNT_CAP) */
  count?: { n: number; more: boolean };
}

/** Counts stop here: "more than 1,000 agents match" stays a few milliseconds, an exact count over a common text would not. */
export const COUNT_CAP = 1000;
/** Candidate sets are sized up to this many rows to choose the smallest. */
const SIZE_CAP = 1000;
/** The second sizing, of a common search against a common filter. */
const WIDE_SIZE_CAP = 20_000;
/** A prefix range with this many rows is walked in email order rather than sorted. */
const DENSE_PREFIX_ROWS = 1000;
/** Grams sized per search (evenly spread over a long search). */
const MAX_GRAMS = 8;

interface Plan {
  accountId: string;
  /** folded; `inside`: anywhere in the name or email (3+ characters), `prefix`: a word start or the email's start */
  search: { kind: 'inside' | 'prefix'; text: string } | null;
  status?: AgentListStatus;
  twoFactor?: boolean;
  now: string;
}

/**
 * Where a page's rows come from, always in (email, id) order so that cursors stay the same
 * whichever is chosen: the agents themselves (by account, by status, pending changes: the
 * planner picks the index), the rows of one gram of the search, or a short search's prefix
 * range (sorted: it is chosen only while small). Every row is then checked against the whole
 * query on the agent row.
 */
type Driver = { kind: 'agents' } | { kind: 'gram'; gram: string } | { kind: 'prefix' };

type AnyQuery = SelectQueryBuilder<any, any, any>;

/**
 * A page of agents ordered by email, with keyset cursors both ways (no OFFSET scans).
 * `search` (folded: case, accents, ß = ss) matches anywhere inside the name or the email from
 * three characters on; one or two characters match a word start of the name or the email's start.
 */
export async function listAgents(db: Executor, accountId: string, query: AgentListQuery, now = new Date()): Promise<AgentListPage | 'invalid_cursor'> {
  const after = decodeCursor(query.cursor, 2);
  const before = query.cursor ? null : decodeCursor(query.before, 2);
  if (after === 'invalid' || before === 'invalid') return 'invalid_cursor';
  const text = foldForSearch(query.search ?? '');
  const plan: Plan = {
    accountId,
    search: text === '' ? null : { kind: [...text].length >= GRAM_LENGTH ? 'inside' : 'prefix', text },
    status: query.status,
    twoFactor: query.twoFactor,
    now: iso(now),
  };
  const driver = await chooseDriver(db, plan);
  const count = query.count ? await countMatches(db, plan, driver) : undefined;
  const key = (values: (string | number)[] | null) => (values ? { email: String(values[0]), id: String(values[1]) } : undefined);

  if (before) {
    const rows = await readPage(db, plan, driver, { before: key(before) }, query.limit + 1);
    if (rows.length > query.limit) {
      const agents = rows.slice(0, query.limit).reverse();
      return { agents: agents.map(toAgent), prevCursor: cursorOf(agents[0]), nextCursor: cursorOf(agents.at(-1)!), count };
    }
    // Back at the start: the first page, full.
  }
  const rows = await readPage(db, plan, driver, { after: key(before ? null : after) }, query.limit + 1);
  const agents = rows.slice(0, query.limit);
  return {
    agents: agents.map(toAgent),
    nextCursor: rows.length > query.limit ? cursorOf(agents.at(-1)!) : null,
    prevCursor: after && agents.length > 0 ? cursorOf(agents[0]) : null,
    count,
  };
}

function cursorOf(row: AgentWithRoleRow): string {
  return encodeCursor([row.email_normalized, row.id]);
}

/**
 * The candidate sets this query can start from, sized up to SIZE_CAP in one statement; the
 * smallest wins. When a search and a status filter are both common at that size, the best of
 * each is sized again up to WIDE_SIZE_CAP: a filter that holds 1% of the agents beside a search
 * that holds 5% must lead, or the walk verifies a hundred rows for each one it keeps.
 */
async function chooseDriver(db: Executor, plan: Plan): Promise<Driver> {
  const options: { driver: Driver; rows: AnyQuery }[] = [];
  if (plan.search?.kind === 'inside') {
    for (const gram of spread(gramsOf(plan.search.text), MAX_GRAMS)) {
      options.push({ driver: { kind: 'gram', gram }, rows: db.selectFrom('agent_search_grams').select('agent_id').where('account_id', '=', plan.accountId).where('gram', '=', gram) });
    }
  }
  if (plan.search?.kind === 'prefix') options.push({ driver: { kind: 'prefix' }, rows: prefixRows(db, plan, plan.search.text).select('t.agent_id') });
  const filtered = plan.status !== undefined || plan.twoFactor !== undefined;
  if (filtered) {
    const filtersOnly: Plan = { ...plan, search: null };
    // Locked: sized by the locked addresses themselves (an upper bound), not by a walk over every agent checking each.
    const rows = plan.status === 'locked' ? lockedEmails(db, plan) : db.selectFrom('agents as a').select('a.id').where('a.account_id', '=', plan.accountId).where((eb) => matches(db, eb, filtersOnly));
    options.push({ driver: { kind: 'agents' }, rows });
  }
  if (options.length === 0) return { kind: 'agents' };
  const sizes = await sizeOf(db, options, SIZE_CAP);
  let search = -1;
  options.forEach((o, i) => {
    if (o.driver.kind !== 'agents' && (search < 0 || sizes[i] < sizes[search])) search = i;
  });
  const filter = filtered ? options.length - 1 : -1;
  if (search >= 0 && filter >= 0 && sizes[search] >= SIZE_CAP && sizes[filter] >= SIZE_CAP) {
    const wide = await sizeOf(db, [options[search], options[filter]], WIDE_SIZE_CAP);
    [sizes[search], sizes[filter]] = wide;
  }
  const leader = search < 0 ? filter : filter < 0 || sizes[search] <= sizes[filter] ? search : filter;
  // A big prefix range would be sorted whole: walking the agents in email order finds its page sooner.
  if (options[leader].driver.kind === 'prefix' && sizes[leader] >= DENSE_PREFIX_ROWS) return { kind: 'agents' };
  return options[leader].driver;
}

/** How many rows each option has, up to `cap`, in one statement. */
async function sizeOf(db: Executor, options: { rows: AnyQuery }[], cap: number): Promise<number[]> {
  const sized = options.map((o, i) => db.selectFrom(o.rows.limit(cap).as(`o${i}`)).select([sql.lit(i).as('i'), (eb) => eb.fn.countAll<number>().as('n')]));
  const counted = await sized.slice(1).reduce((all, one) => all.unionAll(one), sized[0]).execute();
  const size = new Map(counted.map((r) => [Number(r.i), Number(r.n)]));
  return options.map((_, i) => size.get(i) ?? 0);
}

/** At most `max` of the items, evenly spread (a long search's grams: its start, middle and end). */
function spread<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  return Array.from({ length: max }, (_, i) => items[Math.round((i * (items.length - 1)) / (max - 1))]);
}

function prefixRows(db: Executor, plan: Plan, text: string) {
  const upper = prefixUpperBound(text);
  let rows = db.selectFrom('agent_search_terms as t').where('t.account_id', '=', plan.accountId).where('t.term', '>=', text);
  if (upper !== null) rows = rows.where('t.term', '<', upper);
  return rows;
}

/**
 * The driver's rows that match the whole query; keys: the (email, id) columns of its order. A
 * candidate's agent row is checked in a correlated subquery, once per candidate in index order,
 * so the walk stops at the page (or the count's cap): as a join, PostgreSQL's planner would
 * rather hash every agent row first.
 */
function driven(db: Executor, plan: Plan, driver: Driver): { q: AnyQuery; keys: [string, string]; agentId: string } {
  const verified = (eb: ExpressionBuilder<any, any>) => {
    const agent = eb.selectFrom('agents as a').select(sql.lit(1).as('ok')).whereRef('a.id', '=', 'g.agent_id').where((inner: ExpressionBuilder<any, any>) => matches(db, inner, plan));
    return sql<boolean>`(${agent}) = 1`;
  };
  if (driver.kind === 'gram') {
    const q = db.selectFrom('agent_search_grams as g').where('g.account_id', '=', plan.accountId).where('g.gram', '=', driver.gram).where(verified);
    return { q, keys: ['g.email_normalized', 'g.agent_id'], agentId: 'g.agent_id' };
  }
  if (driver.kind === 'prefix') {
    const ids = prefixRows(db, plan, plan.search!.text).select(['t.agent_id', 't.email_normalized']).distinct();
    return { q: db.selectFrom(ids.as('g')).where(verified), keys: ['g.email_normalized', 'g.agent_id'], agentId: 'g.agent_id' };
  }
  const q = db.selectFrom('agents as a').where('a.account_id', '=', plan.accountId).where((eb: ExpressionBuilder<any, any>) => matches(db, eb, plan));
  return { q, keys: ['a.email_normalized', 'a.id'], agentId: 'a.id' };
}

async function readPage(db: Executor, plan: Plan, driver: Driver, at: { after?: { email: string; id: string }; before?: { email: string; id: string } }, size: number): Promise<AgentWithRoleRow[]> {
  const { q, keys, agentId } = driven(db, plan, driver);
  const [email, id] = keys;
  const mark = at.after ?? at.before;
  const op = at.before ? '<' : '>';
  const direction = at.before ? 'desc' : 'asc';
  let page = q;
  if (mark) page = page.where((eb: ExpressionBuilder<any, any>) => eb.or([eb(email, op, mark.email), eb.and([eb(email, '=', mark.email), eb(id, op, mark.id)])]));
  page = page.select([sql.ref(agentId).as('page_agent_id'), sql.ref(email).as('page_email')]).orderBy(email, direction).orderBy(id, direction).limit(size);
  // The page's agents and roles, for its few rows only.
  const rows = await db
    .selectFrom(page.as('p'))
    .innerJoin('agents as a', 'a.id', 'p.page_agent_id')
    .innerJoin('roles as r', 'r.id', 'a.role_id')
    .selectAll('a')
    .select(ROLE_COLUMNS)
    .orderBy('p.page_email', direction)
    .orderBy('p.page_agent_id', direction)
    .execute();
  return rows as AgentWithRoleRow[];
}

/** Rows of a short search's range read to count its agents (an agent may hold a few of them). */
const PREFIX_COUNT_ROWS = 3 * COUNT_CAP;

async function countMatches(db: Executor, plan: Plan, driver: Driver): Promise<{ n: number; more: boolean }> {
  if (plan.search?.kind === 'prefix' && driver.kind === 'agents') {
    // A common short search: its range is exactly its matches (word starts and the email's
    // start), read on the covering index, where walking the agents would verify fifty for each one.
    const filtersOnly: Plan = { ...plan, search: null };
    let rows = prefixRows(db, plan, plan.search.text).select('t.agent_id');
    if (plan.status || plan.twoFactor !== undefined) rows = rows.innerJoin('agents as a', 'a.id', 't.agent_id').where((eb: ExpressionBuilder<any, any>) => matches(db, eb, filtersOnly));
    const read = await db
      .selectFrom(rows.limit(PREFIX_COUNT_ROWS).as('m'))
      .select((eb) => [eb.fn.count<number>('m.agent_id').distinct().as('agents'), eb.fn.countAll<number>().as('rows')])
      .executeTakeFirstOrThrow();
    const agents = Number(read.agents);
    if (Number(read.rows) < PREFIX_COUNT_ROWS || agents > COUNT_CAP) return agents > COUNT_CAP ? { n: COUNT_CAP, more: true } : { n: agents, more: false };
  }
  const { q, keys } = driven(db, plan, driver);
  // In the driver's order, as a page: PostgreSQL then walks the index and stops at the cap,
  // where without it the planner hashes every agent row to verify the first thousand.
  const row = await db
    .selectFrom(q.select(sql.lit(1).as('one')).orderBy(keys[0]).orderBy(keys[1]).limit(COUNT_CAP + 1).as('m'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const n = Number(row.n);
  return n > COUNT_CAP ? { n: COUNT_CAP, more: true } : { n, more: false };
}

/**
 * The addresses whose door for unknown devices is locked now, as the list's "Locked" badge
 * (lockedAddresses). On PostgreSQL the agents' email is in "C" order and login_attempts' is
 * not: one collation for the comparison.
 */
function lockedEmails(db: Executor, plan: Plan) {
  const email = dialectOf(db) === 'postgres' ? sql<string>`la.email_normalized collate "C"` : sql<string>`la.email_normalized`;
  return db.selectFrom('login_attempts as la').select(email.as('e')).where('la.account_id', '=', plan.accountId).where('la.client', '=', UNKNOWN_DEVICES).where('la.locked_until', '>', plan.now);
}

/** The whole query, on the agent row `a`. */
function matches(db: Executor, eb: ExpressionBuilder<any, any>, plan: Plan) {
  const all = [];
  if (plan.search?.kind === 'inside') {
    const inside = like(`%${escapeLike(plan.search.text)}%`);
    all.push(eb.or([eb('a.name_folded', 'like', inside), eb('a.email_folded', 'like', inside)]));
  } else if (plan.search?.kind === 'prefix') {
    const text = escapeLike(plan.search.text);
    all.push(eb.or([eb('a.name_folded', 'like', like(`${text}%`)), eb('a.name_folded', 'like', like(`% ${text}%`)), eb('a.email_folded', 'like', like(`${text}%`))]));
  }
  if (plan.status === 'locked') {
    all.push(eb('a.email_normalized', 'in', lockedEmails(db, plan)));
  } else if (plan.status === 'password_change_pending') {
    // a literal, so that both planners may use the partial index on pending changes
    all.push(sql<boolean>`a.password_change_required = 1`);
  } else if (plan.status === 'invitation_expired') {
    // invited, no password, and no live invitation link (invitationStates: the latest is dead)
    const live = eb
      .selectFrom('password_reset_tokens as it')
      .select('it.id')
      .whereRef('it.agent_id', '=', 'a.id')
      .where('it.purpose', '=', 'invitation')
      .where('it.used_at', 'is', null)
      .where('it.revoked_at', 'is', null)
      .where('it.expires_at', '>', plan.now);
    all.push(eb.and([eb('a.status', '=', 'invited'), eb('a.password_hash', 'is', null), eb.not(eb.exists(live))]));
  } else if (plan.status) {
    all.push(eb('a.status', '=', plan.status));
  }
  if (plan.twoFactor !== undefined) all.push(eb('a.two_factor_enabled', '=', flag(plan.twoFactor)));
  return eb.and(all);
}

/** A LIKE pattern with its own % and _ escaped; both SQLite and PostgreSQL accept an explicit ESCAPE. */
function like(pattern: string) {
  return sql<string>`${pattern} escape '\\'`;
}
