import { forbidden, type Result } from '../domain/errors.js';
import type { Agent, Role } from '../domain/models.js';
import { hasAll } from '../domain/permissions.js';
import { listRoles } from '../store/roles.repo.js';
import type { FlowDeps } from './deps.js';
import { checkPermissions, toPrincipalPermissions } from './principal.js';

/**
 * The roles an agent manager may pick from when adding an agent or changing a role (needs
 * manage_agents, not manage_roles): each says whether the actor may give it, which they may
 * only when they hold every one of its permissions.
 */
export async function listAssignableRoles(deps: Pick<FlowDeps, 'db'>, actor: Agent): Promise<Result<{ roles: (Role & { grantable: boolean })[] }>> {
  const decision = checkPermissions(toPrincipalPermissions(actor), ['manage_agents']);
  if (!decision.allowed) return forbidden(decision.reason);
  const roles = await listRoles(deps.db, actor.accountId);
  return { ok: true, roles: roles.map((role) => ({ ...role, grantable: hasAll(actor.role.permissions, role.permissions) })) };
}
