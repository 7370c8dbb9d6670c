import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { InteractionResults } from 'oidc-provider';
import { reauthenticate } from '../../flows/login.js';
import type { Authenticated } from '../../flows/sessions.js';
import { findAppByClientId } from '../../store/apps.repo.js';
import { INTERACTION_PATH } from '../../oidc/endpoints.js';
import { isLocked, type DeskpassInteractionResult } from '../../oidc/provider.js';
import { identityErrors, identityProofOf } from './identity-proof.js';
import { NO_ERRORS, type FormErrors } from './form-errors.js';
import { requestContext } from '../request-context.js';
import { formOf } from './forms.js';
import { formatTime } from './format.js';
import { timeZoneFor } from '../../domain/account-settings.js';
import { continueTo, renderMessage, renderPage } from './render.js';
import { pageLimits, perIp } from './limits.js';

const NOT_CONFIRMED = 'You were not signed in to the app';

type UidParams = { Params: { uid: string } };

const EXPIRED = 'This sign-in request has expired or was already used. Go back to the help desk and sign in again.';

/**
 * Where the provider sends a browser that must sign in to reach an app: a portal page behind
 * the portal's session gate, so an agent without a session signs in on the portal's own page
 * (lockout, rate limits, the required password change) and comes back here. With a session the
 * agent goes straight on to the app (single sign-on); `prompt=login` or an exceeded `max_age`
 * asks for the password again first. Apps are first-party: there is no consent page.
 */
export const interactionPages: FastifyPluginAsync = async (app) => {
  const { deps, oidc } = app.deskpass;

  async function detailsOf(request: FastifyRequest, reply: FastifyReply) {
    try {
      return await oidc.provider.interactionDetails(request.raw, reply.raw);
    } catch {
      return undefined;
    }
  }

  /** Must the agent prove the password again before this app gets a code? */
  function needsFreshSignIn(details: { prompt: { reasons: string[] }; params: Record<string, unknown> }, auth: Authenticated): boolean {
    if (details.prompt.reasons.includes('login_prompt')) return true;
    const maxAge = details.params.max_age;
    if (maxAge === undefined) return false;
    const ageSeconds = (deps.clock.now().getTime() - auth.session.authenticatedAt.getTime()) / 1000;
    return ageSeconds > Number(maxAge);
  }

  /** Hands the result to the provider and moves on to it: a redirect, or after a form the continue page (see continueTo). */
  async function finish(request: FastifyRequest, reply: FastifyReply, auth: Authenticated, authenticatedAt: Date, afterForm?: string) {
    const deskpass: DeskpassInteractionResult = { sessionId: auth.session.id };
    const result: InteractionResults & { deskpass: DeskpassInteractionResult } = {
      login: { accountId: auth.agent.id, ts: Math.floor(authenticatedAt.getTime() / 1000), amr: auth.session.amr, remember: true },
      consent: {},
      deskpass,
    };
    try {
      const to = await oidc.provider.interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: false });
      return afterForm ? continueTo(reply, to, afterForm) : reply.redirect(to, 303);
    } catch {
      return renderMessage(request, reply, 400, 'Sign-in expired', EXPIRED);
    }
  }

  async function appNameOf(clientId: unknown): Promise<string> {
    const found = typeof clientId === 'string' ? await findAppByClientId(deps.db, clientId) : undefined;
    return found?.app.name ?? 'the help desk';
  }

  function showConfirm(request: FastifyRequest<UidParams>, reply: FastifyReply, appName: string, errors: FormErrors, status = 200) {
    return renderPage(request, reply, 'interaction-confirm', { uid: request.params.uid, appName, errors, hasFactor: request.portalAuth!.agent.twoFactorEnabled, webauthn: true }, { title: 'Confirm it is you', status, shape: 'narrow' });
  }

  /** API.md: a locked agent gets no code, even with a session: the page says so (and when it ends). */
  function refuseLocked(request: FastifyRequest, reply: FastifyReply, auth: Authenticated) {
    const until = auth.agentLockedUntil!;
    return renderMessage(
      request,
      reply,
      423,
      'Signing in is locked',
      `Too many failed sign-ins for ${auth.agent.email}: for your security, help desks cannot be opened with this account until ${formatTime(until, timeZoneFor(auth.account.settings, auth.agent))}. An administrator can unlock it sooner, or reset your password with "Forgot password?".`,
    );
  }

  app.get<UidParams>(`${INTERACTION_PATH}/:uid`, async (request, reply) => {
    const details = await detailsOf(request, reply);
    if (!details || details.uid !== request.params.uid) return renderMessage(request, reply, 400, 'Sign-in expired', EXPIRED);
    const auth = request.portalAuth!;
    if (isLocked(auth, deps.clock.now())) return refuseLocked(request, reply, auth);
    if (needsFreshSignIn(details as never, auth)) return showConfirm(request, reply, await appNameOf(details.params.client_id), NO_ERRORS);
    return finish(request, reply, auth, auth.session.authenticatedAt);
  });

  app.post<UidParams>(`${INTERACTION_PATH}/:uid/confirm`, { preHandler: pageLimits(app, perIp('passwordProofsPerIp')) }, async (request, reply) => {
    const details = await detailsOf(request, reply);
    if (!details || details.uid !== request.params.uid) return renderMessage(request, reply, 400, 'Sign-in expired', EXPIRED);
    const auth = request.portalAuth!;
    if (isLocked(auth, deps.clock.now())) return refuseLocked(request, reply, auth);
    const appName = await appNameOf(details.params.client_id);
    const given = identityProofOf(formOf(request));
    if (!given) return showConfirm(request, reply, appName, identityErrors(NOT_CONFIRMED, null, 'confirm'), 400);
    const proof = await reauthenticate(deps, auth, given, requestContext(request, 'portal'));
    if (!proof.ok) return showConfirm(request, reply, appName, identityErrors(NOT_CONFIRMED, proof, 'confirm'), proof.code === 'account_locked' ? 423 : 400);
    return finish(request, reply, auth, deps.clock.now(), appName);
  });

  app.post<UidParams>(`${INTERACTION_PATH}/:uid/cancel`, async (request, reply) => {
    try {
      const to = await oidc.provider.interactionResult(request.raw, reply.raw, { error: 'access_denied', error_description: 'The agent cancelled the sign-in.' }, { mergeWithLastSubmission: false });
      return continueTo(reply, to, await appNameOf(undefined));
    } catch {
      return renderMessage(request, reply, 400, 'Sign-in expired', EXPIRED);
    }
  });
};
