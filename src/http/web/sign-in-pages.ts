import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { currentAccount } from '../../flows/account.js';
import { completeSecondStep, secondStepMethods, signIn, signInWithPasskey, type SignedIn } from '../../flows/login.js';
import { mustEnrollTwoFactor } from '../../flows/session-gate.js';
import { fail } from '../../domain/errors.js';
import { factorProofOf, jsonField } from './identity-proof.js';
import type { Account } from '../../domain/models.js';
import { authenticateSession, signOut } from '../../flows/sessions.js';
import { ERRORS } from '../../domain/errors.js';
import { requestContext } from '../request-context.js';
import { setSessionCookie } from '../session-cookie.js';
import { field, formOf, queryParam, safeNext, trimmedField } from './forms.js';
import { describeWait } from './messages.js';
import { homeFor } from './nav.js';
import { REQUIRED_CHANGE_PATH, TWO_FACTOR_SETTINGS_PATH } from './page-auth.js';
import { continueTo, isAppSignInStep, redirectWith, renderPage } from './render.js';
import { pageLimits, perIp } from './limits.js';
import { deviceTokensOf, setDeviceCookie } from '../device-cookie.js';
import { INTERACTION_PATH } from '../../oidc/endpoints.js';
import { findAppByClientId } from '../../store/apps.repo.js';
import { fieldError, formErrors, NO_ERRORS, PASSWORD_CLEARED, type FormErrors } from './form-errors.js';

const NOT_SIGNED_IN = 'You are not signed in';
const NOT_VERIFIED = 'You are not signed in yet';

interface LoginView {
  email: string;
  next: string | null;
  /** the app (help desk) the agent is signing in to, when they came from one */
  appName: string | null;
  errors: FormErrors;
}

const requiredChangeTo = (next: string | null) => (next ? `${REQUIRED_CHANGE_PATH}?next=${encodeURIComponent(next)}` : REQUIRED_CHANGE_PATH);
const enrolmentTo = (next: string | null) => (next ? `${TWO_FACTOR_SETTINGS_PATH}?next=${encodeURIComponent(next)}` : TWO_FACTOR_SETTINGS_PATH);

/** The second step of a sign-in (an agent with a second factor), and its challenge's cookie (scoped to that path). */
export const SECOND_STEP_PATH = '/login/two-factor';
const CHALLENGE_COOKIE = 'deskpass_two_factor';
export const PASSKEY_SIGN_IN_PATH = '/login/passkey';

/** Sign in: Email, Password, "Sign in", and "Forgot password?". */
export const signInPages: FastifyPluginAsync = async (app) => {
  const { deps, cookieName } = app.deskpass;

  const secureCookies = app.deskpass.config.publicUrl.startsWith('https:');
  const lockedMessage = (retryAfterSeconds: number | undefined) =>
    `Too many failed sign-ins for this address. For your security, signing in is locked: try again in ${describeWait(retryAfterSeconds ?? 3600)}, or reset your password with "Forgot password?".`;

  const renderLogin = (request: FastifyRequest, reply: FastifyReply, deskName: string, view: LoginView, status = 200) =>
    renderPage(request, reply, 'login', { ...view, webauthn: true }, { title: 'Sign in', status, deskName });

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
    if (auth) return reply.redirect(auth.agent.passwordChangeRequired ? requiredChangeTo(next) : mustEnrollTwoFactor(auth.account, auth.agent) ? enrolmentTo(next) : (next ?? homeFor(auth.agent)), 303);
    return renderLogin(request, reply, account.name, { email: '', next, appName: await appNameFor(next), errors: NO_ERRORS });
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
      const missing = [...(email ? [] : [{ field: 'email', message: 'Enter your email address.' }]), ...(password ? [] : [{ field: 'password', message: 'Enter your password.' }])];
      return renderLogin(request, reply, account.name, { email, next, appName: await appNameFor(next), errors: formErrors(NOT_SIGNED_IN, missing, { cleared: password ? PASSWORD_CLEARED : null }) }, 400);
    }

    const result = await signIn(deps, account, { email, password, deviceTokens: deviceTokensOf(request), context: requestContext(request, 'portal') });
    if (!result.ok) {
      if (result.retryAfterSeconds !== undefined) reply.header('retry-after', String(result.retryAfterSeconds));
      const status = ERRORS[result.code].status;
      // Which of the two was wrong is never said (it would tell who has an account): the password field is where to start again.
      const errors = result.code === 'account_locked' ? fieldError(NOT_SIGNED_IN, null, lockedMessage(result.retryAfterSeconds)) : fieldError(NOT_SIGNED_IN, 'password', ERRORS[result.code].message, { cleared: PASSWORD_CLEARED });
      return renderLogin(request, reply, account.name, { email, next, appName: await appNameFor(next), errors }, status);
    }
    await app.rateLimits.releaseFailures(request);
    if (result.kind === 'two_factor') {
      // No session yet: the challenge waits in a cookie of its own (never in the URL) for the second step.
      reply.setCookie(CHALLENGE_COOKIE, result.challenge, { httpOnly: true, sameSite: 'lax', secure: secureCookies, path: SECOND_STEP_PATH, expires: result.expiresAt });
      return reply.redirect(next ? `${SECOND_STEP_PATH}?next=${encodeURIComponent(next)}` : SECOND_STEP_PATH, 303);
    }
    return finishSignIn(request, reply, account, result, next);
  });

  /** Every complete sign-in of the portal (password, second step, passkey) ends here: cookies, then on to where the agent was going. */
  async function finishSignIn(request: FastifyRequest, reply: FastifyReply, account: Account, signedIn: SignedIn, next: string | null) {
    setDeviceCookie(app, request, reply, signedIn.deviceToken);
    // The browser's previous session, if any, ends: every sign-in starts a new one.
    const previous = request.cookies?.[cookieName];
    const old = previous ? await authenticateSession(deps, previous) : undefined;
    if (old && old.session.id !== signedIn.session.id) await signOut(deps, old);
    setSessionCookie(app, reply, signedIn.token, signedIn.session.expiresAt);
    if (signedIn.passwordChangeRequired) return reply.redirect(requiredChangeTo(next), 303);
    if (mustEnrollTwoFactor(account, signedIn.agent)) return reply.redirect(enrolmentTo(next), 303);
    if (isAppSignInStep(next)) return continueTo(reply, next, (await appNameFor(next)) ?? 'the help desk');
    return reply.redirect(next ?? homeFor(signedIn.agent), 303);
  }

  /**
   * The second step's page. `tab`: the form in front (the code, or the recovery code opened);
   * `errors`: the refusal, on the field it is about (none for a
   * refused passkey or a lock: what the agent typed was not the problem).
   */
  const renderSecondStep = async (request: FastifyRequest, reply: FastifyReply, deskName: string, view: { challenge: string; next: string | null; errors: FormErrors; tab?: 'code' | 'recovery' }, status = 200) => {
    const methods = await secondStepMethods(deps, view.challenge);
    if (!methods) {
      reply.clearCookie(CHALLENGE_COOKIE, { path: SECOND_STEP_PATH });
      return redirectWith(reply, view.next ? `/login?next=${encodeURIComponent(view.next)}` : '/login', 'error', ERRORS.two_factor_challenge_invalid.message);
    }
    return renderPage(request, reply, 'login-two-factor', { webauthn: true, methods, next: view.next, errors: view.errors, tab: view.tab ?? (methods.includes('totp') ? 'code' : 'recovery'), appName: await appNameFor(view.next) }, { title: 'Two-factor authentication', status, deskName, shape: 'narrow' });
  };

  app.get(SECOND_STEP_PATH, async (request, reply) => {
    const account = await currentAccount(deps);
    if (!account) return renderNotSetUp(request, reply);
    const next = safeNext(queryParam(request, 'next'));
    return renderSecondStep(request, reply, account.name, { challenge: request.cookies?.[CHALLENGE_COOKIE] ?? '', next, errors: NO_ERRORS });
  });

  // Wrong codes count like wrong passwords: per IP (failures only) and on the lockout door.
  app.post(SECOND_STEP_PATH, { preHandler: pageLimits(app, perIp('failedSignInsPerIp', 'failures')) }, async (request, reply) => {
    const account = await currentAccount(deps);
    if (!account) return renderNotSetUp(request, reply);
    const form = formOf(request);
    const next = safeNext(field(form, 'next'));
    const challenge = request.cookies?.[CHALLENGE_COOKIE] ?? '';
    const proof = factorProofOf(form);
    if (!proof) {
      await app.rateLimits.releaseFailures(request);
      const tab = field(form, 'method') === 'recovery_code' ? 'recovery' : 'code';
      return renderSecondStep(request, reply, account.name, { challenge, next, errors: tab === 'recovery' ? fieldError(NOT_VERIFIED, 'recovery-code', 'Enter one of your recovery codes.') : fieldError(NOT_VERIFIED, 'code', 'Enter the 6-digit code from your authenticator app.'), tab }, 400);
    }
    const result = await completeSecondStep(deps, account, { challenge, proof, context: requestContext(request, 'portal') });
    if (!result.ok) {
      if (result.code === 'two_factor_challenge_invalid') {
        await app.rateLimits.releaseFailures(request);
        reply.clearCookie(CHALLENGE_COOKIE, { path: SECOND_STEP_PATH });
        return redirectWith(reply, next ? `/login?next=${encodeURIComponent(next)}` : '/login', 'error', ERRORS.two_factor_challenge_invalid.message);
      }
      if (result.retryAfterSeconds !== undefined) reply.header('retry-after', String(result.retryAfterSeconds));
      const tab = 'recoveryCode' in proof ? 'recovery' : 'code';
      const error = result.code === 'account_locked' ? lockedMessage(result.retryAfterSeconds) : 'passkey' in proof ? 'The passkey could not be verified. Try again, or use another way.' : tab === 'recovery' ? 'That recovery code is not correct, or it was already used.' : 'That code is not correct. Enter the code your authenticator app shows now.';
      // a refused passkey or a lock: what the agent typed was not the problem, no field is marked
      const invalid = result.code === 'account_locked' || 'passkey' in proof ? null : tab === 'recovery' ? 'recovery-code' : 'code';
      return renderSecondStep(request, reply, account.name, { challenge, next, errors: fieldError(NOT_VERIFIED, invalid, error), tab }, ERRORS[result.code].status);
    }
    await app.rateLimits.releaseFailures(request);
    reply.clearCookie(CHALLENGE_COOKIE, { path: SECOND_STEP_PATH });
    return finishSignIn(request, reply, account, result, next);
  });

  // "Sign in with a passkey" on the sign-in page: the passkey alone is both factors.
  app.post(PASSKEY_SIGN_IN_PATH, { preHandler: pageLimits(app, perIp('failedSignInsPerIp', 'failures')) }, async (request, reply) => {
    const account = await currentAccount(deps);
    if (!account) return renderNotSetUp(request, reply);
    const form = formOf(request);
    const next = safeNext(field(form, 'next'));
    const response = jsonField(form, 'passkey');
    const result = response === undefined ? fail('invalid_credentials') : await signInWithPasskey(deps, account, { response, deviceTokens: deviceTokensOf(request), context: requestContext(request, 'portal') });
    if (!result.ok) {
      if (result.retryAfterSeconds !== undefined) reply.header('retry-after', String(result.retryAfterSeconds));
      const error = result.code === 'account_locked' ? lockedMessage(result.retryAfterSeconds) : result.code === 'invalid_credentials' ? 'That passkey could not sign you in. Try again, or sign in with your email and password.' : ERRORS[result.code].message;
      return renderLogin(request, reply, account.name, { email: '', next, appName: await appNameFor(next), errors: fieldError(NOT_SIGNED_IN, null, error) }, ERRORS[result.code].status);
    }
    await app.rateLimits.releaseFailures(request);
    return finishSignIn(request, reply, account, result, next);
  });
};
