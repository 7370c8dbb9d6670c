import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createRole, listRoles, updateRole } from '../../flows/roles.js';
import { sendFailure } from '../errors.js';
import { requestContext } from '../request-context.js';
import { IdParam, NameField, Permission, RoleSchema, errorResponses, roleJson } from '../schemas.js';

import { security } from '../schemas.js';
const Permissions = Type.Array(Permission, { maxItems: 50 });

/** Roles and their permissions (needs manage_roles). */
export const rolesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;

  app.get('/roles', { schema: { tags: ['roles'], security, response: { 200: Type.Object({ roles: Type.Array(RoleSchema) }), ...errorResponses } } }, async (request, reply) => {
    const result = await listRoles(deps, request.auth.agent);
    if (!result.ok) return sendFailure(reply, result);
    return { roles: result.roles.map(roleJson) };
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
};
