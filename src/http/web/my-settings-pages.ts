import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { changeOwnPassword } from '../../flows/change-password.js';
import { endOwnSession, listOwnSessions } from '../../flows/sessions.js';
import { requestContext } from '../request-context.js';
import { clearSessionCookie } from '../session-cookie.js';
import { describeUserAgent } from './format.js';
import { field, formOf } from './forms.js';
import { describeFailure, describeWait } from './messages.js';
import { fieldError, formErrors, NO_ERRORS, passwordRejected, PASSWORDS_CLEARED, type FormErrors } from './form-errors.js';
import { passwordHints } from './policy-hints.js';
import { redirectWith, renderPage } from './render.js';
import { pageLimits, perIp } from './limits.js';

const NOT_CHANGED = 'Your password was not changed';

/** My Settings › Change password, and › Sessions (the agent's own devices, each can be signed out). */
export const mySettingsPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  function showPassword(request: FastifyRequest, reply: FastifyReply, errors: FormErrors = NO_ERRORS, status = 200) {
    const { agent, account } = request.portalAuth!;
    return renderPage(
      request,
      reply,
      'my-password',
      { tab: 'password', passwordChangedAt: agent.passwordChangedAt, hints: passwordHints(account.settings.passwordPolicy), errors },
      { title: 'My Settings', status, section: 'my-settings' },
    );
  }

  app.get('/my-settings', async (_request, reply) => reply.redirect('/my-settings/password', 303));
  app.get('/my-settings/password', async (request, reply) => showPassword(request, reply));

  app.post('/my-settings/password', { preHandler: pageLimits(app, perIp('passwordProofsPerIp')) }, async (request, reply) => {
    const form = formOf(request);
    const currentPassword = field(form, 'currentPassword');
    const newPassword = field(form, 'newPassword');
    const cleared = { cleared: currentPassword || newPassword ? PASSWORDS_CLEARED : null };
    if (!currentPassword || !newPassword) {
      const missing = [...(currentPassword ? [] : [{ field: 'current-password', message: 'Enter your current password.' }]), ...(newPassword ? [] : [{ field: 'new-password', message: 'Enter a new password.' }])];
      return showPassword(request, reply, formErrors(NOT_CHANGED, missing, cleared), 400);
    }
    if (newPassword !== field(form, 'confirmPassword')) return showPassword(request, reply, fieldError(NOT_CHANGED, 'new-password-confirm', 'The two new passwords do not match. Type the same password twice.', cleared), 422);
    const result = await changeOwnPassword(deps, request.portalAuth!, { currentPassword, newPassword, context: requestContext(request, 'portal') });
    if (!result.ok) {
      if (result.code === 'password_rejected') return showPassword(request, reply, passwordRejected(NOT_CHANGED, result, 'new-password'), 422);
      if (result.code === 'current_password_incorrect') return showPassword(request, reply, fieldError(NOT_CHANGED, 'current-password', 'Your current password is not correct.', cleared), 400);
      if (result.code === 'account_locked') return showPassword(request, reply, fieldError(NOT_CHANGED, null, `Too many wrong passwords. Try again in ${describeWait(result.retryAfterSeconds ?? 3600)}.`, cleared), 423);
      return showPassword(request, reply, fieldError(NOT_CHANGED, null, describeFailure(result), cleared), 400);
    }
    return redirectWith(
      reply,
      '/my-settings/password',
      'success',
      'Your password has been changed. Your other sessions were signed out and any reset links you had stopped working; you stay signed in here.',
    );
  });

  app.get('/my-settings/sessions', async (request, reply) => {
    const { sessions } = await listOwnSessions(deps, request.portalAuth!);
    const rows = sessions
      .sort((a, b) => Number(b.current) - Number(a.current) || b.lastSeenAt.getTime() - a.lastSeenAt.getTime())
      .map((s) => ({ id: s.id, current: s.current, device: describeUserAgent(s.userAgent), ip: s.ip, createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, expiresAt: s.expiresAt, apps: s.apps.map((a) => a.name) }));
    return renderPage(request, reply, 'my-sessions', { tab: 'sessions', sessions: rows }, { title: 'My Settings', section: 'my-settings' });
  });

  app.post('/my-settings/sessions/end-others', async (request, reply) => {
    const auth = request.portalAuth!;
    const { sessions } = await listOwnSessions(deps, auth);
    const context = requestContext(request, 'portal');
    let ended = 0;
    for (const session of sessions) {
      if (!session.current && (await endOwnSession(deps, auth, session.id, context)).ok) ended += 1;
    }
    const text = ended === 0 ? 'You had no other sessions.' : ended === 1 ? 'Your other session is signed out.' : `Your ${ended} other sessions are signed out.`;
    return redirectWith(reply, '/my-settings/sessions', 'success', text);
  });

  app.post<{ Params: { id: string } }>('/my-settings/sessions/:id/end', async (request, reply) => {
    const auth = request.portalAuth!;
    const result = await endOwnSession(deps, auth, request.params.id, requestContext(request, 'portal'));
    if (!result.ok) return redirectWith(reply, '/my-settings/sessions', 'error', 'That session had already ended.');
    if (request.params.id === auth.session.id) {
      clearSessionCookie(app, reply);
      return redirectWith(reply, '/login', 'info', 'You are signed out.');
    }
    return redirectWith(reply, '/my-settings/sessions', 'success', 'That session is signed out.');
  });
};
