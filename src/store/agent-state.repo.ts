import type { Executor } from './db.js';
import type { ResetTokenPurpose } from './schema.js';
import { dateOrNull } from './convert.js';

/** The newest reset link of an agent that is not an invitation, with who issued it. */
export interface LatestResetLink {
  purpose: Exclude<ResetTokenPurpose, 'invitation'>;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
  createdBy: { id: string; name: string } | null;
}

/** One indexed lookup (password_reset_tokens by agent), newest first, limit 1. */
export async function latestResetLink(db: Executor, accountId: string, agentId: string): Promise<LatestResetLink | undefined> {
  const row = await db
    .selectFrom('password_reset_tokens as t')
    .leftJoin('agents as by', 'by.id', 't.created_by_agent_id')
    .select(['t.purpose', 't.created_at', 't.expires_at', 't.used_at', 't.revoked_at', 't.created_by_agent_id', 'by.name as by_name'])
    .where('t.account_id', '=', accountId)
    .where('t.agent_id', '=', agentId)
    .where('t.purpose', '!=', 'invitation')
    .orderBy('t.created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    purpose: row.purpose as LatestResetLink['purpose'],
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    usedAt: dateOrNull(row.used_at),
    revokedAt: dateOrNull(row.revoked_at),
    createdBy: row.created_by_agent_id ? { id: row.created_by_agent_id, name: row.by_name ?? '' } : null,
  };
}

/**
 * The newest audit event about this agent (as the target) of one of these types: one step
 * down the (target_agent_id, id) index, so an agent page stays cheap however long the log.
 */
export async function latestEventAbout(db: Executor, accountId: string, agentId: string, types: readonly string[]): Promise<{ type: string; createdAt: Date; ip: string | null; userAgent: string | null } | undefined> {
  const row = await db
    .selectFrom('audit_events')
    .select(['type', 'created_at', 'ip', 'user_agent'])
    .where('target_agent_id', '=', agentId)
    .where('account_id', '=', accountId)
    .where('type', 'in', [...types])
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  return { type: row.type, createdAt: new Date(row.created_at), ip: row.ip, userAgent: row.user_agent };
}
