import type { Executor } from './db.js';

/**
 * The newest invitation link of each agent (live, expired, used or revoked): Manage › Agents
 * tells "invitation pending" from "invitation expired" with it.
 */
export async function latestInvitations(db: Executor, accountId: string, agentIds: string[]): Promise<Map<string, { sentAt: Date; expiresAt: Date; usedAt: Date | null; revokedAt: Date | null }>> {
  const latest = new Map<string, { expiresAt: Date; usedAt: Date | null; revokedAt: Date | null; createdAt: string }>();
  if (agentIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('password_reset_tokens')
    .select(['agent_id', 'created_at', 'expires_at', 'used_at', 'revoked_at'])
    .where('account_id', '=', accountId)
    .where('purpose', '=', 'invitation')
    .where('agent_id', 'in', agentIds)
    .execute();
  for (const row of rows) {
    const known = latest.get(row.agent_id);
    if (known && known.createdAt >= row.created_at) continue;
    latest.set(row.agent_id, {
      createdAt: row.created_at,
      expiresAt: new Date(row.expires_at),
      usedAt: row.used_at ? new Date(row.used_at) : null,
      revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
    });
  }
  return new Map([...latest].map(([id, { createdAt, ...rest }]) => [id, { sentAt: new Date(createdAt), ...rest }]));
}
