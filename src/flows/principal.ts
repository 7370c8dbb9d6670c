import type { Agent } from '../domain/models.js';
import type { Principal } from '../domain/permissions.js';
export { checkPermissions, checkActOnAgent, checkAssignRole } from '../domain/permissions.js';

/** The permission-relevant view of an agent. */
export function toPrincipalPermissions(agent: Agent): Principal {
  return { id: agent.id, accountId: agent.accountId, permissions: agent.role.permissions, isAccountAdministrator: agent.isAccountAdministrator };
}
