import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { changeOwnPassword, completeRequiredChange, provedPasswordToReplace } from '../../flows/change-password.js';
import { requestContext } from '../request-context.js';
import { field, formOf, queryParam, safeNext } from './forms.js';
import { describeFailure, describeWait } from './messages.js';
import { fieldError, formErrors, NO_ERRORS, passwordRejected, PASSWORDS_CLEARED, type FormErrors } from './form-errors.js';
import { homeFor } from './nav.js';
import { passwordHints } from './policy-hints.js';
import { REQUIRED_CHANGE_PATH } from './page-auth.js';
import { continueTo, isAppSignInStep, redirectWith, renderPage } from './render.js';
import { pageLimits, perIp } from './limits.js';

const ALLOWED = { config: { allowedDuringPasswordChange: true } };
const NOT_SET = 'Your new password was not set';

/** What the agent did, in the flash on the page they land on. */
function doneMessage(oneTime: boolean): string {
  return oneTime
    ? 'You replaced the one-time password your administrator set. Use your new password from now on.'
    : 'Your new password is set. Use it from now on.';
}

/**
 * "Change password required": after signing in with a one-time password set by an
 * administrator (or a password that expired), the agent chooses their own before anything
 * else. Right after that sign-in, only the new password is asked: the sign-in proved the old
 * one (flows/change-password.ts provedPasswordToReplace); later, or from a session that did
 * not prove it, the page asks for it too.
 */
export const requiredChangePages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  function show(request: FastifyRequest, reply: FastifyReply, next: string | null, errors: FormErrors = NO_ERRORS, status = 200) {
    const auth = request.portalAuth!;
    const { agent, account } = auth;
    const askCurrent = !provedPasswordToReplace(auth, deps.clock.now());
    return renderPage(
      request,
      reply,
      'password-required',
      { expiresAt: agent.temporaryPasswordExpiresAt, hints: passwordHints(account.settings.passwordPolicy), oneTime: agent.temporaryPasswordExpiresAt !== null, askCurrent, next, errors },
      { title: 'Choose a new password', status, shape: 'narrow' },
    );
  }

  app.get(REQUIRED_CHANGE_PATH, ALLOWED, async (request, reply) => {
    const next = safeNext(queryParam(request, 'next'));
    if (!request.portalAuth!.agent.passwordChangeRequired) return reply.redirect(next ?? homeFor(request.portalAuth!.agent), 303);
    return show(request, reply, next);
  });

  app.post(REQUIRED_CHANGE_PATH, { ...ALLOWED, preHandler: pageLimits(app, perIp('passwordProofsPerIp')) }, async (request, reply) => {
    const auth = request.portalAuth!;
    const form = formOf(request);
    const next = safeNext(field(form, 'next'));
    if (!auth.agent.passwordChangeRequired) return reply.redirect(next ?? homeFor(auth.agent), 303);
    const oneTime = auth.agent.temporaryPasswordExpiresAt !== null;
    const current = oneTime ? 'one-time password' : 'current password';
    const newPassword = field(form, 'newPassword');
    // The field is on the page only when the sign-in did not prove the password (see show).
    const askedCurrent = 'currentPassword' in form;
    const currentPassword = field(form, 'currentPassword');
    const cleared = { cleared: currentPassword || newPassword ? PASSWORDS_CLEARED : null };
    if (!newPassword || (askedCurrent && !currentPassword)) {
      const missing = [...(askedCurrent && !currentPassword ? [{ field: 'current-password', message: `Enter your ${current}.` }] : []), ...(newPassword ? [] : [{ field: 'new-password', message: 'Enter a new password.' }])];
      return show(request, reply, next, formErrors(NOT_SET, missing, cleared), 400);
    }
    if (newPassword !== field(form, 'confirmPassword')) return show(request, reply, next, fieldError(NOT_SET, 'new-password-confirm', 'The two new passwords do not match. Type the same password twice.', cleared), 422);
    const context = requestContext(request, 'portal');
    const result = askedCurrent ? await changeOwnPassword(deps, auth, { currentPassword, newPassword, context }) : await completeRequiredChange(deps, auth, { newPassword, context });
    if (!result.ok) {
      if (result.code === 'password_rejected') return show(request, reply, next, passwordRejected(NOT_SET, result, 'new-password'), 422);
      if (result.code === 'reauthentication_required') {
        return show(request, reply, next, fieldError(NOT_SET, 'current-password', `For your security, enter your ${current} again: you signed in more than 10 minutes ago.`, cleared), 403);
      }
      if (result.code === 'current_password_incorrect') return show(request, reply, next, fieldError(NOT_SET, 'current-password', oneTime ? 'The one-time password is not correct.' : 'Your current password is not correct.', cleared), 400);
      if (result.code === 'account_locked') return show(request, reply, next, fieldError(NOT_SET, null, `Too many wrong passwords. Try again in ${describeWait(result.retryAfterSeconds ?? 3600)}.`, cleared), 423);
      return show(request, reply, next, fieldError(NOT_SET, null, describeFailure(result), cleared), 400);
    }
    if (isAppSignInStep(next)) return continueTo(reply, next, 'the help desk');
    return redirectWith(reply, next ?? homeFor(auth.agent), 'success', doneMessage(oneTime));
  });
};
