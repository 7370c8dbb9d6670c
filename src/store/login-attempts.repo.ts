import { sql } from 'kysely';
import type { Executor } from './db.js';
import { iso } from './convert.js';
import { compiledOnce } from './compiled-once.js';
import { addressScope } from './change-scopes.js';

/**
 * Who a failure is counted for. The lock has several doors per address: `UNKNOWN_DEVICES` for
 * every client that never signed in to it (anyone on the internet), one per trusted device (a
 * browser or API client holding a signed device token for the address), and one per session
 * for re-authentication. A stranger can only ever close the first.
 */
export const UNKNOWN_DEVICES = '';

export interface LoginAttempts {
  failedCount: number;
  lockedUntil: Date | null;
}

export type AttemptReservation =
  /** the attempt may verify; `count` is its place among the door's failures, `locks` whether a failure of it locks the door */
  | { reserved: true; count: number; locks: boolean; lockedUntil: Date | null }
  /** the door is locked (or its last allowed attempts are still being verified) */
  | { reserved: false; lockedUntil: Date };

/**
 * Reserves one attempt before the password is verified: one atomic upsert counts it as a failure
 * unless the door is locked, and the attempt that reaches the threshold sets the lock at once.
 * So of N parallel guesses at most `threshold` are ever verified, on every dialect and across
 * instances. A success clears the count (clearLoginAttempts); a failure leaves it counted.
 */
// Compiled once (compiled-once.ts): every sign-in sends it. Both are scoped changes
// (change-scopes.ts): only the holders of the agent with this address show its lock.
const attemptReservation = compiledOnce((db, accountId: string, email: string, client: string, nowIso: string, lockIso: string, firstLock: string | null, threshold: number) => {
  // A lock that has run out starts a new count at 1.
  const nextCount = sql<number>`case when login_attempts.locked_until is not null and login_attempts.locked_until <= ${nowIso} then 1 else login_attempts.failed_count + 1 end`;
  return db
    .insertInto('login_attempts')
    .values({ account_id: accountId, email_normalized: email, client, failed_count: 1, last_failed_at: nowIso, locked_until: firstLock })
    .onConflict((oc) =>
      oc
        .columns(['account_id', 'email_normalized', 'client'])
        .doUpdateSet({
          failed_count: nextCount,
          last_failed_at: nowIso,
          locked_until: sql<string | null>`case when ${nextCount} >= ${threshold} then ${lockIso} else null end`,
        })
        .where(sql<boolean>`login_attempts.locked_until is null or login_attempts.locked_until <= ${nowIso}`),
    )
    .returning(['failed_count', 'locked_until']);
}, { scopes: (accountId, email) => [addressScope(accountId, email)] });

const attemptClear = compiledOnce(
  (db, accountId: string, emailNormalized: string, client: string) =>
    db.deleteFrom('login_attempts').where('account_id', '=', accountId).where('email_normalized', '=', emailNormalized).where('client', '=', client),
  { scopes: (accountId, emailNormalized) => [addressScope(accountId, emailNormalized)] },
);

export async function reserveLoginAttempt(
  db: Executor,
  key: { accountId: string; email: string; client: string },
  limits: { threshold: number; lockUntil: Date },
  now: Date,
): Promise<AttemptReservation> {
  const lockIso = iso(limits.lockUntil);
  const firstLocks = limits.threshold <= 1;
  const row = (await attemptReservation(db, key.accountId, key.email, key.client, iso(now), lockIso, firstLocks ? lockIso : null, limits.threshold)).rows[0];
  if (row) {
    const count = Number(row.failed_count);
    // A locked door takes no reservation, so a row that comes back locked was locked by this one.
    return { reserved: true, count, locks: row.locked_until !== null, lockedUntil: row.locked_until ? new Date(row.locked_until) : null };
  }
  const current = await findLoginAttempts(db, key.accountId, key.email, key.client);
  return { reserved: false, lockedUntil: current.lockedUntil ?? limits.lockUntil };
}

export async function findLoginAttempts(db: Executor, accountId: string, emailNormalized: string, client = UNKNOWN_DEVICES): Promise<LoginAttempts> {
  const row = await db
    .selectFrom('login_attempts')
    .select(['failed_count', 'locked_until'])
    .where('account_id', '=', accountId)
    .where('email_normalized', '=', emailNormalized)
    .where('client', '=', client)
    .executeTakeFirst();
  return { failedCount: row?.failed_count ?? 0, lockedUntil: row?.locked_until ? new Date(row.locked_until) : null };
}

/** A success clears its door's count and lock. */
export async function clearLoginAttempt(db: Executor, accountId: string, emailNormalized: string, client: string): Promise<void> {
  await attemptClear(db, accountId, emailNormalized, client);
}

/** An unlock or a password change clears every door of the address. */
export async function clearLoginAttempts(db: Executor, accountId: string, emailNormalized: string): Promise<void> {
  await db.deleteFrom('login_attempts').where('account_id', '=', accountId).where('email_normalized', '=', emailNormalized).execute();
}

/** The addresses whose door for unknown devices is locked now (the agents list's "Locked"). */
export async function lockedAddresses(db: Executor, accountId: string, emailsNormalized: string[], now: Date): Promise<Set<string>> {
  if (emailsNormalized.length === 0) return new Set();
  const rows = await db
    .selectFrom('login_attempts')
    .select('email_normalized')
    .where('account_id', '=', accountId)
    .where('client', '=', UNKNOWN_DEVICES)
    .where('email_normalized', 'in', emailsNormalized)
    .where('locked_until', '>', iso(now))
    .execute();
  return new Set(rows.map((r) => r.email_normalized));
}

/** Re-authentication doors of sessions that have ended (a door per session would otherwise outlive it). */
export async function sweepEndedSessionDoors(db: Executor): Promise<number> {
  const result = await db
    .deleteFrom('login_attempts')
    .where('client', 'like', 'session:%')
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('sessions').select('sessions.id').where(sql<boolean>`'session:' || sessions.id = login_attempts.client`))))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * A right password that still needs its second factor gives back the failure its reservation
 * counted, without clearing the failures before it (clearing would let whoever knows the password
 * reset the count between guesses of the code). `lockedByIt`: the reservation was the one that
 * locked the door, so the lock goes too.
 */
export async function releaseLoginAttempt(db: Executor, key: { accountId: string; email: string; client: string }, lockedByIt: boolean): Promise<void> {
  let q = db
    .updateTable('login_attempts')
    .set({ failed_count: sql<number>`case when failed_count > 0 then failed_count - 1 else 0 end` })
    .where('account_id', '=', key.accountId)
    .where('email_normalized', '=', key.email)
    .where('client', '=', key.client);
  if (lockedByIt) q = q.set({ locked_until: null });
  else q = q.where('locked_until', 'is', null);
  await q.execute();
}
