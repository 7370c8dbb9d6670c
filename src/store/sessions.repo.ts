import type { Session } from '../domain/models.js';
import type { Executor } from './db.js';
import type { SessionRow } from './schema.js';
import { iso } from './convert.js';

function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    accountId: row.account_id,
    agentId: row.agent_id,
    createdAt: new Date(row.created_at),
    lastSeenAt: new Date(row.last_seen_at),
    authenticatedAt: new Date(row.authenticated_at),
    expiresAt: new Date(row.expires_at),
    ip: row.ip,
    userAgent: row.user_agent,
  };
}

export async function insertSession(db: Executor, session: Session, tokenHash: string): Promise<void> {
  await db
    .insertInto('sessions')
    .values({
      id: session.id,
      account_id: session.accountId,
      agent_id: session.agentId,
      token_hash: tokenHash,
      created_at: iso(session.createdAt),
      last_seen_at: iso(session.lastSeenAt),
      authenticated_at: iso(session.authenticatedAt),
      expires_at: iso(session.expiresAt),
      ip: session.ip,
      user_agent: session.userAgent,
    })
    .execute();
}

export async function findSessionByTokenHash(db: Executor, tokenHash: string): Promise<Session | undefined> {
  const row = await db.selectFrom('sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  return row && toSession(row);
}

export async function touchSession(db: Executor, id: string, now: Date): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at: iso(now) }).where('id', '=', id).execute();
}

export async function markSessionAuthenticated(db: Executor, id: string, now: Date): Promise<void> {
  await db.updateTable('sessions').set({ authenticated_at: iso(now), last_seen_at: iso(now) }).where('id', '=', id).execute();
}

export async function listAgentSessions(db: Executor, agentId: string, now: Date): Promise<Session[]> {
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where('agent_id', '=', agentId)
    .where('expires_at', '>', iso(now))
    .orderBy('last_seen_at', 'desc')
    .execute();
  return rows.map(toSession);
}

export async function deleteSession(db: Executor, agentId: string, id: string): Promise<number> {
  const result = await db.deleteFrom('sessions').where('agent_id', '=', agentId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Ends the agent's sessions, all or all but one (a self-change keeps the current session). */
export async function deleteAgentSessions(db: Executor, agentId: string, exceptId?: string): Promise<number> {
  let q = db.deleteFrom('sessions').where('agent_id', '=', agentId);
  if (exceptId) q = q.where('id', '!=', exceptId);
  const result = await q.executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function sweepSessions(db: Executor, now: Date, batchSize = 1000): Promise<number> {
  const ids = await db.selectFrom('sessions').select('id').where('expires_at', '<=', iso(now)).limit(batchSize).execute();
  if (ids.length === 0) return 0;
  await db.deleteFrom('sessions').where('id', 'in', ids.map((r) => r.id)).execute();
  return ids.length;
}

export async function sweepIdleSessions(db: Executor, accountId: string, idleSince: Date, batchSize = 1000): Promise<number> {
  const ids = await db.selectFrom('sessions').select('id').where('account_id', '=', accountId).where('last_seen_at', '<=', iso(idleSince)).limit(batchSize).execute();
  if (ids.length === 0) return 0;
  await db.deleteFrom('sessions').where('id', 'in', ids.map((r) => r.id)).execute();
  return ids.length;
}
