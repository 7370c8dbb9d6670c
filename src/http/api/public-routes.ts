import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { currentAccount } from '../../flows/account.js';
import { requestPasswordReset, resetQuotaSubject } from '../../flows/forgot-password.js';
import { completeSecondStep, signIn, signInWithPasskey, type SignedIn } from '../../flows/login.js';
import { authenticationOptions } from '../../flows/passkeys.js';
import type { FactorProof } from '../../flows/two-factor.js';
import { inspectResetLink, redeemResetLink } from '../../flows/reset-password.js';
import { createHelpDesk } from '../../flows/setup.js';
import { viewSignedInAgent } from '../../flows/agents.js';
import { sendError, sendFailure } from '../errors.js';
import { normalizeEmail } from '../../domain/models.js';
import { requestContext } from '../request-context.js';
import { AccountSchema, AgentSchema, ChallengeField, CodeField, EmailField, NameField, PasskeyResponseField, PasswordField, accountJson, agentJson, errorResponses } from '../schemas.js';
import { setSessionCookie } from '../session-cookie.js';
import { deviceTokensOf, setDeviceCookie } from '../device-cookie.js';
import { refuseWithJson } from './limits.js';
import { perIp } from '../plugins/rate-limits.js';
import type { FastifyReply, FastifyRequest } from 'fastify';

const DeviceTokenField = Type.String({ minLength: 1, maxLength: 200 });

const TokenParam = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) });
const FORGOT_MESSAGE = 'If an agent with this email exists, we have sent a link to reset the password. Check your inbox.';

/** Routes anyone may call: sign-in, forgot password, reset links, first-run setup. */
export const publicRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;
  // Every link and setup route counts its requests per IP before anything else (link guessing).
  const linkLimit = app.rateLimits.guard([perIp('resetLinkPerIp')], refuseWithJson);

  async function resetQuotaFor(request: FastifyRequest<{ Body: { email: string; deviceToken?: string } }>): Promise<string> {
    const account = await currentAccount(deps);
    const email = normalizeEmail(request.body.email);
    return account ? resetQuotaSubject(deps, account, email, deviceTokensOf(request, request.body.deviceToken)) : email;
  }

  /** A complete sign-in, whichever way it came (password, second step, passkey): the session cookie, the device cookie, the answer. */
  async function answerSignedIn(request: FastifyRequest, reply: FastifyReply, signedIn: SignedIn) {
    setSessionCookie(app, reply, signedIn.token, signedIn.session.expiresAt);
    setDeviceCookie(app, request, reply, signedIn.deviceToken);
    return {
      token: signedIn.token,
      expiresAt: signedIn.session.expiresAt.toISOString(),
      agent: agentJson(await viewSignedInAgent(deps, signedIn)),
      passwordChangeRequired: signedIn.passwordChangeRequired,
      deviceToken: signedIn.deviceToken,
    };
  }

  const SignedInAnswer = Type.Object({ token: Type.String(), expiresAt: Type.String(), agent: AgentSchema, passwordChangeRequired: Type.Boolean(), deviceToken: Type.String() });
  const SecondStepAnswer = Type.Object({
    twoFactorRequired: Type.Literal(true),
    challenge: Type.String(),
    methods: Type.Array(Type.Union([Type.Literal('totp'), Type.Literal('passkey'), Type.Literal('recovery_code')])),
    expiresAt: Type.String(),
  });
  // Per IP, only failures count (a whole office signs in from one NAT address every morning),
  // reserved before the password (or code, or passkey) is verified and given back on success.
  const failedSignIns = app.rateLimits.guard([perIp('failedSignInsPerIp', 'failures')], refuseWithJson);

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        body: Type.Object({ email: Type.String({ minLength: 1, maxLength: 320 }), password: PasswordField, deviceToken: Type.Optional(DeviceTokenField) }),
        response: { 200: Type.Union([SignedInAnswer, SecondStepAnswer]), ...errorResponses },
      },
      preHandler: failedSignIns,
    },
    async (request, reply) => {
      const account = await currentAccount(deps);
      if (!account) {
        await deps.hasher.verify(await deps.hasher.dummyHash(), request.body.password);
        return sendError(reply, 'invalid_credentials');
      }
      const { email, password, deviceToken } = request.body;
      const result = await signIn(deps, account, { email, password, deviceTokens: deviceTokensOf(request, deviceToken), context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      await app.rateLimits.releaseFailures(request);
      // No session, no cookie: the second step (API.md "Second factor") opens it.
      if (result.kind === 'two_factor') return { twoFactorRequired: true as const, challenge: result.challenge, methods: result.methods, expiresAt: result.expiresAt.toISOString() };
      return answerSignedIn(request, reply, result);
    },
  );

  app.post(
    '/auth/login/two-factor',
    {
      schema: {
        tags: ['auth'],
        body: Type.Union([
          Type.Object({ challenge: ChallengeField, code: CodeField }, { additionalProperties: false }),
          Type.Object({ challenge: ChallengeField, recoveryCode: CodeField }, { additionalProperties: false }),
          Type.Object({ challenge: ChallengeField, passkey: PasskeyResponseField }, { additionalProperties: false }),
        ]),
        response: { 200: SignedInAnswer, ...errorResponses },
      },
      preHandler: failedSignIns,
    },
    async (request, reply) => {
      const account = await currentAccount(deps);
      if (!account) return sendError(reply, 'two_factor_challenge_invalid');
      const body = request.body;
      const proof: FactorProof = 'code' in body ? { code: body.code } : 'recoveryCode' in body ? { recoveryCode: body.recoveryCode } : { passkey: body.passkey };
      const result = await completeSecondStep(deps, account, { challenge: body.challenge, proof, context: requestContext(request) });
      // an unknown or dead challenge verified nothing: it is not a failed guess of a factor
      if (!result.ok && result.code === 'two_factor_challenge_invalid') await app.rateLimits.releaseFailures(request);
      if (!result.ok) return sendFailure(reply, result);
      await app.rateLimits.releaseFailures(request);
      return answerSignedIn(request, reply, result);
    },
  );

  app.post(
    '/auth/passkey/options',
    { schema: { tags: ['auth'], body: Type.Optional(Type.Object({})), response: { 200: Type.Record(Type.String(), Type.Any()), ...errorResponses } }, preHandler: linkLimit },
    async () => authenticationOptions(deps),
  );

  app.post(
    '/auth/passkey',
    {
      schema: { tags: ['auth'], body: Type.Object({ response: PasskeyResponseField, deviceToken: Type.Optional(DeviceTokenField) }), response: { 200: SignedInAnswer, ...errorResponses } },
      preHandler: failedSignIns,
    },
    async (request, reply) => {
      const account = await currentAccount(deps);
      if (!account) return sendError(reply, 'invalid_credentials');
      const result = await signInWithPasskey(deps, account, { response: request.body.response, deviceTokens: deviceTokensOf(request, request.body.deviceToken), context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      await app.rateLimits.releaseFailures(request);
      return answerSignedIn(request, reply, result);
    },
  );

  app.post(
    '/auth/forgot-password',
    {
      schema: {
        tags: ['auth'],
        body: Type.Object({ email: Type.String({ minLength: 1, maxLength: 320 }), deviceToken: Type.Optional(DeviceTokenField) }),
        response: { 202: Type.Object({ message: Type.String() }), ...errorResponses },
      },
      preHandler: app.rateLimits.guard(
        [perIp('forgotPasswordPerIp'), { name: 'forgotPasswordPerEmail', subject: (request) => resetQuotaFor(request as FastifyRequest<{ Body: { email: string; deviceToken?: string } }>) }],
        refuseWithJson,
      ),
    },
    async (request, reply) => {
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
      preHandler: linkLimit,
    },
    async (request, reply) => {
      reply.header('referrer-policy', 'no-referrer');
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
      preHandler: linkLimit,
    },
    async (request, reply) => {
      const result = await redeemResetLink(deps, { token: request.body.token, newPassword: request.body.newPassword, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/setup/:token',
    { schema: { tags: ['setup'], params: TokenParam, response: { 200: Type.Object({ status: Type.Literal('ready') }), ...errorResponses } }, preHandler: linkLimit },
    async (request, reply) => {
      reply.header('referrer-policy', 'no-referrer');
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
          // the help desk's IANA time zone (an extension of API.md); UTC when absent, 422 time_zone_unknown when unknown
          timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        }),
        response: { 201: Type.Object({ account: AccountSchema, agent: AgentSchema }), ...errorResponses },
      },
      preHandler: linkLimit,
    },
    async (request, reply) => {
      if (await currentAccount(deps)) return sendError(reply, 'setup_already_done');
      if (!app.deskpass.setupLink.isValid(request.body.token)) return sendError(reply, 'setup_link_invalid');
      const { accountName, adminName, adminEmail, password, timeZone } = request.body;
      const result = await createHelpDesk(deps, { accountName, adminName, adminEmail, password, ...(timeZone !== undefined ? { timeZone } : {}), context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      app.deskpass.setupLink.consume();
      return reply.code(201).send({ account: accountJson(result.account), agent: agentJson({ ...result.agent, locked: false }) });
    },
  );
};
