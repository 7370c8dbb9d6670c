import type { Executor } from './db.js';
import type { ResetTokenPurpose, ResetTokenRow } from './schema.js';
import { iso } from './convert.js';

export interface ResetToken {
  id: string;
  accountId: string;
  agentId: string;
  purpose: ResetTokenPurpose;
  createdByAgentId: string | null;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
}

function toToken(row: ResetTokenRow): ResetToken {
  return {
    id: row.id,
    accountId: row.account_id,
    agentId: row.agent_id,
    purpose: row.purpose,
    createdByAgentId: row.created_by_agent_id,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    usedAt: row.used_at ? new Date(row.used_at) : null,
    revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
  };
}

export async function insertResetToken(db: Executor, token: ResetToken, tokenHash: string): Promise<void> {
  await db
    .insertInto('password_reset_tokens')
    .values({
      id: token.id,
      account_id: token.accountId,
      agent_id: token.agentId,
      token_hash: tokenHash,
      purpose: token.purpose,
      created_by_agent_id: token.createdByAgentId,
      created_at: iso(token.createdAt),
      expires_at: iso(token.expiresAt),
      used_at: null,
      revoked_at: null,
    })
    .execute();
}

export async function findResetTokenByHash(db: Executor, tokenHash: string): Promise<ResetToken | undefined> {
  const row = await db.selectFrom('password_reset_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  return row && toToken(row);
}

/**
 * Redeems a link in one atomic statement: of any number of concurrent calls with the
 * same hash, exactly one gets the row back; the others get undefined.
 */
export async function consumeResetToken(db: Executor, tokenHash: string, now: Date): Promise<ResetToken | undefined> {
  const row = await db
    .updateTable('password_reset_tokens')
    .set({ used_at: iso(now) })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', iso(now))
    .returningAll()
    .executeTakeFirst();
  return row && toToken(row);
}

/** Kills every live link of the agent (a newer link, a password change, a deactivation). */
export async function revokeAgentResetTokens(db: Executor, agentId: string, now: Date, exceptId?: string): Promise<number> {
  let q = db
    .updateTable('password_reset_tokens')
    .set({ revoked_at: iso(now) })
    .where('agent_id', '=', agentId)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null);
  if (exceptId) q = q.where('id', '!=', exceptId);
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Expired and used links are kept 7 days (a late click says "expired", not "unknown"), then deleted. */
export async function sweepResetTokens(db: Executor, olderThan: Date, batchSize = 1000): Promise<number> {
  const cutoff = iso(olderThan);
  const ids = await db
    .selectFrom('password_reset_tokens')
    .select('id')
    .where((eb) => eb.or([eb('expires_at', '<', cutoff), eb('used_at', '<', cutoff), eb('revoked_at', '<', cutoff)]))
    .limit(batchSize)
    .execute();
  if (ids.length === 0) return 0;
  await db.deleteFrom('password_reset_tokens').where('id', 'in', ids.map((r) => r.id)).execute();
  return ids.length;
}
