import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { currentAccount } from '../../flows/account.js';
import { requestPasswordReset } from '../../flows/forgot-password.js';
import { signIn } from '../../flows/login.js';
import { inspectResetLink, redeemResetLink } from '../../flows/reset-password.js';
import { createHelpDesk } from '../../flows/setup.js';
import { viewAgent } from '../../flows/agents.js';
import { sendError, sendFailure } from '../errors.js';
import { normalizeEmail } from '../../domain/models.js';
import { requestContext } from '../request-context.js';
import { AccountSchema, AgentSchema, EmailField, NameField, PasswordField, accountJson, agentJson, errorResponses } from '../schemas.js';
import { setSessionCookie } from '../session-cookie.js';

const TokenParam = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) });
const FORGOT_MESSAGE = 'If an agent with this email exists, we have sent a link to reset the password. Check your inbox.';

/** Routes anyone may call: sign-in, forgot password, reset links, first-run setup. */
export const publicRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        body: Type.Object({ email: Type.String({ minLength: 1, maxLength: 320 }), password: PasswordField }),
        response: {
          200: Type.Object({ token: Type.String(), expiresAt: Type.String(), agent: AgentSchema, passwordChangeRequired: Type.Boolean() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      // Per IP, only failures count: a whole office signs in from one NAT address every morning.
      const blockedForSeconds = await app.rateLimits.failuresBlocked('failedSignInsPerIp', request.ip);
      if (blockedForSeconds !== null) return sendError(reply, 'rate_limited', undefined, blockedForSeconds);
      const account = await currentAccount(deps);
      if (!account) {
        await deps.hasher.verify(await deps.hasher.dummyHash(), request.body.password);
        return sendError(reply, 'invalid_credentials');
      }
      const result = await signIn(deps, account, { ...request.body, context: requestContext(request) });
      if (!result.ok) {
        await app.rateLimits.countFailure('failedSignInsPerIp', request.ip);
        return sendFailure(reply, result);
      }
      setSessionCookie(app, reply, result.token, result.session.expiresAt);
      reply.header('cache-control', 'no-store');
      return {
        token: result.token,
        expiresAt: result.session.expiresAt.toISOString(),
        agent: agentJson(await viewAgent(deps, result.agent)),
        passwordChangeRequired: result.passwordChangeRequired,
      };
    },
  );

  app.post(
    '/auth/forgot-password',
    {
      schema: {
        tags: ['auth'],
        body: Type.Object({ email: Type.String({ minLength: 1, maxLength: 320 }) }),
        response: { 202: Type.Object({ message: Type.String() }), ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await app.rateLimits.check(request, reply, 'forgotPasswordPerIp', request.ip))) return reply;
      if (!(await app.rateLimits.check(request, reply, 'forgotPasswordPerEmail', normalizeEmail(request.body.email)))) return reply;
      const account = await currentAccount(deps);
      if (account) await requestPasswordReset(deps, account, { email: request.body.email, context: requestContext(request) });
      return reply.code(202).send({ message: FORGOT_MESSAGE });
    },
  );

  app.get(
    '/auth/reset-password/:token',
    {
      schema: {
        tags: ['auth'],
        params: TokenParam,
        response: { 200: Type.Object({ email: Type.String(), expiresAt: Type.String() }), ...errorResponses },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
      if (!(await app.rateLimits.check(request, reply, 'resetLinkPerIp', request.ip))) return reply;
      const result = await inspectResetLink(deps, request.params.token);
      if (!result.ok) return sendFailure(reply, result);
      return { email: result.email, expiresAt: result.expiresAt.toISOString() };
    },
  );

  app.post(
    '/auth/reset-password',
    {
      schema: {
        tags: ['auth'],
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }), newPassword: PasswordField }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await app.rateLimits.check(request, reply, 'resetLinkPerIp', request.ip))) return reply;
      const result = await redeemResetLink(deps, { token: request.body.token, newPassword: request.body.newPassword, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/setup/:token',
    { schema: { tags: ['setup'], params: TokenParam, response: { 200: Type.Object({ status: Type.Literal('ready') }), ...errorResponses } } },
    async (request, reply) => {
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
      if (!(await app.rateLimits.check(request, reply, 'resetLinkPerIp', request.ip))) return reply;
      if (!app.deskpass.setupLink.isValid(request.params.token) || (await currentAccount(deps))) return sendError(reply, 'setup_link_invalid');
      return { status: 'ready' as const };
    },
  );

  app.post(
    '/setup',
    {
      schema: {
        tags: ['setup'],
        body: Type.Object({
          token: Type.String({ minLength: 1, maxLength: 512 }),
          accountName: NameField,
          adminName: NameField,
          adminEmail: EmailField,
          password: PasswordField,
        }),
        response: { 201: Type.Object({ account: AccountSchema, agent: AgentSchema }), ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await app.rateLimits.check(request, reply, 'resetLinkPerIp', request.ip))) return reply;
      if (await currentAccount(deps)) return sendError(reply, 'setup_already_done');
      if (!app.deskpass.setupLink.isValid(request.body.token)) return sendError(reply, 'setup_link_invalid');
      const { accountName, adminName, adminEmail, password } = request.body;
      const result = await createHelpDesk(deps, { accountName, adminName, adminEmail, password, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      app.deskpass.setupLink.consume();
      return reply.code(201).send({ account: accountJson(result.account), agent: agentJson({ ...result.agent, locked: false }) });
    },
  );
};
