import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { currentAccount } from '../../flows/account.js';
import { signIn } from '../../flows/login.js';
import { authenticateSession, signOut } from '../../flows/sessions.js';
import { ERRORS } from '../../domain/errors.js';
import { requestContext } from '../request-context.js';
import { setSessionCookie } from '../session-cookie.js';
import { field, formOf, queryParam, safeNext, trimmedField } from './forms.js';
import { describeWait } from './messages.js';
import { homeFor } from './nav.js';
import { REQUIRED_CHANGE_PATH } from './page-auth.js';
import { continueTo, isAppSignInStep, renderPage } from './render.js';
import { pageLimits, perIp } from './limits.js';
import { deviceTokensOf, setDeviceCookie } from '../device-cookie.js';
import { INTERACTION_PATH } from '../../oidc/endpoints.js';
import { findAppByClientId } from '../../store/apps.repo.js';

interface LoginView {
  email: string;
  next: string | null;
  /** the app (help desk) the agent is signing in to, when they came from one */
  appName: string | null;
  error: string | null;
}

const requiredChangeTo = (next: string | null) => (next ? `${REQUIRED_CHANGE_PATH}?next=${encodeURIComponent(next)}` : REQUIRED_CHANGE_PATH);

/** Sign in: Email, Password, "Sign in", and "Forgot password?". */
export const signInPages: FastifyPluginAsync = async (app) => {
  const { deps, cookieName } = app.deskpass;

  const renderLogin = (request: FastifyRequest, reply: FastifyReply, deskName: string, view: LoginView, status = 200) =>
    renderPage(request, reply, 'login', { ...view }, { title: 'Sign in', status, deskName });

  /** The app behind an interaction the agent is signing in for ("Sign in to continue to Zammad"). */
  const appNameFor = async (next: string | null): Promise<string | null> => {
    const uid = next?.startsWith(`${INTERACTION_PATH}/`) ? next.slice(INTERACTION_PATH.length + 1).split(/[/?]/)[0] : undefined;
    if (!uid) return null;
    const interaction = await app.deskpass.oidc.provider.Interaction.find(uid);
    const clientId = interaction?.params.client_id;
    const found = typeof clientId === 'string' ? await findAppByClientId(deps.db, clientId) : undefined;
    return found?.app.name ?? null;
  };

  const renderNotSetUp = (request: FastifyRequest, reply: FastifyReply) =>
    renderPage(request, reply, 'not-set-up', {}, { title: 'Help desk not set up', status: 503 });

  app.get('/login', async (request, reply) => {
    const account = await currentAccount(deps);
    if (!account) return renderNotSetUp(request, reply);
    const next = safeNext(queryParam(request, 'next'));
    // Already signed in (another tab): straight on.
    const token = request.cookies?.[cookieName];
    const auth = token ? await authenticateSession(deps, token) : undefined;
    if (auth) return reply.redirect(auth.agent.passwordChangeRequired ? requiredChangeTo(next) : (next ?? homeFor(auth.agent)), 303);
    return renderLogin(request, reply, account.name, { email: '', next, appName: await appNameFor(next), error: null });
  });

  // Per IP, only failures count; the slot is reserved before the password is verified.
  app.post('/login', { preHandler: pageLimits(app, perIp('failedSignInsPerIp', 'failures')) }, async (request, reply) => {
    const account = await currentAccount(deps);
    if (!account) return renderNotSetUp(request, reply);
    const form = formOf(request);
    const email = trimmedField(form, 'email');
    const password = field(form, 'password');
    const next = safeNext(field(form, 'next'));
    if (!email || !password) {
      await app.rateLimits.releaseFailures(request); // no password was tried
      return renderLogin(request, reply, account.name, { email, next, appName: await appNameFor(next), error: 'Enter your email address and your password.' }, 400);
    }

    const result = await signIn(deps, account, { email, password, deviceTokens: deviceTokensOf(request), context: requestContext(request, 'portal') });
    if (!result.ok) {
      if (result.retryAfterSeconds !== undefined) reply.header('retry-after', String(result.retryAfterSeconds));
      const status = ERRORS[result.code].status;
      const error =
        result.code === 'account_locked'
          ? `Too many failed sign-ins for this address. For your security, signing in is locked: try again in ${describeWait(result.retryAfterSeconds ?? 3600)}, or reset your password with "Forgot password?".`
          : ERRORS[result.code].message;
      return renderLogin(request, reply, account.name, { email, next, appName: await appNameFor(next), error }, status);
    }

    await app.rateLimits.releaseFailures(request);
    setDeviceCookie(app, request, reply, result.deviceToken);
    // The browser's previous session, if any, ends: every sign-in starts a new one.
    const previous = request.cookies?.[cookieName];
    const old = previous ? await authenticateSession(deps, previous) : undefined;
    if (old && old.session.id !== result.session.id) await signOut(deps, old);

    setSessionCookie(app, reply, result.token, result.session.expiresAt);
    if (result.passwordChangeRequired) return reply.redirect(requiredChangeTo(next), 303);
    if (isAppSignInStep(next)) return continueTo(reply, next, (await appNameFor(next)) ?? 'the help desk');
    return reply.redirect(next ?? homeFor(result.agent), 303);
  });
};
