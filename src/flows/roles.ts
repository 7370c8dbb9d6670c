import { fail, forbidden, type Result } from '../domain/errors.js';
import type { Agent, RequestContext, Role } from '../domain/models.js';
import { PERMISSION_NAMES, hasAll, type Permission } from '../domain/permissions.js';
import { findRoleById, findRoleByName, insertRole, listRoles as listRoleRows, updateRole as updateRoleRow } from '../store/roles.repo.js';
import { newId } from '../security/tokens.js';
import { isUniqueViolation } from '../store/dialect.js';
import { audit, retireOthersPasswordOnGrowth } from './consequences.js';
import { findAgentsWithPasswordSetByOthers } from '../store/agents.repo.js';
import { findAccountById } from '../store/accounts.repo.js';
import type { FlowDeps } from './deps.js';
import { checkPermissions, toPrincipalPermissions } from './principal.js';

function requireManageRoles(actor: Agent) {
  const decision = checkPermissions(toPrincipalPermissions(actor), ['manage_roles']);
  return decision.allowed ? null : forbidden(decision.reason);
}

/** Catalogue order, no duplicates. */
function canonical(permissions: Permission[]): Permission[] {
  return PERMISSION_NAMES.filter((p) => permissions.includes(p));
}

export async function listRoles(deps: FlowDeps, actor: Agent): Promise<Result<{ roles: Role[] }>> {
  const refused = requireManageRoles(actor);
  if (refused) return refused;
  return { ok: true, roles: await listRoleRows(deps.db, actor.accountId) };
}

/** A custom role; nobody creates a role with a permission they do not hold. */
export async function createRole(deps: FlowDeps, actor: Agent, input: { name: string; permissions: Permission[]; context: RequestContext }): Promise<Result<{ role: Role }>> {
  const refused = requireManageRoles(actor);
  if (refused) return refused;
  if (!hasAll(actor.role.permissions, input.permissions)) return forbidden('cannot_grant_permissions');
  const name = input.name.trim();
  if (await findRoleByName(deps.db, actor.accountId, name)) return fail('role_name_taken');
  const role: Role = { id: newId(), accountId: actor.accountId, name, permissions: canonical(input.permissions), builtIn: false };
  const inserted = await deps.db
    .transaction()
    .execute(async (trx) => {
      const now = deps.clock.now();
      await insertRole(trx, role, now);
      await audit(trx, { accountId: actor.accountId, type: 'role.created', actorAgentId: actor.id, targetAgentId: null, context: input.context, details: { roleId: role.id, name, permissions: role.permissions }, at: now });
      return true;
    })
    .catch(nameTakenOrThrow);
  return inserted ? { ok: true, role } : fail('role_name_taken');
}

/**
 * Renames a role or changes its permissions. Built-in roles keep their name, and Administrator
 * keeps every permission (the Account Administrator always holds it). Nobody adds or removes a
 * permission they do not hold, so a role cannot be used to climb.
 */
export async function updateRole(deps: FlowDeps, actor: Agent, roleId: string, input: { name?: string; permissions?: Permission[]; context: RequestContext }): Promise<Result<{ role: Role }>> {
  const refused = requireManageRoles(actor);
  if (refused) return refused;
  const role = await findRoleById(deps.db, actor.accountId, roleId);
  if (!role) return fail('not_found');
  const name = input.name?.trim();
  const permissions = input.permissions ? canonical(input.permissions) : undefined;
  if (role.builtIn && name !== undefined && name !== role.name) return forbidden('built_in_role_protected');
  if (role.builtIn && role.name === 'Administrator' && permissions && permissions.length !== PERMISSION_NAMES.length) return forbidden('built_in_role_protected');
  if (!hasAll(actor.role.permissions, role.permissions)) return forbidden('target_more_privileged');
  if (permissions && !hasAll(actor.role.permissions, permissions)) return forbidden('cannot_grant_permissions');
  if (name !== undefined && name.toLowerCase() !== role.name.toLowerCase() && (await findRoleByName(deps.db, actor.accountId, name))) return fail('role_name_taken');
  // A body with neither field (`{}`, or only unknown fields) changes nothing: no UPDATE with an empty SET, no audit event.
  if (name === undefined && permissions === undefined) return { ok: true, role };
  const updated: Role = { ...role, ...(name !== undefined ? { name } : {}), ...(permissions ? { permissions } : {}) };
  let mailQueued = false;
  const saved = await deps.db
    .transaction()
    .execute(async (trx) => {
      const now = deps.clock.now();
      await updateRoleRow(trx, actor.accountId, role.id, { name, permissions });
      await audit(trx, { accountId: actor.accountId, type: 'role.updated', actorAgentId: actor.id, targetAgentId: null, context: input.context, details: { roleId: role.id, name: updated.name, permissions: updated.permissions }, at: now });
      // Every agent of the role gains what the role gains: passwords others chose for them stop working.
      if (permissions && permissions.some((p) => !role.permissions.includes(p))) {
        const account = (await findAccountById(trx, actor.accountId))!;
        for (const agent of await findAgentsWithPasswordSetByOthers(trx, actor.accountId, role.id)) {
          if (await retireOthersPasswordOnGrowth(trx, { account, agent, actor, before: role.permissions, after: permissions, now, secretKey: deps.secretKey, context: input.context })) mailQueued = true;
        }
      }
      return true;
    })
    .catch(nameTakenOrThrow);
  if (mailQueued) deps.notifyMailQueued();
  return saved ? { ok: true, role: updated } : fail('role_name_taken');
}

/** Two concurrent creations (or renames) to one name both pass the check; the unique index refuses one. */
function nameTakenOrThrow(error: unknown): false {
  if (isUniqueViolation(error)) return false;
  throw error;
}
