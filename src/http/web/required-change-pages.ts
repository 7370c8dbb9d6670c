import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { changeOwnPassword } from '../../flows/change-password.js';
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

/**
 * "Change password required": after signing in with a one-time password set by an
 * administrator, the agent chooses their own before anything else.
 */
export const requiredChangePages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  function show(request: FastifyRequest, reply: FastifyReply, next: string | null, errors: FormErrors = NO_ERRORS, status = 200) {
    const { agent, account } = request.portalAuth!;
    return renderPage(
      request,
      reply,
      'password-required',
      { expiresAt: agent.temporaryPasswordExpiresAt, hints: passwordHints(account.settings.passwordPolicy), oneTime: agent.temporaryPasswordExpiresAt !== null, next, errors },
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
    const currentPassword = field(form, 'currentPassword');
    const newPassword = field(form, 'newPassword');
    const cleared = { cleared: currentPassword || newPassword ? PASSWORDS_CLEARED : null };
    const current = auth.agent.temporaryPasswordExpiresAt ? 'one-time password' : 'current password';
    if (!currentPassword || !newPassword) {
      const missing = [...(currentPassword ? [] : [{ field: 'current-password', message: `Enter your ${current}.` }]), ...(newPassword ? [] : [{ field: 'new-password', message: 'Enter a new password.' }])];
      return show(request, reply, next, formErrors(NOT_SET, missing, cleared), 400);
    }
    if (newPassword !== field(form, 'confirmPassword')) return show(request, reply, next, fieldError(NOT_SET, 'new-password-confirm', 'The two new passwords do not match. Type the same password twice.', cleared), 422);
    const result = await changeOwnPassword(deps, auth, { currentPassword, newPassword, context: requestContext(request, 'portal') });
    if (!result.ok) {
      if (result.code === 'password_rejected') return show(request, reply, next, passwordRejected(NOT_SET, result, 'new-password'), 422);
      if (result.code === 'current_password_incorrect') return show(request, reply, next, fieldError(NOT_SET, 'current-password', auth.agent.temporaryPasswordExpiresAt ? 'The one-time password is not correct.' : 'Your current password is not correct.', cleared), 400);
      if (result.code === 'account_locked') return show(request, reply, next, fieldError(NOT_SET, null, `Too many wrong passwords. Try again in ${describeWait(result.retryAfterSeconds ?? 3600)}.`, cleared), 423);
      return show(request, reply, next, fieldError(NOT_SET, null, describeFailure(result), cleared), 400);
    }
    if (isAppSignInStep(next)) return continueTo(reply, next, 'the help desk');
    return redirectWith(reply, next ?? homeFor(auth.agent), 'success', 'Your new password is set. Use it from now on.');
  });
};
