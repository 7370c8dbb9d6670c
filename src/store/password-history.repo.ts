import type { Executor } from './db.js';
import { iso } from './convert.js';

/** How many hashes are kept per agent, whatever the account's history depth (so it can be raised). */
const KEPT = 24;

export async function addPasswordHistory(db: Executor, accountId: string, agentId: string, passwordHash: string, now: Date): Promise<void> {
  await db.insertInto('password_history').values({ account_id: accountId, agent_id: agentId, password_hash: passwordHash, created_at: iso(now) }).execute();
  const keep = await db.selectFrom('password_history').select('id').where('agent_id', '=', agentId).orderBy('id', 'desc').limit(KEPT).execute();
  if (keep.length === KEPT) {
    const oldestKept = keep[keep.length - 1].id;
    await db.deleteFrom('password_history').where('agent_id', '=', agentId).where('id', '<', oldestKept).execute();
  }
}

/** The agent's most recent password hashes, newest first (the current one included). */
export async function recentPasswordHashes(db: Executor, agentId: string, count: number): Promise<string[]> {
  if (count <= 0) return [];
  const rows = await db.selectFrom('password_history').select('password_hash').where('agent_id', '=', agentId).orderBy('id', 'desc').limit(count).execute();
  return rows.map((r) => r.password_hash);
}
