import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { updateSettings, viewAccount } from '../../flows/account.js';
import { sendFailure } from '../errors.js';
import { requestContext } from '../request-context.js';
import { AccountSchema, accountJson, errorResponses } from '../schemas.js';

import { security } from '../schemas.js';

/** The help desk's plan and settings (needs manage_account_settings). */
export const accountRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;

  app.get('/account', { schema: { tags: ['account'], security, response: { 200: AccountSchema, ...errorResponses } } }, async (request, reply) => {
    const result = viewAccount(request.auth.agent, request.auth.account);
    if (!result.ok) return sendFailure(reply, result);
    return accountJson(result.account);
  });

  app.patch(
    '/account',
    {
      schema: {
        tags: ['account'],
        security,
        body: Type.Object({
          resetLinkLifetimeHours: Type.Optional(Type.Integer()),
          temporaryPasswordLifetimeHours: Type.Optional(Type.Integer()),
          passwordPolicy: Type.Optional(
            Type.Object({
              minLength: Type.Optional(Type.Integer()),
              historyDepth: Type.Optional(Type.Integer()),
              requireUppercase: Type.Optional(Type.Boolean()),
              requireLowercase: Type.Optional(Type.Boolean()),
              requireDigit: Type.Optional(Type.Boolean()),
              requireSymbol: Type.Optional(Type.Boolean()),
              expiryDays: Type.Optional(Type.Integer()),
              adminSetPasswordDisabled: Type.Optional(Type.Boolean()),
            }),
          ),
          requireNonCompliantPasswordsToChange: Type.Optional(Type.Boolean()),
          lockoutThreshold: Type.Optional(Type.Integer()),
          lockoutMinutes: Type.Optional(Type.Integer()),
          sessionIdleHours: Type.Optional(Type.Integer()),
          sessionAbsoluteHours: Type.Optional(Type.Integer()),
          rateLimits: Type.Optional(
            Type.Object({
              failedSignInsPerIp: Type.Optional(Type.Integer()),
              forgotPasswordPerEmail: Type.Optional(Type.Integer()),
              forgotPasswordPerIp: Type.Optional(Type.Integer()),
              resetLinkPerIp: Type.Optional(Type.Integer()),
              passwordProofsPerIp: Type.Optional(Type.Integer()),
            }),
          ),
        }),
        response: { 200: AccountSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await updateSettings(deps, request.auth.agent, request.auth.account, request.body, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return accountJson(result.account);
    },
  );
};
