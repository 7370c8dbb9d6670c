import { sql } from 'kysely';
import type { Executor } from './db.js';
import { dialectOf } from './dialect.js';
import type { OutboxRow } from './schema.js';
import { iso } from './convert.js';

export interface OutboxMessage {
  id: number;
  accountId: string;
  recipient: string;
  template: string;
  payload: Record<string, unknown>;
  attempts: number;
  createdAt: Date;
}

/** Queues an email in the caller's transaction: it is sent if and only if the change commits. */
export async function enqueueMail(db: Executor, message: { accountId: string; recipient: string; template: string; payload: Record<string, unknown> }, now: Date): Promise<void> {
  await db
    .insertInto('mail_outbox')
    .values({
      account_id: message.accountId,
      recipient: message.recipient,
      template: message.template,
      payload: JSON.stringify(message.payload),
      status: 'pending',
      attempts: 0,
      next_attempt_at: iso(now),
      locked_until: null,
      last_error: null,
      created_at: iso(now),
      sent_at: null,
    })
    .execute();
}

/**
 * The due messages, oldest first: pending, past their next attempt, not claimed by a live lease,
 * and the oldest pending message of their recipient (so one agent's emails keep their order).
 */
function dueMail(db: Executor, nowIso: string, limit: number) {
  return db
    .selectFrom('mail_outbox as m')
    .where('m.status', '=', 'pending')
    .where('m.next_attempt_at', '<=', nowIso)
    .where((eb) => eb.or([eb('m.locked_until', 'is', null), eb('m.locked_until', '<=', nowIso)]))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('mail_outbox as earlier')
            .select('earlier.id')
            // case-insensitively: a queued request holds the typed address, a notice the stored one
            .where(sql<boolean>`lower(earlier.recipient) = lower(m.recipient)`)
            .where('earlier.status', '=', 'pending')
            .whereRef('earlier.id', '<', 'm.id'),
        ),
      ),
    )
    .orderBy('m.id')
    .limit(limit);
}

function toMessage(row: OutboxRow): OutboxMessage {
  return {
    id: Number(row.id),
    accountId: row.account_id,
    recipient: row.recipient,
    template: row.template,
    payload: row.payload ? (JSON.parse(row.payload) as Record<string, unknown>) : {},
    attempts: row.attempts,
    createdAt: new Date(row.created_at),
  };
}

/** Claims up to `limit` due messages (see dueMail) for `leaseMs`. */
export async function claimDueMail(db: Executor, now: Date, limit: number, leaseMs: number): Promise<OutboxMessage[]> {
  const nowIso = iso(now);
  const leaseUntil = iso(new Date(now.getTime() + leaseMs));
  if (dialectOf(db) === 'postgres') {
    // One statement; rows another instance's worker holds locked right now are skipped
    // (FOR UPDATE SKIP LOCKED), so two instances never claim the same message.
    const due = dueMail(db, nowIso, limit).select('m.id').forUpdate().skipLocked();
    const rows = await db.updateTable('mail_outbox').set({ locked_until: leaseUntil }).where('id', 'in', due).returningAll().execute();
    return rows.map(toMessage).sort((a, b) => a.id - b.id);
  }
  const rows = await dueMail(db, nowIso, limit).selectAll('m').execute();
  const claimed: OutboxMessage[] = [];
  for (const row of rows) {
    // SQLite has one writer at a time; this conditional update is the claim: a second worker
    // that read the same row loses the race.
    const result = await db
      .updateTable('mail_outbox')
      .set({ locked_until: leaseUntil })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', nowIso)]))
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 1) claimed.push(toMessage(row));
  }
  return claimed;
}

/** Sent: the body is erased, only the fact that it was sent stays. */
export async function markMailSent(db: Executor, id: number, now: Date): Promise<void> {
  await db.updateTable('mail_outbox').set({ status: 'sent', sent_at: iso(now), payload: null, locked_until: null, last_error: null }).where('id', '=', id).execute();
}

/** A request that resolved to no email (an unknown address): done, nothing sent, payload erased. */
export async function markMailSkipped(db: Executor, id: number, now: Date): Promise<void> {
  await db.updateTable('mail_outbox').set({ status: 'skipped', sent_at: iso(now), payload: null, locked_until: null, last_error: null }).where('id', '=', id).execute();
}

/** Records what a preparer decided (e.g. the link it issued), so a retry sends the same email. */
export async function updateMailPayload(db: Executor, id: number, payload: Record<string, unknown>): Promise<void> {
  await db.updateTable('mail_outbox').set({ payload: JSON.stringify(payload) }).where('id', '=', id).execute();
}

/** Given up (a back-channel logout past its time): kept, with its last error, never tried again. */
export async function markMailDropped(db: Executor, id: number, attempts: number, error: string): Promise<void> {
  await db.updateTable('mail_outbox').set({ status: 'dropped', attempts, locked_until: null, last_error: error.slice(0, 500), payload: null }).where('id', '=', id).execute();
}

export async function markMailFailed(db: Executor, id: number, attempts: number, nextAttemptAt: Date, error: string): Promise<void> {
  await db
    .updateTable('mail_outbox')
    .set({ attempts, next_attempt_at: iso(nextAttemptAt), locked_until: null, last_error: error.slice(0, 500) })
    .where('id', '=', id)
    .execute();
}


export interface OutboxBacklogRow {
  template: string;
  pending: number;
  /** pending rows that failed at least once */
  retrying: number;
  oldestAgeSeconds: number;
}

/** The pending rows by template: how many, how many are being retried, the oldest one's age (for /metrics and /readyz). */
export async function outboxBacklog(db: Executor, now: Date): Promise<OutboxBacklogRow[]> {
  const rows = await db
    .selectFrom('mail_outbox')
    .select((eb) => [
      'template',
      eb.fn.countAll<string | number>().as('pending'),
      eb.fn.sum<string | number | null>(eb.case().when('attempts', '>', 0).then(1).else(0).end()).as('retrying'),
      eb.fn.min<string>('created_at').as('oldest'),
    ])
    .where('status', '=', 'pending')
    .groupBy('template')
    .execute();
  return rows.map((row) => ({
    template: row.template,
    pending: Number(row.pending),
    retrying: Number(row.retrying ?? 0),
    oldestAgeSeconds: Math.max(0, (now.getTime() - new Date(row.oldest).getTime()) / 1000),
  }));
}
