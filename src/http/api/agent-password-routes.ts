import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { resetTwoFactorByAdmin, sendPasswordResetEmail, setAgentPasswordByAdmin } from '../../flows/admin-reset.js';
import { sendFailure } from '../errors.js';
import { requestContext } from '../request-context.js';
import { IdParam, PasswordField, errorResponses } from '../schemas.js';

import { security } from '../schemas.js';

/** Resetting another agent's password: the three HappyFox options (manage_agents + manage_agent_password). */
export const agentPasswordRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;

  app.post(
    '/agents/:id/password-reset-email',
    { schema: { tags: ['agent password'], security, params: IdParam, response: { 202: Type.Object({ expiresAt: Type.String() }), ...errorResponses } } },
    async (request, reply) => {
      const result = await sendPasswordResetEmail(deps, request.auth, request.params.id, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(202).send({ expiresAt: result.expiresAt.toISOString() });
    },
  );

  app.put(
    '/agents/:id/password',
    {
      schema: {
        tags: ['agent password'],
        security,
        params: IdParam,
        body: Type.Object({ password: PasswordField, requireChangeAtNextLogin: Type.Boolean() }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await setAgentPasswordByAdmin(deps, request.auth, {
        targetId: request.params.id,
        password: request.body.password,
        requireChangeAtNextLogin: request.body.requireChangeAtNextLogin,
        context: requestContext(request),
      });
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/agents/:id/two-factor',
    { schema: { tags: ['agent password'], security, params: IdParam, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      const result = await resetTwoFactorByAdmin(deps, request.auth, request.params.id, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );
};
