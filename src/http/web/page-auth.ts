import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ERRORS } from '../../domain/errors.js';
import { admitSession } from '../../flows/session-gate.js';
import { signOut, whySessionEnded } from '../../flows/sessions.js';
import { clearSessionCookie } from '../session-cookie.js';

export const REQUIRED_CHANGE_PATH = '/password-change-required';
/** My Settings › Two-factor authentication: where an agent who must set up a second factor is sent. */
export const TWO_FACTOR_SETTINGS_PATH = '/my-settings/two-factor';

/** The sign-in page, with where the agent was going and why their session ended (a code), when known. */
export function loginUrl(next: string | null, reason: string | null): string {
  const query = new URLSearchParams();
  if (reason) query.set('reason', reason);
  if (next) query.set('next', next);
  const search = query.toString();
  return search ? `/login?${search}` : '/login';
}

/**
 * The portal's side of the session gate (flows/session-gate.ts, the API's too), for every page
 * of the plugin it is registered in: to /login?next=… without a session, to the change-password
 * page while a one-time password is in force (but on the routes that allow it, with the same
 * route flags as the API). A one-time password that has expired ends the session.
 */
export const pageAuthPlugin = fp(async (app) => {
  const { deps, cookieName } = app.deskpass;
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), gate: 'portal' };
  });
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const token = request.cookies?.[cookieName];
    const outcome = await admitSession(deps, token, request.routeOptions.config);
    if (outcome.ok) {
      request.portalAuth = outcome.auth;
      return;
    }
    switch (outcome.code) {
      case 'unauthenticated': {
        // A dead session cookie: the sign-in page says why that session ended (its own record, by its token).
        const reason = token ? await whySessionEnded(deps, token) : null;
        if (token) clearSessionCookie(app, reply);
        return reply.redirect(loginUrl(request.method === 'GET' && request.url !== '/' ? request.url : null, reason), 303);
      }
      case 'temporary_password_expired':
        await signOut(deps, outcome.auth, 'one_time_password_expired');
        clearSessionCookie(app, reply);
        return reply.setFlash('error', ERRORS.temporary_password_expired.message).redirect('/login', 303);
      case 'two_factor_enrollment_required': {
        const next = request.method === 'GET' && !request.url.startsWith(TWO_FACTOR_SETTINGS_PATH) && request.url !== '/' ? `?next=${encodeURIComponent(request.url)}` : '';
        return reply.redirect(`${TWO_FACTOR_SETTINGS_PATH}${next}`, 303);
      }
      case 'password_change_required': {
        // an app's sign-in (or any page) the agent was on its way to continues after the change
        const next = request.method === 'GET' && request.url !== REQUIRED_CHANGE_PATH && request.url !== '/' ? `?next=${encodeURIComponent(request.url)}` : '';
        return reply.redirect(`${REQUIRED_CHANGE_PATH}${next}`, 303);
      }
    }
  });
});
