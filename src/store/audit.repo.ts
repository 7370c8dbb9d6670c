import type { RequestContext } from '../domain/models.js';
import type { Executor } from './db.js';
import { decodeCursor, encodeCursor, iso } from './convert.js';
import { compiledOnce } from './compiled-once.js';
import type { AuditEventRow } from './schema.js';

export interface NewAuditEvent {
  accountId: string;
  type: string;
  actorAgentId: string | null;
  targetAgentId: string | null;
  targetEmail?: string | null;
  context: RequestContext;
  /** non-secret facts only: changed field names, reasons */
  details?: Record<string, unknown>;
  at: Date;
}

/** Appends one event; there is no update or delete of audit events. */
// Compiled once (compiled-once.ts): nearly every write sends one.
const auditInsert = compiledOnce((db, row: Omit<AuditEventRow, 'id'>) =>
  db.insertInto('audit_events').values({
    account_id: row.account_id,
    type: row.type,
    actor_agent_id: row.actor_agent_id,
    target_agent_id: row.target_agent_id,
    target_email: row.target_email,
    method: row.method,
    ip: row.ip,
    user_agent: row.user_agent,
    details: row.details,
    created_at: row.created_at,
  }),
);

export async function insertAuditEvent(db: Executor, event: NewAuditEvent): Promise<void> {
  await auditInsert(db, auditRowOf(event));
}

/** The row an audit event is stored as (insertAuditEvent, and a sign-in's one-statement admission). */
export function auditRowOf(event: NewAuditEvent): Omit<AuditEventRow, 'id'> {
  return {
    account_id: event.accountId,
    type: event.type,
    actor_agent_id: event.actorAgentId,
    target_agent_id: event.targetAgentId,
    target_email: event.targetEmail ?? null,
    method: event.context.method,
    ip: event.context.ip,
    user_agent: event.context.userAgent?.slice(0, 512) ?? null,
    details: event.details ? JSON.stringify(event.details) : null,
    created_at: iso(event.at),
  };
}

export interface AuditPerson {
  id: string;
  email: string;
  name: string;
}

export interface AuditEvent {
  id: string;
  type: string;
  actor: AuditPerson | null;
  target: AuditPerson | null;
  targetEmail: string | null;
  method: string;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown> | null;
  createdAt: Date;
}

export interface AuditQuery {
  agentId?: string;
  type?: string;
  /** events at or after this instant */
  from?: Date;
  /** events strictly before this instant (the start of the day after an inclusive "to" day) */
  before?: Date;
  limit: number;
  cursor?: string;
}

/** Newest first, keyset-paginated on the event id. `agentId` matches the actor or the target. */
export async function listAuditEvents(db: Executor, accountId: string, query: AuditQuery): Promise<{ events: AuditEvent[]; nextCursor: string | null } | 'invalid_cursor'> {
  const before = decodeCursor(query.cursor, 1);
  if (before === 'invalid') return 'invalid_cursor';
  if (before && !(Number.isSafeInteger(before[0]) && Number(before[0]) > 0)) return 'invalid_cursor';
  let q = db
    .selectFrom('audit_events as e')
    .leftJoin('agents as actor', 'actor.id', 'e.actor_agent_id')
    .leftJoin('agents as target', 'target.id', 'e.target_agent_id')
    .selectAll('e')
    .select(['actor.email as actor_email', 'actor.name as actor_name', 'target.email as target_agent_email', 'target.name as target_name'])
    .where('e.account_id', '=', accountId);
  if (query.agentId) {
    const agentId = query.agentId;
    q = q.where((eb) => eb.or([eb('e.actor_agent_id', '=', agentId), eb('e.target_agent_id', '=', agentId)]));
  }
  if (query.type) q = q.where('e.type', '=', query.type);
  // created_at is fixed-width ISO UTC text: its order is time order, on both dialects
  if (query.from) q = q.where('e.created_at', '>=', iso(query.from));
  if (query.before) q = q.where('e.created_at', '<', iso(query.before));
  if (before) q = q.where('e.id', '<', Number(before[0]));
  const rows = await q.orderBy('e.id', 'desc').limit(query.limit + 1).execute();
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    events: page.map((row) => ({
      id: String(row.id),
      type: row.type,
      actor: row.actor_agent_id && row.actor_email ? { id: row.actor_agent_id, email: row.actor_email, name: row.actor_name ?? '' } : null,
      target: row.target_agent_id && row.target_agent_email ? { id: row.target_agent_id, email: row.target_agent_email, name: row.target_name ?? '' } : null,
      targetEmail: row.target_email,
      method: row.method,
      ip: row.ip,
      userAgent: row.user_agent,
      details: row.details ? (JSON.parse(row.details) as Record<string, unknown>) : null,
      createdAt: new Date(row.created_at),
    })),
    nextCursor: rows.length > query.limit && last ? encodeCursor([Number(last.id)]) : null,
  };
}
