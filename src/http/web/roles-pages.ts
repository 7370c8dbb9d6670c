import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createRole, deleteRole, listRolesWithHolders, updateRole } from '../../flows/roles.js';
import { hasAll, isPermission, PERMISSIONS, PERMISSION_NAMES, type Permission } from '../../domain/permissions.js';
import { requestContext } from '../request-context.js';
import { formOf, listField, trimmedField } from './forms.js';
import { describeFailure } from './messages.js';
import { redirectWith, renderMessage, renderPage } from './render.js';
import { fieldError, NO_ERRORS, type FormErrors } from './form-errors.js';
import { ERRORS } from '../../domain/errors.js';
import { renderForbidden } from './errors.js';

/** The permission names as HappyFox shows them. */
export const PERMISSION_LABELS: Record<Permission, string> = {
  manage_agents: 'Manage Agents',
  manage_agent_password: 'Manage Agent Password',
  manage_roles: 'Manage Roles',
  manage_account_settings: 'Manage Account Settings',
  view_audit_log: 'View Audit Log',
  manage_apps: 'Manage Apps',
};

function permissionsOf(values: string[]): Permission[] {
  return values.filter(isPermission);
}

const NOT_CREATED = 'The role was not created';

/** Manage › Roles: every role with its permissions as checkboxes, and a new role. */
export const rolesPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  type Typed = { name: string; permissions: string[]; errors: FormErrors };
  /** `newRole`: the new-role form as typed; `edited`: a refused edit of one role, as typed. */
  async function show(request: FastifyRequest, reply: FastifyReply, newRole: Typed = { name: '', permissions: [], errors: NO_ERRORS }, status = 200, edited: (Typed & { id: string }) | null = null) {
    const actor = request.portalAuth!.agent;
    const listed = await listRolesWithHolders(deps, actor);
    if (!listed.ok) return renderForbidden(request, reply, 'Manage › Roles', listed);
    const held = actor.role.permissions;
    const catalogue = PERMISSION_NAMES.map((name) => ({ name, label: PERMISSION_LABELS[name], description: PERMISSIONS[name], held: held.includes(name) }));
    const roles = listed.roles.map((role) => ({
      id: role.id,
      name: role.name,
      builtIn: role.builtIn,
      agentCount: role.agentCount,
      permissions: edited?.id === role.id ? edited.permissions : role.permissions,
      typedName: edited?.id === role.id ? edited.name : role.name,
      errors: edited?.id === role.id ? edited.errors : NO_ERRORS,
      // Administrator always keeps every permission; a role with a permission the actor lacks is out of their reach.
      locked: role.builtIn && role.name === 'Administrator',
      outOfReach: !hasAll(held, role.permissions),
    }));
    return renderPage(request, reply, 'roles', { roles, catalogue, newRole }, { title: 'Roles', status, section: 'roles' });
  }

  app.get('/manage/roles', async (request, reply) => show(request, reply));

  app.post('/manage/roles', async (request, reply) => {
    const form = formOf(request);
    const name = trimmedField(form, 'name');
    const permissions = permissionsOf(listField(form, 'permissions'));
    if (!name) return show(request, reply, { name, permissions, errors: fieldError(NOT_CREATED, 'new-role-name', 'Give the role a name, for example "Team lead".') }, 400);
    if (name.length > 200) return show(request, reply, { name, permissions, errors: fieldError(NOT_CREATED, 'new-role-name', 'A role name can be at most 200 characters long.') }, 400);
    const result = await createRole(deps, request.portalAuth!.agent, { name, permissions, context: requestContext(request, 'portal') });
    if (!result.ok) return show(request, reply, { name, permissions, errors: fieldError(NOT_CREATED, result.code === 'role_name_taken' ? 'new-role-name' : null, describeFailure(result)) }, result.code === 'role_name_taken' ? 409 : 403);
    return redirectWith(reply, `/manage/roles#role-${result.role.id}`, 'success', `The role "${result.role.name}" was created.`);
  });

  app.post<{ Params: { id: string } }>('/manage/roles/:id', async (request, reply) => {
    const form = formOf(request);
    const name = trimmedField(form, 'name');
    const permissions = permissionsOf(listField(form, 'permissions'));
    const id = request.params.id;
    const refused = (field: string | null, message: string, status: number) => show(request, reply, undefined, status, { id, name, permissions, errors: fieldError(`The role was not saved`, field, message) });
    if (name.length > 200) return refused(`role-${id}-name`, 'A role name can be at most 200 characters long.', 400);
    const result = await updateRole(deps, request.portalAuth!.agent, id, { ...(name ? { name } : {}), permissions, context: requestContext(request, 'portal') });
    if (!result.ok && result.code !== 'not_found') return refused(result.code === 'role_name_taken' ? `role-${id}-name` : null, describeFailure(result), ERRORS[result.code].status);
    if (!result.ok) return redirectWith(reply, '/manage/roles', 'error', describeFailure(result));
    return redirectWith(reply, `/manage/roles#role-${result.role.id}`, 'success', `The role "${result.role.name}" was saved.`);
  });

  app.post<{ Params: { id: string } }>('/manage/roles/:id/delete', async (request, reply) => {
    const result = await deleteRole(deps, request.portalAuth!.agent, request.params.id, requestContext(request, 'portal'));
    if (!result.ok) {
      const count = (result.details?.[0] as { agentCount?: number } | undefined)?.agentCount;
      const text = result.code === 'role_in_use' && count ? `This role is still given to ${count === 1 ? '1 agent' : `${count} agents`}: give them another role first.` : describeFailure(result);
      return redirectWith(reply, result.code === 'not_found' ? '/manage/roles' : `/manage/roles#role-${encodeURIComponent(request.params.id)}`, 'error', text);
    }
    return redirectWith(reply, '/manage/roles', 'success', `The role "${result.role.name}" was deleted.`);
  });
};
