import { fail, forbidden, type Result } from '../domain/errors.js';
import type { Agent, RequestContext, Role } from '../domain/models.js';
import { PERMISSION_NAMES, hasAll, type Permission } from '../domain/permissions.js';
import { countAgentsByRole, deleteUnusedRole, findRoleById, findRoleByName, insertRole, listRoles as listRoleRows, updateRole as updateRoleRow } from '../store/roles.repo.js';
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

/** Every role with how many agents hold it (one grouped query, not one per role). */
export async function listRolesWithHolders(deps: FlowDeps, actor: Agent): Promise<Result<{ roles: (Role & { agentCount: number })[] }>> {
  const listed = await listRoles(deps, actor);
  if (!listed.ok) return listed;
  const counts = await countAgentsByRole(deps.db, actor.accountId);
  return { ok: true, roles: listed.roles.map((role) => ({ ...role, agentCount: counts.get(role.id) ?? 0 })) };
}

/**
 * Deletes a custom role that no agent holds (deactivated agents count: they keep their role).
 * Built-in roles stay (403 built_in_role_protected); a role out of the actor's reach stays
 * (403 target_more_privileged); a held role answers 409 role_in_use with the count. The delete
 * itself re-checks "no agent holds it" in its one statement, so an agent given the role
 * meanwhile keeps it.
 */
export async function deleteRole(deps: FlowDeps, actor: Agent, roleId: string, context: RequestContext): Promise<Result<{ role: Role }>> {
  const refused = requireManageRoles(actor);
  if (refused) return refused;
  const role = await findRoleById(deps.db, actor.accountId, roleId);
  if (!role) return fail('not_found');
  if (role.builtIn) return forbidden('built_in_role_protected');
  if (!hasAll(actor.role.permissions, role.permissions)) return forbidden('target_more_privileged');
  const inUse = async () => {
    const count = (await countAgentsByRole(deps.db, actor.accountId)).get(role.id) ?? 0;
    return fail('role_in_use', [{ reason: 'role_in_use', agentCount: count }]);
  };
  if (((await countAgentsByRole(deps.db, actor.accountId)).get(role.id) ?? 0) > 0) return inUse();
  const deleted = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    if ((await deleteUnusedRole(trx, actor.accountId, role.id)) === 0) return false;
    await audit(trx, { accountId: actor.accountId, type: 'role.deleted', actorAgentId: actor.id, targetAgentId: null, context, details: { roleId: role.id, name: role.name, permissions: role.permissions }, at: now });
    return true;
  }).catch((error: unknown) => {
    // PostgreSQL: an agent given the role by a transaction that committed meanwhile trips the foreign key
    if (isForeignKeyViolation(error)) return false;
    throw error;
  });
  if (!deleted) return (await findRoleById(deps.db, actor.accountId, role.id)) ? inUse() : fail('not_found');
  return { ok: true, role };
}

function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** Two concurrent creations (or renames) to one name both pass the check; the unique index refuses one. */
function nameTakenOrThrow(error: unknown): false {
  if (isUniqueViolation(error)) return false;
  throw error;
}
