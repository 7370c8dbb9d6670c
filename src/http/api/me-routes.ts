import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { changeOwnPassword } from '../../flows/change-password.js';
import { reauthenticate } from '../../flows/login.js';
import { endOwnSession, listOwnSessions, signOut } from '../../flows/sessions.js';
import { viewSignedInAgent } from '../../flows/agents.js';
import { setOwnTimeZone } from '../../flows/preferences.js';
import { sendFailure } from '../errors.js';
import { requestContext } from '../request-context.js';
import { AgentSchema, CodeField, PasskeyResponseField, PasswordField, SessionSchema, agentJson, errorResponses, sessionJson } from '../schemas.js';
import { clearSessionCookie } from '../session-cookie.js';

import { security } from '../schemas.js';
import { refuseWithJson } from './limits.js';
import { perIp } from '../plugins/rate-limits.js';

/** The signed-in agent's own things: profile, password, sessions, sign-out. */
export const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;
  const proofLimit = app.rateLimits.guard([perIp('passwordProofsPerIp')], refuseWithJson);

  app.get(
    '/me',
    { config: { allowedDuringPasswordChange: true, allowedDuringTwoFactorEnrollment: true }, schema: { tags: ['me'], security, response: { 200: AgentSchema, ...errorResponses } } },
    async (request) => agentJson(await viewSignedInAgent(deps, request.auth)),
  );

  app.patch(
    '/me',
    {
      schema: {
        tags: ['me'],
        security,
        // an extension of API.md: the agent's own preferences; timeZone null = the help desk's zone
        body: Type.Object({ timeZone: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])) }, { additionalProperties: false }),
        response: { 200: AgentSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      let auth = request.auth;
      if (request.body.timeZone !== undefined) {
        const result = await setOwnTimeZone(deps, auth, request.body.timeZone);
        if (!result.ok) return sendFailure(reply, result);
        auth = { ...auth, agent: result.agent };
      }
      return agentJson(await viewSignedInAgent(deps, auth));
    },
  );

  app.post(
    '/auth/logout',
    { config: { allowedDuringPasswordChange: true, allowedWhenTemporaryPasswordExpired: true, allowedDuringTwoFactorEnrollment: true }, schema: { tags: ['auth'], security, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await signOut(deps, request.auth);
      clearSessionCookie(app, reply);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/auth/reauthenticate',
    {
      // allowed while enrolling: adding the factor needs a fresh session, and ten minutes pass
      config: { allowedDuringTwoFactorEnrollment: true },
      schema: {
        tags: ['auth'],
        security,
        // {password, code?}: the code (authenticator or recovery code) when the agent has a factor;
        // {passkey}: a user-verified passkey alone (an extension of API.md)
        body: Type.Union([Type.Object({ password: PasswordField, code: Type.Optional(CodeField) }), Type.Object({ passkey: PasskeyResponseField })]),
        response: { 204: Type.Null(), ...errorResponses },
      },
      preHandler: proofLimit,
    },
    async (request, reply) => {
      const result = await reauthenticate(deps, request.auth, request.body, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/me/password',
    {
      config: { allowedDuringPasswordChange: true },
      schema: {
        tags: ['me'],
        security,
        // code: an agent with a second factor whose session is older than 10 minutes proves it too (an extension of API.md)
        body: Type.Object({ currentPassword: PasswordField, newPassword: PasswordField, code: Type.Optional(CodeField) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
      preHandler: proofLimit,
    },
    async (request, reply) => {
      const result = await changeOwnPassword(deps, request.auth, { ...request.body, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me/sessions',
    { schema: { tags: ['me'], security, response: { 200: Type.Object({ sessions: Type.Array(SessionSchema) }), ...errorResponses } } },
    async (request) => {
      const { sessions } = await listOwnSessions(deps, request.auth);
      return { sessions: sessions.map(sessionJson) };
    },
  );

  app.delete(
    '/me/sessions/:id',
    { schema: { tags: ['me'], security, params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }), response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      const result = await endOwnSession(deps, request.auth, request.params.id, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      if (request.params.id === request.auth.session.id) clearSessionCookie(app, reply);
      return reply.code(204).send(null);
    },
  );
};
