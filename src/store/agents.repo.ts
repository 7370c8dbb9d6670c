import { sql } from 'kysely';
import type { Agent, AgentStatus } from '../domain/models.js';
import { normalizeEmail } from '../domain/models.js';
import type { Executor } from './db.js';
import type { AgentRow, AgentUpdate, RoleRow } from './schema.js';
import { dateOrNull, decodeCursor, encodeCursor, escapeLike, flag, iso } from './convert.js';
import { toRole } from './roles.repo.js';

type AgentWithRoleRow = AgentRow & { r_id: string; r_account_id: string; r_name: string; r_permissions: string; r_built_in: number };

function selectAgents(db: Executor) {
  return db
    .selectFrom('agents')
    .innerJoin('roles as r', 'r.id', 'agents.role_id')
    .selectAll('agents')
    .select(['r.id as r_id', 'r.account_id as r_account_id', 'r.name as r_name', 'r.permissions as r_permissions', 'r.built_in as r_built_in']);
}

function toAgent(row: AgentWithRoleRow): Agent {
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
  await db
    .insertInto('agents')
    .values({
      id: agent.id,
      account_id: agent.accountId,
      email: agent.email.trim(),
      email_normalized: normalizeEmail(agent.email),
      name: agent.name.trim(),
      name_normalized: agent.name.trim().toLowerCase(),
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

export async function findAccountAdministrator(db: Executor, accountId: string): Promise<Agent | undefined> {
  const row = await selectAgents(db).where('agents.account_id', '=', accountId).where('agents.is_account_administrator', '=', 1).executeTakeFirst();
  return row && toAgent(row as AgentWithRoleRow);
}

export async function countAgentsWithRole(db: Executor, accountId: string, roleId: string): Promise<number> {
  const row = await db
    .selectFrom('agents')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('account_id', '=', accountId)
    .where('role_id', '=', roleId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface AgentListQuery {
  search?: string;
  status?: AgentStatus;
  limit: number;
  cursor?: string;
}

/**
 * A page of agents ordered by email, with a keyset cursor (no OFFSET scans).
 * `search` matches a prefix of the email or of any word of the name.
 */
export async function listAgents(db: Executor, accountId: string, query: AgentListQuery): Promise<{ agents: Agent[]; nextCursor: string | null } | 'invalid_cursor'> {
  const after = decodeCursor(query.cursor, 2);
  if (after === 'invalid') return 'invalid_cursor';
  let q = selectAgents(db).where('agents.account_id', '=', accountId);
  if (query.status) q = q.where('agents.status', '=', query.status);
  const search = query.search?.trim().toLowerCase();
  if (search) {
    // LIKE's default escape differs by dialect; both SQLite and PostgreSQL accept an explicit ESCAPE.
    const like = (pattern: string) => sql<string>`${pattern} escape '\\'`;
    const prefix = `${escapeLike(search)}%`;
    q = q.where((eb) =>
      eb.or([
        eb('agents.email_normalized', 'like', like(prefix)),
        eb('agents.name_normalized', 'like', like(prefix)),
        eb('agents.name_normalized', 'like', like(`% ${prefix}`)),
      ]),
    );
  }
  if (after) {
    const [email, id] = after as [string, string];
    q = q.where((eb) => eb.or([eb('agents.email_normalized', '>', email), eb.and([eb('agents.email_normalized', '=', email), eb('agents.id', '>', id)])]));
  }
  const rows = (await q.orderBy('agents.email_normalized').orderBy('agents.id').limit(query.limit + 1).execute()) as AgentWithRoleRow[];
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  const nextCursor = rows.length > query.limit && last ? encodeCursor([last.email_normalized, last.id]) : null;
  return { agents: page.map(toAgent), nextCursor };
}

export async function updateAgent(db: Executor, accountId: string, id: string, changes: Omit<AgentUpdate, 'id' | 'account_id'>, now: Date): Promise<void> {
  await db
    .updateTable('agents')
    .set({ ...changes, updated_at: iso(now) })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .execute();
}

export function renameFields(name: string): Pick<AgentUpdate, 'name' | 'name_normalized'> {
  return { name: name.trim(), name_normalized: name.trim().toLowerCase() };
}

/** The stored consequence of any password set: new hash, change flag, one-time expiry. */
export function passwordFields(passwordHash: string, now: Date, temporaryUntil: Date | null): AgentUpdate {
  return {
    password_hash: passwordHash,
    password_changed_at: iso(now),
    password_change_required: flag(temporaryUntil !== null),
    temporary_password_expires_at: temporaryUntil ? iso(temporaryUntil) : null,
  };
}
