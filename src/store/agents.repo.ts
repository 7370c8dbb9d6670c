import type { Agent, AgentStatus } from '../domain/models.js';
import { normalizeEmail } from '../domain/models.js';
import type { Executor } from './db.js';
import { dialectOf } from './dialect.js';
import type { AgentRow, AgentUpdate, RoleRow } from './schema.js';
import { sql, type ExpressionBuilder, type SelectQueryBuilder } from 'kysely';
import { dateOrNull, decodeCursor, encodeCursor, escapeLike, flag, iso } from './convert.js';
import { prefixUpperBound, writeAgentSearchTerms } from './agent-search-terms.repo.js';
import { toRole } from './roles.repo.js';

export type AgentWithRoleRow = AgentRow & { r_id: string; r_account_id: string; r_name: string; r_permissions: string; r_built_in: number };

function selectAgents(db: Executor) {
  return db
    .selectFrom('agents')
    .innerJoin('roles as r', 'r.id', 'agents.role_id')
    .selectAll('agents')
    .select(['r.id as r_id', 'r.account_id as r_account_id', 'r.name as r_name', 'r.permissions as r_permissions', 'r.built_in as r_built_in']);
}

export function toAgent(row: AgentWithRoleRow): Agent {
  const role: Pick<RoleRow, 'id' | 'account_id' | 'name' | 'permissions' | 'built_in'> = {
    id: row.r_id,
    account_id: row.r_account_id,
    name: row.r_name,
    permissions: row.r_permissions,
    built_in: row.r_built_in,
  };
  return {
    id: row.id,
    accountId: row.account_id,
    email: row.email,
    name: row.name,
    role: toRole(role),
    isAccountAdministrator: row.is_account_administrator === 1,
    status: row.status,
    passwordHash: row.password_hash,
    passwordChangedAt: dateOrNull(row.password_changed_at),
    passwordChangeRequired: row.password_change_required === 1,
    temporaryPasswordExpiresAt: dateOrNull(row.temporary_password_expires_at),
    passwordSetByAgentId: row.password_set_by_agent_id ?? null,
    twoFactorEnabled: row.two_factor_enabled === 1,
    timeZone: row.time_zone ?? null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export interface NewAgent {
  id: string;
  accountId: string;
  email: string;
  name: string;
  roleId: string;
  isAccountAdministrator: boolean;
  status: AgentStatus;
  passwordHash: string | null;
  now: Date;
}

export async function insertAgent(db: Executor, agent: NewAgent): Promise<void> {
  const emailNormalized = normalizeEmail(agent.email);
  const nameNormalized = agent.name.trim().toLowerCase();
  await db
    .insertInto('agents')
    .values({
      id: agent.id,
      account_id: agent.accountId,
      email: agent.email.trim(),
      email_normalized: emailNormalized,
      name: agent.name.trim(),
      name_normalized: nameNormalized,
      role_id: agent.roleId,
      is_account_administrator: flag(agent.isAccountAdministrator),
      status: agent.status,
      password_hash: agent.passwordHash,
      password_changed_at: agent.passwordHash ? iso(agent.now) : null,
      password_change_required: 0,
      temporary_password_expires_at: null,
      created_at: iso(agent.now),
      updated_at: iso(agent.now),
    })
    .execute();
  await writeAgentSearchTerms(db, { accountId: agent.accountId, agentId: agent.id, emailNormalized, nameNormalized });
}

export async function findAgentById(db: Executor, accountId: string, id: string): Promise<Agent | undefined> {
  const row = await selectAgents(db).where('agents.account_id', '=', accountId).where('agents.id', '=', id).executeTakeFirst();
  return row && toAgent(row as AgentWithRoleRow);
}

export async function findAgentByEmail(db: Executor, accountId: string, email: string): Promise<Agent | undefined> {
  const row = await selectAgents(db)
    .where('agents.account_id', '=', accountId)
    .where('agents.email_normalized', '=', normalizeEmail(email))
    .executeTakeFirst();
  return row && toAgent(row as AgentWithRoleRow);
}

/** The agents of a role whose current password somebody else chose (see retireOthersPasswordOnGrowth). */
export async function findAgentsWithPasswordSetByOthers(db: Executor, accountId: string, roleId: string): Promise<Agent[]> {
  const rows = await selectAgents(db).where('agents.account_id', '=', accountId).where('agents.role_id', '=', roleId).where('agents.password_set_by_agent_id', 'is not', null).execute();
  return rows.map((row) => toAgent(row as AgentWithRoleRow));
}

export async function findAccountAdministrator(db: Executor, accountId: string): Promise<Agent | undefined> {
  const row = await selectAgents(db).where('agents.account_id', '=', accountId).where('agents.is_account_administrator', '=', 1).executeTakeFirst();
  return row && toAgent(row as AgentWithRoleRow);
}

export interface AgentListQuery {
  search?: string;
  status?: AgentStatus;
  /** false: only agents without a second factor (`?twoFactor=off`); true: only those with one */
  twoFactor?: boolean;
  limit: number;
  cursor?: string;
}

/**
 * A page of agents ordered by email, with a keyset cursor (no OFFSET scans).
 * `search` matches a prefix of the email or of any word of the name (see searchFilter).
 */
export async function listAgents(db: Executor, accountId: string, query: AgentListQuery): Promise<{ agents: Agent[]; nextCursor: string | null } | 'invalid_cursor'> {
  const after = decodeCursor(query.cursor, 2);
  if (after === 'invalid') return 'invalid_cursor';
  const page: PageQuery = { accountId, status: query.status, twoFactor: query.twoFactor, after: after ? { email: String(after[0]), id: String(after[1]) } : undefined, size: query.limit + 1 };
  const search = query.search?.trim().toLowerCase();
  let rows: AgentWithRoleRow[] | undefined;
  if (search && (await countNameMatches(db, accountId, search)) >= DENSE_NAME_MATCHES) {
    // A common prefix ("m"): its matches are usually spread over the list, so the next few
    // thousand agents in email order hold a page of them. If they do not (the matches cluster
    // further on), the candidate search below finds them.
    const walked = await walkForMatches(db, search, page);
    if (walked.length === page.size) rows = walked;
  }
  if (!rows) {
    let q = selectAgents(db);
    if (search) {
      // The page by the ids of its candidates. No account_id condition here (the candidates are
      // the account's already): it would tempt SQLite to walk every agent of the account instead.
      q = q.where('agents.id', 'in', searchCandidates(db, search, page));
    } else {
      q = q.where('agents.account_id', '=', accountId);
    }
    if (page.status) q = q.where('agents.status', '=', page.status);
    if (page.twoFactor !== undefined) q = q.where('agents.two_factor_enabled', '=', flag(page.twoFactor));
    q = afterCursor(q, 'agents.email_normalized', 'agents.id', page.after);
    rows = (await q.orderBy('agents.email_normalized').orderBy('agents.id').limit(page.size).execute()) as AgentWithRoleRow[];
  }
  const agents = rows.slice(0, query.limit);
  const last = agents.at(-1);
  const nextCursor = rows.length > query.limit && last ? encodeCursor([last.email_normalized, last.id]) : null;
  return { agents: agents.map(toAgent), nextCursor };
}

interface PageQuery {
  accountId: string;
  status?: AgentStatus;
  twoFactor?: boolean;
  after?: { email: string; id: string };
  /** rows to read: the page and one more */
  size: number;
}

/** Name-word matches from which walking the list is likely cheaper than sorting them all. */
const DENSE_NAME_MATCHES = 2000;

/** How many search rows start with `search`, counted up to DENSE_NAME_MATCHES on the index alone. */
async function countNameMatches(db: Executor, accountId: string, search: string): Promise<number> {
  const upper = prefixUpperBound(search);
  let matches = db.selectFrom('agent_search_terms').select('agent_id').where('account_id', '=', accountId).where('term', '>=', search);
  if (upper !== null) matches = matches.where('term', '<', upper);
  const row = await db
    .selectFrom(matches.limit(DENSE_NAME_MATCHES).as('m'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The ids that can be on the page of a selective search: the page's worth of agents whose email
 * starts with it (a range on (account_id, email_normalized), already in page order) and the
 * page's worth of agents with a name word starting with it (a range on the covering
 * agent_search_terms index, sorted). Their union holds the page.
 */
function searchCandidates(db: Executor, search: string, page: PageQuery) {
  const upper = prefixUpperBound(search);
  let byEmail = db.selectFrom('agents').select('agents.id as id').where('agents.account_id', '=', page.accountId).where('agents.email_normalized', '>=', search);
  if (upper !== null) byEmail = byEmail.where('agents.email_normalized', '<', upper);
  if (page.status) byEmail = byEmail.where('agents.status', '=', page.status);
  if (page.twoFactor !== undefined) byEmail = byEmail.where('agents.two_factor_enabled', '=', flag(page.twoFactor));
  byEmail = afterCursor(byEmail, 'agents.email_normalized', 'agents.id', page.after);

  let byName = db.selectFrom('agent_search_terms as t').select(['t.agent_id as id', 't.email_normalized as email']).distinct().where('t.account_id', '=', page.accountId).where('t.term', '>=', search);
  if (upper !== null) byName = byName.where('t.term', '<', upper);
  const status = page.status;
  const twoFactor = page.twoFactor;
  if (status || twoFactor !== undefined) {
    byName = byName.where((eb) => {
      let agent = eb.selectFrom('agents as ta').select('ta.id').whereRef('ta.id', '=', 't.agent_id');
      if (status) agent = agent.where('ta.status', '=', status);
      if (twoFactor !== undefined) agent = agent.where('ta.two_factor_enabled', '=', flag(twoFactor));
      return eb.exists(agent);
    });
  }
  byName = afterCursor(byName, 't.email_normalized', 't.agent_id', page.after);

  const emailPage = byEmail.orderBy('agents.email_normalized').orderBy('agents.id').limit(page.size);
  const namePage = byName.orderBy('t.email_normalized').orderBy('t.agent_id').limit(page.size);
  return db.selectFrom(emailPage.as('e')).select('e.id').union(db.selectFrom(namePage.as('n')).select('n.id'));
}

/** How many agents a common-prefix search walks in email order before it looks elsewhere. */
const WALK_ROWS = 4000;

/** The matches among the next WALK_ROWS agents in email order (page.size of them when they are enough). */
async function walkForMatches(db: Executor, search: string, page: PageQuery): Promise<AgentWithRoleRow[]> {
  let window = db.selectFrom('agents').selectAll().where('agents.account_id', '=', page.accountId);
  if (page.status) window = window.where('agents.status', '=', page.status);
  if (page.twoFactor !== undefined) window = window.where('agents.two_factor_enabled', '=', flag(page.twoFactor));
  window = afterCursor(window, 'agents.email_normalized', 'agents.id', page.after);
  const rows = await db
    .selectFrom(window.orderBy('agents.email_normalized').orderBy('agents.id').limit(WALK_ROWS).as('agents'))
    .innerJoin('roles as r', 'r.id', 'agents.role_id')
    .selectAll('agents')
    .select(['r.id as r_id', 'r.account_id as r_account_id', 'r.name as r_name', 'r.permissions as r_permissions', 'r.built_in as r_built_in'])
    .where((eb) => eb.or([eb('agents.email_normalized', 'like', likePrefix(search)), eb('agents.name_normalized', 'like', likePrefix(search)), eb('agents.name_normalized', 'like', likePrefix(search, '% '))]))
    .orderBy('agents.email_normalized')
    .orderBy('agents.id')
    .limit(page.size)
    .execute();
  return rows as AgentWithRoleRow[];
}

/** Rows after the cursor in (email, id) order. */
function afterCursor<QB extends SelectQueryBuilder<any, any, any>>(q: QB, emailColumn: string, idColumn: string, after: PageQuery['after']): QB {
  if (!after) return q;
  return q.where((eb: ExpressionBuilder<any, any>) => eb.or([eb(emailColumn, '>', after.email), eb.and([eb(emailColumn, '=', after.email), eb(idColumn, '>', after.id)])])) as QB;
}

/** LIKE 'search%' (or '% search%'), with the search's own % and _ taken literally. */
function likePrefix(search: string, before = '') {
  // LIKE's default escape differs by dialect; both SQLite and PostgreSQL accept an explicit ESCAPE.
  return sql<string>`${`${before}${escapeLike(search)}%`} escape '\\'`;
}

export async function updateAgent(db: Executor, accountId: string, id: string, changes: Omit<AgentUpdate, 'id' | 'account_id'>, now: Date): Promise<void> {
  await db
    .updateTable('agents')
    .set({ ...changes, updated_at: iso(now) })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .execute();
  if (changes.name_normalized !== undefined) {
    // a new name, new search rows (the caller's transaction holds both)
    const row = await db.selectFrom('agents').select('email_normalized').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    if (row) await writeAgentSearchTerms(db, { accountId, agentId: id, emailNormalized: row.email_normalized, nameNormalized: changes.name_normalized });
  }
}

export function renameFields(name: string): Pick<AgentUpdate, 'name' | 'name_normalized'> {
  return { name: name.trim(), name_normalized: name.trim().toLowerCase() };
}

/** The stored consequence of any password set: new hash, change flag, one-time expiry. */
export function passwordFields(passwordHash: string, now: Date, temporaryUntil: Date | null, setByAgentId: string | null): AgentUpdate {
  return {
    password_hash: passwordHash,
    password_changed_at: iso(now),
    password_change_required: flag(temporaryUntil !== null),
    temporary_password_expires_at: temporaryUntil ? iso(temporaryUntil) : null,
    password_set_by_agent_id: setByAgentId,
  };
}

/**
 * Reads the agent's credentials again inside a transaction, holding the row on PostgreSQL
 * (FOR UPDATE) until the transaction ends, so a password change or deactivation racing this
 * transaction either commits before (and is seen here) or waits until after it. SQLite runs
 * one write transaction at a time, which gives the same guarantee.
 */
export async function lockAgentCredentials(trx: Executor, accountId: string, agentId: string): Promise<{ passwordHash: string | null; status: AgentStatus } | undefined> {
  let q = trx.selectFrom('agents').select(['password_hash', 'status']).where('account_id', '=', accountId).where('id', '=', agentId);
  if (dialectOf(trx) === 'postgres') q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row && { passwordHash: row.password_hash, status: row.status };
}

/**
 * The agent as it is now, inside a transaction, holding its row on PostgreSQL (FOR UPDATE) until
 * the transaction ends: a change that depends on the agent's role or password (an admin set, a
 * role change) then sees the other's commit, or makes it wait. SQLite runs one write at a time.
 */
export async function lockAgentForChange(trx: Executor, accountId: string, agentId: string): Promise<Agent | undefined> {
  if (dialectOf(trx) === 'postgres') {
    // One table per lock: FOR UPDATE over the join would recheck the join against the old role
    // row after a concurrent role change and return nothing. The agent row first (its role id
    // cannot change while held), then the role row (an edit of its permissions waits, or is
    // waited for); then a fresh read sees whatever committed before.
    const row = await trx.selectFrom('agents').select('role_id').where('account_id', '=', accountId).where('id', '=', agentId).forUpdate().executeTakeFirst();
    if (!row) return undefined;
    await trx.selectFrom('roles').select('id').where('id', '=', row.role_id).forUpdate().execute();
  }
  const fresh = await selectAgents(trx).where('agents.account_id', '=', accountId).where('agents.id', '=', agentId).executeTakeFirst();
  return fresh && toAgent(fresh as AgentWithRoleRow);
}

/** An invited agent who now has a password is active; any other status is left as the row has it. */
export async function activateIfInvited(db: Executor, accountId: string, agentId: string): Promise<void> {
  await db.updateTable('agents').set({ status: 'active' }).where('account_id', '=', accountId).where('id', '=', agentId).where('status', '=', 'invited').execute();
}
