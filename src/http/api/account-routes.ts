import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SETTING_LIMITS } from '../../domain/account-settings.js';
import { updateSettings, viewAccount } from '../../flows/account.js';
import { sendFailure } from '../errors.js';
import { requestContext } from '../request-context.js';
import { AccountSchema, accountJson, errorResponses, TwoFactorPolicyField } from '../schemas.js';

import { security } from '../schemas.js';

/** The limits in the schema too, so an out-of-range value is a 400 before any permission check (API.md's order). */
const range = (limits: { min: number; max: number }) => ({ minimum: limits.min, maximum: limits.max });

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
          resetLinkLifetimeHours: Type.Optional(Type.Integer(range(SETTING_LIMITS.resetLinkLifetimeHours))),
          temporaryPasswordLifetimeHours: Type.Optional(Type.Integer(range(SETTING_LIMITS.temporaryPasswordLifetimeHours))),
          passwordPolicy: Type.Optional(
            Type.Object({
              minLength: Type.Optional(Type.Integer(range(SETTING_LIMITS.minLength))),
              historyDepth: Type.Optional(Type.Integer(range(SETTING_LIMITS.historyDepth))),
              requireUppercase: Type.Optional(Type.Boolean()),
              requireLowercase: Type.Optional(Type.Boolean()),
              requireDigit: Type.Optional(Type.Boolean()),
              requireSymbol: Type.Optional(Type.Boolean()),
              expiryDays: Type.Optional(Type.Integer(range(SETTING_LIMITS.expiryDays))),
              adminSetPasswordDisabled: Type.Optional(Type.Boolean()),
            }),
          ),
          requireNonCompliantPasswordsToChange: Type.Optional(Type.Boolean()),
          lockoutThreshold: Type.Optional(Type.Integer(range(SETTING_LIMITS.lockoutThreshold))),
          lockoutMinutes: Type.Optional(Type.Integer(range(SETTING_LIMITS.lockoutMinutes))),
          sessionIdleHours: Type.Optional(Type.Integer(range(SETTING_LIMITS.sessionIdleHours))),
          sessionAbsoluteHours: Type.Optional(Type.Integer(range(SETTING_LIMITS.sessionAbsoluteHours))),
          rateLimits: Type.Optional(
            Type.Object({
              failedSignInsPerIp: Type.Optional(Type.Integer(range(SETTING_LIMITS.rateLimit))),
              forgotPasswordPerEmail: Type.Optional(Type.Integer(range(SETTING_LIMITS.rateLimit))),
              forgotPasswordPerIp: Type.Optional(Type.Integer(range(SETTING_LIMITS.rateLimit))),
              resetLinkPerIp: Type.Optional(Type.Integer(range(SETTING_LIMITS.rateLimit))),
              passwordProofsPerIp: Type.Optional(Type.Integer(range(SETTING_LIMITS.rateLimit))),
              tokenRequestsPerClient: Type.Optional(Type.Integer(range(SETTING_LIMITS.rateLimit))),
            }),
          ),
          twoFactorPolicy: Type.Optional(TwoFactorPolicyField),
          // an IANA name; an unknown one is 422 time_zone_unknown (the flow knows the list)
          timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
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
