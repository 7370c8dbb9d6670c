import type { Agent, AgentStatus } from '../domain/models.js';
export { listAgents, type AgentListQuery, type AgentListStatus } from './agent-list.repo.js';
import { normalizeEmail } from '../domain/models.js';
import type { Executor } from './db.js';
import { dialectOf } from './dialect.js';
import type { AgentRow, AgentUpdate, RoleRow } from './schema.js';
import { dateOrNull, flag, iso } from './convert.js';
import { foldForSearch, writeAgentSearchTerms } from './agent-search-terms.repo.js';
import { toRole } from './roles.repo.js';
import { compiledOnce } from './compiled-once.js';
import { agentScope } from './change-scopes.js';

export type AgentWithRoleRow = AgentRow & { r_id: string; r_account_id: string; r_name: string; r_permissions: string; r_built_in: number };

/** The role's columns beside the agent's (toAgent reads them). */
export const ROLE_COLUMNS = ['r.id as r_id', 'r.account_id as r_account_id', 'r.name as r_name', 'r.permissions as r_permissions', 'r.built_in as r_built_in'] as const;

function selectAgents(db: Executor) {
  return db.selectFrom('agents').innerJoin('roles as r', 'r.id', 'agents.role_id').selectAll('agents').select(ROLE_COLUMNS);
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
    lastSignInAt: dateOrNull(row.last_sign_in_at ?? null),
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
  const searchable = { accountId: agent.accountId, agentId: agent.id, emailNormalized, nameFolded: foldForSearch(agent.name), emailFolded: foldForSearch(emailNormalized) };
  await db
    .insertInto('agents')
    .values({
      id: agent.id,
      account_id: agent.accountId,
      email: agent.email.trim(),
      email_normalized: emailNormalized,
      name: agent.name.trim(),
      name_normalized: nameNormalized,
      name_folded: searchable.nameFolded,
      email_folded: searchable.emailFolded,
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
  await writeAgentSearchTerms(db, searchable);
}

export async function findAgentById(db: Executor, accountId: string, id: string): Promise<Agent | undefined> {
  const row = await selectAgents(db).where('agents.account_id', '=', accountId).where('agents.id', '=', id).executeTakeFirst();
  return row && toAgent(row as AgentWithRoleRow);
}

// Every sign-in sends these (compiled once: compiled-once.ts).
const agentByEmail = compiledOnce((db, accountId: string, emailNormalized: string) => selectAgents(db).where('agents.account_id', '=', accountId).where('agents.email_normalized', '=', emailNormalized));
// A scoped change (change-scopes.ts): the holders of this agent's sessions show its last sign-in.
const signInRecord = compiledOnce(
  (db, lastSignInAt: string, accountId: string, agentId: string) =>
    db.updateTable('agents').set({ last_sign_in_at: lastSignInAt }).where('account_id', '=', accountId).where('id', '=', agentId).returning(['password_hash', 'status']),
  { scopes: (_, __, agentId) => [agentScope(agentId)] },
);
const credentialsLock = compiledOnce((db, accountId: string, agentId: string) => {
  const q = db.selectFrom('agents').select(['password_hash', 'status']).where('account_id', '=', accountId).where('id', '=', agentId);
  return dialectOf(db) === 'postgres' ? q.forUpdate() : q;
});

export async function findAgentByEmail(db: Executor, accountId: string, email: string): Promise<Agent | undefined> {
  const row = (await agentByEmail(db, accountId, normalizeEmail(email))).rows[0];
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

export async function updateAgent(db: Executor, accountId: string, id: string, changes: Omit<AgentUpdate, 'id' | 'account_id' | 'name_folded' | 'email_folded'>, now: Date): Promise<void> {
  const searched = changes.name !== undefined || changes.email_normalized !== undefined;
  const current = searched ? await db.selectFrom('agents').select(['name', 'email_normalized']).where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst() : undefined;
  const name = changes.name ?? current?.name ?? '';
  const emailNormalized = changes.email_normalized ?? current?.email_normalized ?? '';
  const folded = current ? { name_folded: foldForSearch(name), email_folded: foldForSearch(emailNormalized) } : {};
  await db
    .updateTable('agents')
    .set({ ...changes, ...folded, updated_at: iso(now) })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .execute();
  if (current) {
    // a new name or email, new search rows (the caller's transaction holds both)
    await writeAgentSearchTerms(db, { accountId, agentId: id, emailNormalized, nameFolded: folded.name_folded!, emailFolded: folded.email_folded! });
  }
}

/**
 * A session starts for the agent (in the transaction that starts it): the list's "last sign-in".
 * Answers the credentials as they are now, like lockAgentCredentials (the UPDATE holds the row on
 * PostgreSQL until the transaction ends), so that the sign-in checks them and rolls back if they
 * changed under its proof: one statement where a lock and then an update took two.
 */
export async function recordSignIn(db: Executor, accountId: string, agentId: string, now: Date): Promise<{ passwordHash: string | null; status: AgentStatus } | undefined> {
  const row = (await signInRecord(db, iso(now), accountId, agentId)).rows[0];
  return row && { passwordHash: row.password_hash, status: row.status };
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
  const row = (await credentialsLock(trx, accountId, agentId)).rows[0];
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
