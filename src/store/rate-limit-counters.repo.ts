import { sql } from 'kysely';
import type { Executor } from './db.js';
import { iso } from './convert.js';

export interface CounterState {
  count: number;
  resetAt: Date;
}

/**
 * Counts one more event in the key's current window, starting a new window when the old one
 * has ended; one atomic upsert, so concurrent requests (and instances) never lose a count.
 */
export async function incrementCounter(db: Executor, key: string, windowMs: number, now: Date): Promise<CounterState> {
  return (await upsertCount(db, key, windowMs, now, null))!;
}

/**
 * Counts one more event only while the window's count is below `max` (or the window has ended),
 * in the same atomic upsert; undefined when the limit is reached. For limits that must hold
 * before slow work (the per-IP sign-in failures): N parallel requests never get more than `max` slots.
 */
export function reserveCounterSlot(db: Executor, key: string, windowMs: number, max: number, now: Date): Promise<CounterState | undefined> {
  return upsertCount(db, key, windowMs, now, max);
}

async function upsertCount(db: Executor, key: string, windowMs: number, now: Date, max: number | null): Promise<CounterState | undefined> {
  const nowIso = iso(now);
  const resetIso = iso(new Date(now.getTime() + windowMs));
  const row = await db
    .insertInto('rate_limit_counters')
    .values({ key, count: 1, reset_at: resetIso })
    .onConflict((oc) => {
      const update = oc.column('key').doUpdateSet({
        count: sql<number>`case when rate_limit_counters.reset_at <= ${nowIso} then 1 else rate_limit_counters.count + 1 end`,
        reset_at: sql<string>`case when rate_limit_counters.reset_at <= ${nowIso} then ${resetIso} else rate_limit_counters.reset_at end`,
      });
      return max === null ? update : update.where(sql<boolean>`rate_limit_counters.reset_at <= ${nowIso} or rate_limit_counters.count < ${max}`);
    })
    .returning(['count', 'reset_at'])
    .executeTakeFirst();
  return row && { count: Number(row.count), resetAt: new Date(row.reset_at) };
}

/** Gives a reserved slot back (the attempt succeeded), within the same window only. */
export async function releaseCounterSlot(db: Executor, key: string, now: Date): Promise<void> {
  await db
    .updateTable('rate_limit_counters')
    .set({ count: sql<number>`count - 1` })
    .where('key', '=', key)
    .where('count', '>', 0)
    .where('reset_at', '>', iso(now))
    .execute();
}

/** The key's count in its current window (0 once the window has ended), without counting. */
export async function readCounter(db: Executor, key: string, now: Date): Promise<CounterState> {
  const row = await db.selectFrom('rate_limit_counters').select(['count', 'reset_at']).where('key', '=', key).executeTakeFirst();
  if (!row || new Date(row.reset_at) <= now) return { count: 0, resetAt: now };
  return { count: Number(row.count), resetAt: new Date(row.reset_at) };
}

export async function sweepCounters(db: Executor, now: Date, batchSize = 1000): Promise<number> {
  const keys = await db.selectFrom('rate_limit_counters').select('key').where('reset_at', '<=', iso(now)).limit(batchSize).execute();
  if (keys.length === 0) return 0;
  await db.deleteFrom('rate_limit_counters').where('key', 'in', keys.map((k) => k.key)).execute();
  return keys.length;
}
