import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Type } from '@fastify/type-provider-typebox';
import { ERRORS, type Failure } from '../../domain/errors.js';
import { checkAgentNewPassword, checkOwnNewPassword, suggestAgentPassphrase, type PasswordCheck } from '../../flows/password-check.js';
import { field, formOf } from './forms.js';
import { pageLimits } from './limits.js';

/**
 * The portal's JSON answers behind the password meter (assets/password-hints.js) and
 * "Generate" (assets/generate-password.js): same-origin POSTs with the form's CSRF token, for
 * the agent the page is about, found the way the form's own POST finds them. The typed value
 * travels in the body (never the URL, so never a log line) and is never stored or echoed.
 */
export const PASSWORD_CHECK_RESPONSE = {
  200: Type.Object({ ok: Type.Boolean(), problems: Type.Array(Type.Object({ rule: Type.String(), message: Type.String() })) }),
  // the API's error shape: a refusal from a shared hook (reject-nul: a NUL byte) must fit it too
  '4xx': Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Array(Type.Unknown())) }) }),
};
const GENERATE_RESPONSE = { 200: Type.Object({ password: Type.String() }), '4xx': PASSWORD_CHECK_RESPONSE['4xx'] };

const MAX_CHECKED_LENGTH = 1024;

export function answerCheck(reply: FastifyReply, check: PasswordCheck): FastifyReply {
  return reply.header('cache-control', 'no-store').code(200).send({ ok: check.problems.length === 0, problems: check.problems.map(({ rule, message }) => ({ rule, message })) });
}

export function answerRefusal(reply: FastifyReply, failure: Failure): FastifyReply {
  const { status, message } = ERRORS[failure.code];
  return reply.header('cache-control', 'no-store').code(status).send({ error: { code: failure.code, message } });
}

/** The signed-in routes: one's own new password, and the one an administrator sets for another agent. */
export const passwordCheckPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;
  type IdParams = { Params: { id: string } };
  // zxcvbn takes up to ~70 ms of the strength thread for a long password: the meter of a session is
  // limited as the reset link's meter is, on a counter of its own, so a signed-in agent cannot
  // keep that thread busy for everyone. Over the limit the meter says nothing; the submit still checks.
  const meterLimit = pageLimits(app, { name: 'resetLinkPerIp', subject: (request) => `meter:session:${request.portalAuth?.session.id ?? request.ip}` });

  // the required change uses it too, before anything else is allowed
  app.post('/my-settings/password-check', { config: { allowedDuringPasswordChange: true }, preHandler: meterLimit, schema: { hide: true, response: PASSWORD_CHECK_RESPONSE } }, async (request, reply) => {
    return answerCheck(reply, await checkOwnNewPassword(request.portalAuth!, field(formOf(request), 'password', MAX_CHECKED_LENGTH)));
  });

  app.post<IdParams>('/manage/agents/:id/password-check', { preHandler: meterLimit, schema: { hide: true, response: PASSWORD_CHECK_RESPONSE } }, async (request, reply) => {
    const result = await checkAgentNewPassword(deps, request.portalAuth!, request.params.id, field(formOf(request), 'password', MAX_CHECKED_LENGTH));
    return result.ok ? answerCheck(reply, result) : answerRefusal(reply, result);
  });

  app.post<IdParams>('/manage/agents/:id/password-generate', { preHandler: meterLimit, schema: { hide: true, response: GENERATE_RESPONSE } }, async (request, reply) => {
    const result = await suggestAgentPassphrase(deps, request.portalAuth!, request.params.id);
    return result.ok ? reply.header('cache-control', 'no-store').send({ password: result.password }) : answerRefusal(reply, result);
  });
};
