import { forbidden, type Result } from '../domain/errors.js';
import type { Agent } from '../domain/models.js';
import { findAgentByEmail, findAgentById } from '../store/agents.repo.js';
import type { FlowDeps } from './deps.js';
import { checkPermissions, toPrincipalPermissions } from './principal.js';

export interface AuditSubject {
  id: string;
  email: string;
  name: string;
}

/**
 * The agent an audit-log reader filters by, found by email or id (needs view_audit_log only,
 * so a reader without manage_agents can still filter). Undefined when no agent matches.
 */
export async function findAuditSubject(deps: Pick<FlowDeps, 'db'>, actor: Agent, by: { email: string } | { id: string }): Promise<Result<{ subject: AuditSubject | undefined }>> {
  const decision = checkPermissions(toPrincipalPermissions(actor), ['view_audit_log']);
  if (!decision.allowed) return forbidden(decision.reason);
  const agent = 'email' in by ? await findAgentByEmail(deps.db, actor.accountId, by.email) : await findAgentById(deps.db, actor.accountId, by.id);
  return { ok: true, subject: agent && { id: agent.id, email: agent.email, name: agent.name } };
}
