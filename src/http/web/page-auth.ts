import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ERRORS } from '../../domain/errors.js';
import { authenticateSession, isTemporaryPasswordExpired, signOut } from '../../flows/sessions.js';
import { clearSessionCookie } from '../session-cookie.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** portal pages a one-time password allows: the change-password page and signing out */
    portalDuringPasswordChange?: boolean;
  }
}

export const REQUIRED_CHANGE_PATH = '/password-change-required';

/**
 * The portal's sign-in gate, for every page of the plugin it is registered in. It reads the
 * same session as the API (the session cookie, through authenticateSession) and sends the
 * browser to /login?next=… without one, and to the change-password page while a one-time
 * password is in force. A one-time password that has expired ends the session.
 */
export const pageAuthPlugin = fp(async (app) => {
  const { deps, cookieName } = app.deskpass;
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const token = request.cookies?.[cookieName];
    const auth = token ? await authenticateSession(deps, token) : undefined;
    if (!auth) {
      if (token) clearSessionCookie(app, reply);
      const next = request.method === 'GET' && request.url !== '/' ? `?next=${encodeURIComponent(request.url)}` : '';
      return reply.redirect(`/login${next}`, 303);
    }
    if (auth.agent.passwordChangeRequired) {
      if (isTemporaryPasswordExpired(auth.agent, deps.clock.now())) {
        await signOut(deps, auth);
        clearSessionCookie(app, reply);
        return reply.setFlash('error', ERRORS.temporary_password_expired.message).redirect('/login', 303);
      }
      if (!request.routeOptions.config.portalDuringPasswordChange) return reply.redirect(REQUIRED_CHANGE_PATH, 303);
    }
    request.portalAuth = auth;
  });
});
