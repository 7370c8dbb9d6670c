import { sql } from 'kysely';
import type { Executor } from './db.js';
import { dialectOf } from './dialect.js';
import { compiledOnce } from './compiled-once.js';
import { addressScope, agentScope } from './change-scopes.js';
import { NOTICE_ANNOUNCEMENT, NOTICE_CHANNEL, NOTICE_COLUMN } from './store-changes.js';
import type { AuditEventRow, SessionRow } from './schema.js';

/**
 * The agent and door of a password sign-in whose proof held (flows/login.ts, admit). Admitted, it
 * writes on the agent's row as it is now `last_sign_in_at`, opens the door the proof came through
 * again, starts the session and audits `login.succeeded`; nothing of it when the row changed
 * under the proof (another hash, or deactivated).
 */
export interface SignInAdmission {
  accountId: string;
  agentId: string;
  /** the password hash the proof was checked against: a change committed meanwhile wins */
  expectedHash: string | null;
  doorEmail: string;
  doorClient: string;
}

/**
 * Whether `db` can write an admission as one statement (admitInOneStatement): PostgreSQL, outside
 * a transaction. SQLite runs in this process, where a statement costs no round trip, and cannot
 * write from a WITH; a caller with more to write in the same commit keeps its transaction.
 */
export function admitsInOneStatement(db: Executor): boolean {
  return !db.isTransaction && dialectOf(db) === 'postgres';
}

/** The columns the admission writes, as insertSession and insertAuditEvent do (sessionRowOf, auditRowOf). */
const SESSION_COLUMNS = ['id', 'account_id', 'agent_id', 'token_hash', 'created_at', 'last_seen_at', 'authenticated_at', 'expires_at', 'ip', 'user_agent', 'amr'] as const satisfies readonly (keyof SessionRow)[];
const EVENT_COLUMNS = ['account_id', 'type', 'actor_agent_id', 'target_agent_id', 'target_email', 'method', 'ip', 'user_agent', 'details', 'created_at'] as const satisfies readonly (keyof AuditEventRow)[];

/**
 * The admission as one data-modifying statement in its own commit, with its notice (store-changes:
 * NOTICE_CHANNEL) in what it returns: one round trip where a transaction took six (issue 13,
 * BENCHMARKS.md, "fourth round"). The update carries the proof's conditions in its WHERE; every
 * other write takes its rows from the update's, so a row that changed under the proof (PostgreSQL
 * re-reads a row another commit changed before it updates it) writes nothing at all. Held to the
 * same rows as the transaction's writes by test/sign-in-admission.test.ts.
 */
const admission = compiledOnce(
  (db, a: SignInAdmission, session: SessionRow, event: Omit<AuditEventRow, 'id'>) =>
    db
      .with('admitted', (q) =>
        q
          .updateTable('agents')
          .set({ last_sign_in_at: session.created_at }) // the moment of the sign-in
          .where('account_id', '=', a.accountId)
          .where('id', '=', a.agentId)
          .where('password_hash', 'is not distinct from', a.expectedHash)
          .where('status', '!=', 'deactivated')
          .returning('id'),
      )
      .with('door', (q) =>
        q
          .deleteFrom('login_attempts')
          .where('account_id', '=', a.accountId)
          .where('email_normalized', '=', a.doorEmail)
          .where('client', '=', a.doorClient)
          .where((eb) => eb.exists(eb.selectFrom('admitted').select('admitted.id'))),
      )
      .with('started', (q) =>
        q
          .insertInto('sessions')
          .columns(SESSION_COLUMNS)
          .expression((eb) => eb.selectFrom('admitted').select(SESSION_COLUMNS.map((column) => eb.val(session[column]).as(column))))
          .returning('sessions.id'),
      )
      .insertInto('audit_events')
      .columns(EVENT_COLUMNS)
      .expression((eb) => eb.selectFrom('started').select(EVENT_COLUMNS.map((column) => eb.val(event[column]).as(column))))
      .returning(sql<string>`pg_notify(${NOTICE_CHANNEL}, ${NOTICE_ANNOUNCEMENT})`.as(NOTICE_COLUMN)),
  // what a sign-in changes of the session holders: the agent's row and the address's door (a new session is no holder's yet)
  { scopes: (a) => [agentScope(a.agentId), addressScope(a.accountId, a.doorEmail)] },
);

/** Writes the admission in one statement (admitsInOneStatement first); false: the row changed under the proof and nothing was written. */
export async function admitInOneStatement(db: Executor, a: SignInAdmission, session: SessionRow, event: Omit<AuditEventRow, 'id'>): Promise<boolean> {
  const { rows } = await admission(db, a, session, event);
  return rows.length === 1;
}
