import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { currentAccount } from '../../flows/account.js';
import { requestPasswordReset, resetQuotaSubject } from '../../flows/forgot-password.js';
import { inspectResetLink, redeemResetLink, type DeadLinkReason } from '../../flows/reset-password.js';
import { DEFAULT_SETTINGS } from '../../domain/account-settings.js';
import { requestContext } from '../request-context.js';
import { field, formOf, trimmedField } from './forms.js';
import { fieldError, NO_ERRORS, passwordRejected, PASSWORDS_CLEARED, type FormErrors } from './form-errors.js';
import { answerCheck, answerRefusal, PASSWORD_CHECK_RESPONSE } from './password-check-pages.js';
import { checkResetLinkPassword } from '../../flows/password-check.js';
import { passwordHints } from './policy-hints.js';
import { redirectWith, renderMessage, renderPage } from './render.js';
import { invitationQuotaSubject, isInvitationLink, renewInvitationFromDeadLink } from '../../flows/invitation-renewal.js';
import { pageLimits, perIp } from './limits.js';
import { deviceTokensOf } from '../device-cookie.js';
import { signIn } from '../../flows/login.js';
import { finishPortalSignIn } from './sign-in-pages.js';
import { normalizeEmail } from '../../domain/models.js';

type TokenParams = { Params: { token: string } };

const NOT_SET = 'Your password was not set';

const DEAD_LINK: Record<DeadLinkReason, { title: string; text: string }> = {
  expired: { title: 'This link has expired', text: 'Password reset links work for a limited time (invitations for 7 days). This one is past its time.' },
  used: { title: 'This link has already been used', text: 'Each link works once, and this one has already set a password.' },
  revoked: { title: 'This link is no longer valid', text: 'A newer link was sent, or the password was changed since this link was sent, so it no longer works.' },
  unknown: { title: 'This link is not valid', text: 'We do not recognise this link. Check that you opened the whole link from the email.' },
};

/** Forgot password, and the page a reset (or invitation) link opens. */
export const resetPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  app.get('/forgot-password', async (request, reply) => {
    const account = await currentAccount(deps);
    return renderPage(request, reply, 'forgot-password', { email: '', errors: NO_ERRORS }, { title: 'Forgot password', deskName: account?.name });
  });

  /** The per-address reset quota: the address's own, or that of a device that signed in to it before. */
  async function resetQuota(request: FastifyRequest): Promise<string | null> {
    const email = trimmedField(formOf(request), 'email');
    if (!email || email.length > 320) return null;
    const account = await currentAccount(deps);
    return account ? resetQuotaSubject(deps, account, email, deviceTokensOf(request)) : normalizeEmail(email);
  }

  const forgotLimits = pageLimits(app, perIp('forgotPasswordPerIp'), { name: 'forgotPasswordPerEmail', subject: resetQuota });
  app.post('/forgot-password', { preHandler: forgotLimits }, async (request, reply) => {
    const account = await currentAccount(deps);
    const email = trimmedField(formOf(request), 'email');
    if (!email || email.length > 320) {
      return renderPage(request, reply, 'forgot-password', { email, errors: fieldError('No reset link was sent', 'email', 'Enter the email address you sign in with.') }, { title: 'Forgot password', status: 400, deskName: account?.name });
    }
    if (account) await requestPasswordReset(deps, account, { email, context: requestContext(request, 'portal') });
    // The same answer whatever the address: known, unknown or deactivated.
    return reply.redirect('/forgot-password/sent', 303);
  });

  app.get('/forgot-password/sent', async (request, reply) => {
    const account = await currentAccount(deps);
    const hours = account?.settings.resetLinkLifetimeHours ?? DEFAULT_SETTINGS.resetLinkLifetimeHours;
    return renderPage(request, reply, 'forgot-password-sent', { hours }, { title: 'Check your email', deskName: account?.name });
  });

  /** The form, or why the link is dead; the token stays in this site's own URL and is never sent elsewhere. */
  async function showResetPage(request: FastifyRequest<TokenParams>, reply: FastifyReply, errors: FormErrors = NO_ERRORS, status = 200) {
    reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store');
    const account = await currentAccount(deps);
    const link = await inspectResetLink(deps, request.params.token);
    if (!link.ok) {
      const reason = ((link.details?.[0] as { reason?: DeadLinkReason } | undefined)?.reason ?? 'unknown') as DeadLinkReason;
      // a dead invitation offers a new invitation (the link names the agent), not Forgot password
      const invitation = reason !== 'unknown' && (await isInvitationLink(deps, request.params.token));
      return renderPage(request, reply, 'reset-link-dead', { reason, ...DEAD_LINK[reason], invitation, renewAction: `/reset-password/${request.params.token}/new-invitation` }, { title: invitation ? 'This invitation link no longer works' : DEAD_LINK[reason].title, status: 410, deskName: account?.name });
    }
    const invitation = link.purpose === 'invitation';
    return renderPage(
      request,
      reply,
      'reset-password',
      {
        action: `/reset-password/${request.params.token}`,
        invitation,
        name: link.name,
        email: link.email,
        expiresAt: link.expiresAt,
        hints: passwordHints(account?.settings.passwordPolicy ?? DEFAULT_SETTINGS.passwordPolicy),
        errors,
        checkUrl: `/reset-password/${request.params.token}/check`,
      },
      { title: invitation ? 'Set your password' : 'Choose a new password', status, deskName: account?.name, timeZone: link.timeZone },
    );
  }

  const linkLimit = pageLimits(app, perIp('resetLinkPerIp'));
  app.get<TokenParams>('/reset-password/:token', { preHandler: linkLimit }, async (request, reply) => showResetPage(request, reply));

  // "Send me a new invitation" on a dead invitation link: limited like Forgot password (per network, per invited agent)
  const renewLimits = pageLimits(app, perIp('forgotPasswordPerIp'), { name: 'forgotPasswordPerEmail', subject: (request) => invitationQuotaSubject(deps, (request.params as { token: string }).token) });
  app.post<TokenParams>('/reset-password/:token/new-invitation', { preHandler: renewLimits }, async (request, reply) => {
    reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store');
    await renewInvitationFromDeadLink(deps, request.params.token, requestContext(request, 'portal'));
    // The same answer whether or not an invitation went out.
    const account = await currentAccount(deps);
    const message = 'If your invitation is still open, a new one is on its way to the address the first one was sent to. It works for 7 days. If nothing arrives in a few minutes, ask your help desk administrator to invite you again.';
    return renderPage(request, reply, 'message', { message, link: { href: '/login', label: 'Back to sign in' } }, { title: 'Check your email', deskName: account?.name });
  });

  // The meter's check (password-check-pages.ts) for this link's agent, while the link is usable:
  // as many per address as the link's own requests, on a counter of its own, so typing never
  // uses up the budget of the submit.
  const meterLimit = pageLimits(app, { name: 'resetLinkPerIp', subject: (request) => `meter:${request.ip}` });
  app.post<TokenParams>('/reset-password/:token/check', { preHandler: meterLimit, schema: { hide: true, response: PASSWORD_CHECK_RESPONSE } }, async (request, reply) => {
    reply.header('referrer-policy', 'no-referrer');
    const result = await checkResetLinkPassword(deps, request.params.token, field(formOf(request), 'password', 1024));
    return result.ok ? answerCheck(reply, result) : answerRefusal(reply, result);
  });

  app.post<TokenParams>('/reset-password/:token', { preHandler: linkLimit }, async (request, reply) => {
    const form = formOf(request);
    const newPassword = field(form, 'newPassword');
    if (!newPassword) return showResetPage(request, reply, fieldError(NOT_SET, 'new-password', 'Enter a new password.'), 400);
    if (newPassword !== field(form, 'confirmPassword')) return showResetPage(request, reply, fieldError(NOT_SET, 'new-password-confirm', 'The two passwords do not match. Type the same password twice.', { cleared: PASSWORDS_CLEARED }), 422);
    // Who the link is for, read before it is used: an invitation signs the new agent in.
    const link = await inspectResetLink(deps, request.params.token);
    const context = requestContext(request, 'portal');
    const result = await redeemResetLink(deps, { token: request.params.token, newPassword, context });
    if (!result.ok) {
      // A dead link shows why; a rejected password leaves the link usable and says which rules failed.
      if (result.code === 'password_rejected') return showResetPage(request, reply, passwordRejected(NOT_SET, result, 'new-password'), 422);
      return showResetPage(request, reply, NO_ERRORS, 410);
    }
    reply.header('referrer-policy', 'no-referrer');
    const account = await currentAccount(deps);
    if (link.ok && link.purpose === 'invitation' && account) {
      // Accepting an invitation is a sign-in, through the same gate as any other (lockout, second
      // factor, its enrolment): the password just chosen is the credential.
      const signedIn = await signIn(deps, account, { email: link.email, password: newPassword, deviceTokens: deviceTokensOf(request), context });
      if (signedIn.ok && signedIn.kind === 'session') {
        return finishPortalSignIn(app, request, reply, account, signedIn, null, undefined, `Welcome, ${signedIn.agent.name}. Your password is set and you are signed in.`);
      }
      return redirectWith(reply, '/login', 'success', 'Your password is set. Sign in with it to continue.');
    }
    return redirectWith(reply, '/login', 'success', 'Your new password is set, and every session that was signed in with the old one was signed out. Sign in with your new password.');
  });
};
