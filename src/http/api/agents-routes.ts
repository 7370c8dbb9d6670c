import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createAgent, getAgent, listAgents, resendInvitation, unlockAgent, updateAgentProfile } from '../../flows/agents.js';
import { endAgentSession, revokeAgentSessions } from '../../flows/sessions.js';
import { sendFailure } from '../errors.js';
import { requestContext } from '../request-context.js';
import { AgentSchema, CursorQuery, EmailField, IdParam, LimitQuery, NameField, agentJson, errorResponses } from '../schemas.js';

import { security } from '../schemas.js';

/** Manage › Agents (needs manage_agents). */
export const agentsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;

  app.get(
    '/agents',
    {
      schema: {
        tags: ['agents'],
        security,
        querystring: Type.Object({
          search: Type.Optional(Type.String({ maxLength: 200 })),
          status: Type.Optional(
            Type.Union([Type.Literal('invited'), Type.Literal('active'), Type.Literal('deactivated'), Type.Literal('locked'), Type.Literal('password_change_pending'), Type.Literal('invitation_expired')]),
          ),
          twoFactor: Type.Optional(Type.Union([Type.Literal('off'), Type.Literal('on')])),
          limit: LimitQuery,
          cursor: CursorQuery,
        }),
        response: { 200: Type.Object({ agents: Type.Array(AgentSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { search, status, twoFactor, limit, cursor } = request.query;
      const result = await listAgents(deps, request.auth.agent, { search, status, twoFactor: twoFactor === undefined ? undefined : twoFactor === 'on', limit: limit ? Number(limit) : 50, cursor });
      if (!result.ok) return sendFailure(reply, result);
      return { agents: result.agents.map(agentJson), nextCursor: result.nextCursor };
    },
  );

  app.post(
    '/agents',
    {
      schema: {
        tags: ['agents'],
        security,
        body: Type.Object({ email: EmailField, name: NameField, roleId: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 201: AgentSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await createAgent(deps, request.auth.agent, request.auth.account, { ...request.body, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(201).send(agentJson(result.agent));
    },
  );

  app.get('/agents/:id', { schema: { tags: ['agents'], security, params: IdParam, response: { 200: AgentSchema, ...errorResponses } } }, async (request, reply) => {
    const result = await getAgent(deps, request.auth.agent, request.params.id);
    if (!result.ok) return sendFailure(reply, result);
    return agentJson(result.agent);
  });

  app.patch(
    '/agents/:id',
    {
      schema: {
        tags: ['agents'],
        security,
        params: IdParam,
        body: Type.Object({
          name: Type.Optional(NameField),
          roleId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('deactivated')])),
        }),
        response: { 200: AgentSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await updateAgentProfile(deps, request.auth.agent, request.auth.account, request.params.id, request.body, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return agentJson(result.agent);
    },
  );

  app.post('/agents/:id/unlock', { schema: { tags: ['agents'], security, params: IdParam, response: { 204: Type.Null(), ...errorResponses } } }, async (request, reply) => {
    const result = await unlockAgent(deps, request.auth.agent, request.auth.account, request.params.id, requestContext(request));
    if (!result.ok) return sendFailure(reply, result);
    return reply.code(204).send(null);
  });

  app.post(
    '/agents/:id/invitation',
    { schema: { tags: ['agents'], security, params: IdParam, response: { 202: Type.Object({ expiresAt: Type.String() }), ...errorResponses } } },
    async (request, reply) => {
      const result = await resendInvitation(deps, request.auth.agent, request.auth.account, request.params.id, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(202).send({ expiresAt: result.expiresAt.toISOString() });
    },
  );

  app.post(
    '/agents/:id/sessions/revoke',
    { schema: { tags: ['agents'], security, params: IdParam, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      const result = await revokeAgentSessions(deps, request.auth.agent, request.params.id, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/agents/:id/sessions/:sessionId',
    {
      schema: {
        tags: ['agents'],
        security,
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }), sessionId: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await endAgentSession(deps, request.auth.agent, request.params.id, request.params.sessionId, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );
};
