import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createRole, deleteRole, listRolesWithHolders, updateRole } from '../../flows/roles.js';
import { sendFailure } from '../errors.js';
import { requestContext } from '../request-context.js';
import { IdParam, NameField, Permission, RoleSchema, errorResponses, roleJson } from '../schemas.js';

import { security } from '../schemas.js';
const Permissions = Type.Array(Permission, { maxItems: 50 });

/** Roles and their permissions (needs manage_roles). */
export const rolesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;

  // `agentCount` (how many agents hold the role) is an addition of issue 12: fields may be added
  const ListedRole = Type.Object({ ...RoleSchema.properties, agentCount: Type.Integer({ minimum: 0 }) });
  app.get('/roles', { schema: { tags: ['roles'], security, response: { 200: Type.Object({ roles: Type.Array(ListedRole) }), ...errorResponses } } }, async (request, reply) => {
    const result = await listRolesWithHolders(deps, request.auth.agent);
    if (!result.ok) return sendFailure(reply, result);
    return { roles: result.roles.map((role) => ({ ...roleJson(role), agentCount: role.agentCount })) };
  });

  app.post(
    '/roles',
    { schema: { tags: ['roles'], security, body: Type.Object({ name: NameField, permissions: Permissions }), response: { 201: RoleSchema, ...errorResponses } } },
    async (request, reply) => {
      const result = await createRole(deps, request.auth.agent, { ...request.body, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(201).send(roleJson(result.role));
    },
  );

  app.patch(
    '/roles/:id',
    {
      schema: {
        tags: ['roles'],
        security,
        params: IdParam,
        body: Type.Object({ name: Type.Optional(NameField), permissions: Type.Optional(Permissions) }),
        response: { 200: RoleSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await updateRole(deps, request.auth.agent, request.params.id, { ...request.body, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      return roleJson(result.role);
    },
  );

  app.delete('/roles/:id', { schema: { tags: ['roles'], security, params: IdParam, response: { 204: Type.Null(), ...errorResponses } } }, async (request, reply) => {
    const result = await deleteRole(deps, request.auth.agent, request.params.id, requestContext(request));
    if (!result.ok) return sendFailure(reply, result);
    return reply.code(204).send(null);
  });
};
