import type { Executor } from './db.js';
import { iso } from './convert.js';

export interface LoginAttempts {
  failedCount: number;
  lockedUntil: Date | null;
}

export async function findLoginAttempts(db: Executor, accountId: string, emailNormalized: string): Promise<LoginAttempts> {
  const row = await db
    .selectFrom('login_attempts')
    .select(['failed_count', 'locked_until'])
    .where('account_id', '=', accountId)
    .where('email_normalized', '=', emailNormalized)
    .executeTakeFirst();
  return { failedCount: row?.failed_count ?? 0, lockedUntil: row?.locked_until ? new Date(row.locked_until) : null };
}

/** Counts one more failure for the address (known or not) and returns the new count. */
export async function recordLoginFailure(db: Executor, accountId: string, emailNormalized: string, now: Date): Promise<number> {
  const row = await db
    .insertInto('login_attempts')
    .values({ account_id: accountId, email_normalized: emailNormalized, failed_count: 1, last_failed_at: iso(now), locked_until: null })
    .onConflict((oc) =>
      oc.columns(['account_id', 'email_normalized']).doUpdateSet((eb) => ({
        failed_count: eb('login_attempts.failed_count', '+', 1),
        last_failed_at: iso(now),
      })),
    )
    .returning('failed_count')
    .executeTakeFirstOrThrow();
  return row.failed_count;
}

export async function lockAddress(db: Executor, accountId: string, emailNormalized: string, until: Date): Promise<void> {
  await db
    .updateTable('login_attempts')
    .set({ locked_until: iso(until), failed_count: 0 })
    .where('account_id', '=', accountId)
    .where('email_normalized', '=', emailNormalized)
    .execute();
}

/** A success, an unlock or a reset clears the counter and the lock. */
export async function clearLoginAttempts(db: Executor, accountId: string, emailNormalized: string): Promise<void> {
  await db.deleteFrom('login_attempts').where('account_id', '=', accountId).where('email_normalized', '=', emailNormalized).execute();
}

export async function lockedAddresses(db: Executor, accountId: string, emailsNormalized: string[], now: Date): Promise<Set<string>> {
  if (emailsNormalized.length === 0) return new Set();
  const rows = await db
    .selectFrom('login_attempts')
    .select('email_normalized')
    .where('account_id', '=', accountId)
    .where('email_normalized', 'in', emailsNormalized)
    .where('locked_until', '>', iso(now))
    .execute();
  return new Set(rows.map((r) => r.email_normalized));
}
