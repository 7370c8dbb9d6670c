import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  addPasskey,
  beginTotpEnrolment,
  confirmTotpEnrolment,
  passkeyRegistrationOptions,
  regenerateRecoveryCodes,
  removeOwnPasskey,
  removeTotp,
  twoFactorStatus,
} from '../../flows/two-factor.js';
import { sendFailure } from '../errors.js';
import { requestContext } from '../request-context.js';
import { CodeField, IdParam, PasskeyResponseField, errorResponses, security } from '../schemas.js';
import { refuseWithJson } from './limits.js';
import { perIp } from '../plugins/rate-limits.js';

/** Open while the agent is in an enrolment session: these are how they leave it. */
const ENROLLING = { allowedDuringTwoFactorEnrollment: true };
const RecoveryCodes = Type.Array(Type.String());

/** The signed-in agent's second factors (API.md "Second factor"). */
export const twoFactorRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;
  const proofLimit = app.rateLimits.guard([perIp('passwordProofsPerIp')], refuseWithJson);

  app.get(
    '/me/two-factor',
    {
      config: ENROLLING,
      schema: {
        tags: ['two-factor'],
        security,
        response: {
          200: Type.Object({
            enabled: Type.Boolean(),
            required: Type.Boolean(),
            totp: Type.Union([Type.Object({ confirmedAt: Type.String() }), Type.Null()]),
            passkeys: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String(), lastUsedAt: Type.Union([Type.String(), Type.Null()]) })),
            recoveryCodesRemaining: Type.Integer(),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const status = await twoFactorStatus(deps, request.auth);
      return {
        ...status,
        totp: status.totp && { confirmedAt: status.totp.confirmedAt.toISOString() },
        passkeys: status.passkeys.map((p) => ({ id: p.id, name: p.name, createdAt: p.createdAt.toISOString(), lastUsedAt: p.lastUsedAt?.toISOString() ?? null })),
      };
    },
  );

  app.post(
    '/me/two-factor/totp',
    { config: ENROLLING, schema: { tags: ['two-factor'], security, response: { 200: Type.Object({ secret: Type.String(), otpauthUri: Type.String() }), ...errorResponses } } },
    async (request, reply) => {
      const result = await beginTotpEnrolment(deps, request.auth);
      if (!result.ok) return sendFailure(reply, result);
      return { secret: result.secret, otpauthUri: result.otpauthUri };
    },
  );

  app.post(
    '/me/two-factor/totp/confirm',
    {
      config: ENROLLING,
      schema: { tags: ['two-factor'], security, body: Type.Object({ code: CodeField }), response: { 200: Type.Object({ recoveryCodes: Type.Optional(RecoveryCodes) }), ...errorResponses } },
      preHandler: proofLimit,
    },
    async (request, reply) => {
      const result = await confirmTotpEnrolment(deps, request.auth, request.body.code, requestContext(request));
      // API.md: a wrong code while setting the app up is a bad request (400); at sign-in and
      // re-authentication the same code is a failed proof of identity (401)
      if (!result.ok) return sendFailure(reply, result, { two_factor_code_incorrect: 400 });
      return result.recoveryCodes ? { recoveryCodes: result.recoveryCodes } : {};
    },
  );

  app.delete(
    '/me/two-factor/totp',
    { config: ENROLLING, schema: { tags: ['two-factor'], security, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      const result = await removeTotp(deps, request.auth, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/me/two-factor/recovery-codes',
    { config: ENROLLING, schema: { tags: ['two-factor'], security, response: { 200: Type.Object({ recoveryCodes: RecoveryCodes }), ...errorResponses } } },
    async (request, reply) => {
      const result = await regenerateRecoveryCodes(deps, request.auth, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return { recoveryCodes: result.recoveryCodes };
    },
  );

  app.post(
    '/me/passkeys/registration-options',
    { config: ENROLLING, schema: { tags: ['two-factor'], security, response: { 200: Type.Record(Type.String(), Type.Any()), ...errorResponses } } },
    async (request, reply) => {
      const result = await passkeyRegistrationOptions(deps, request.auth);
      if (!result.ok) return sendFailure(reply, result);
      return result.options as Record<string, unknown>;
    },
  );

  app.post(
    '/me/passkeys',
    {
      config: ENROLLING,
      schema: {
        tags: ['two-factor'],
        security,
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }), response: PasskeyResponseField }),
        // recoveryCodes: when this passkey is the agent's first factor (an extension of API.md, as for the authenticator)
        response: { 201: Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String(), recoveryCodes: Type.Optional(RecoveryCodes) }), ...errorResponses },
      },
      preHandler: proofLimit,
    },
    async (request, reply) => {
      const result = await addPasskey(deps, request.auth, { name: request.body.name, response: request.body.response, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      const { passkey, recoveryCodes } = result;
      return reply.code(201).send({ id: passkey.id, name: passkey.name, createdAt: passkey.createdAt.toISOString(), ...(recoveryCodes ? { recoveryCodes } : {}) });
    },
  );

  app.delete(
    '/me/passkeys/:id',
    { config: ENROLLING, schema: { tags: ['two-factor'], security, params: IdParam, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      const result = await removeOwnPasskey(deps, request.auth, request.params.id, requestContext(request));
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );
};

