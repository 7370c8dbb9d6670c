import { fail, forbidden, type Result } from '../domain/errors.js';
import type { Agent } from '../domain/models.js';
import { listAuditEvents, type AuditEvent, type AuditQuery } from '../store/audit.repo.js';
import type { FlowDeps } from './deps.js';
import { checkPermissions, toPrincipalPermissions } from './principal.js';

/** The account's audit log, newest first (needs view_audit_log). */
export async function readAuditLog(deps: FlowDeps, actor: Agent, query: AuditQuery): Promise<Result<{ events: AuditEvent[]; nextCursor: string | null }>> {
  const decision = checkPermissions(toPrincipalPermissions(actor), ['view_audit_log']);
  if (!decision.allowed) return forbidden(decision.reason);
  const page = await listAuditEvents(deps.db, actor.accountId, query);
  if (page === 'invalid_cursor') return fail('invalid_request', [{ field: 'cursor', message: 'Unknown cursor' }]);
  return { ok: true, ...page };
}
