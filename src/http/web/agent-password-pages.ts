import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { resetTwoFactorByAdmin, sendPasswordResetEmail, setAgentPasswordByAdmin } from '../../flows/admin-reset.js';
import { getAgent } from '../../flows/agents.js';
import { reauthenticate } from '../../flows/login.js';
import type { Failure } from '../../domain/errors.js';
import { identityErrors, identityProofOf } from './identity-proof.js';
import { requestContext } from '../request-context.js';
import { checkbox, field, formOf } from './forms.js';
import { formatHours, formatTimeFor } from './format.js';
import { describeFailure } from './messages.js';
import { fieldError, passwordRejected, PASSWORDS_CLEARED } from './form-errors.js';
import { showAgentPage } from './agent-page.js';
import { redirectWith } from './render.js';
import { pageLimits, perIp } from './limits.js';

type IdParams = { Params: { id: string } };

const NOT_CHANGED = 'The password was not changed';
const NOT_CONFIRMED = 'It was not confirmed that it is you';

/**
 * The password section of an agent's page: HappyFox's three options (email a reset link;
 * Manual Reset Password → "Change password"; the same with "Require a change of password
 * during next login"), and the prompt for the acting agent's own password when their
 * sign-in is older than 10 minutes.
 */
export const agentPasswordPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;
  const section = (id: string) => `/manage/agents/${encodeURIComponent(id)}#password`;

  function refused(reply: FastifyReply, id: string, failure: Failure) {
    if (failure.code === 'reauthentication_required') return redirectWith(reply, section(id), 'info', 'For your security, enter your own password again before changing another agent\'s password.');
    return redirectWith(reply, failure.code === 'not_found' ? '/manage/agents' : section(id), 'error', describeFailure(failure));
  }

  app.post<IdParams>('/manage/agents/:id/reauthenticate', { preHandler: pageLimits(app, perIp('passwordProofsPerIp')) }, async (request, reply) => {
    const id = request.params.id;
    const given = identityProofOf(formOf(request));
    if (!given) return showAgentPage(request, reply, id, { reauth: identityErrors(NOT_CONFIRMED, null, 'reauth') }, 400);
    const result = await reauthenticate(deps, request.portalAuth!, given, requestContext(request, 'portal'));
    if (!result.ok) return showAgentPage(request, reply, id, { reauth: identityErrors(NOT_CONFIRMED, result, 'reauth') }, result.code === 'account_locked' ? 423 : 400);
    return redirectWith(reply, section(id), 'success', 'Thank you. For the next 10 minutes you can change agents\' passwords and second factors without confirming again.');
  });

  app.post<IdParams>('/manage/agents/:id/two-factor/reset', async (request, reply) => {
    const id = request.params.id;
    const auth = request.portalAuth!;
    const result = await resetTwoFactorByAdmin(deps, auth, id, requestContext(request, 'portal'));
    if (!result.ok) {
      if (result.code === 'reauthentication_required') return redirectWith(reply, section(id), 'info', 'For your security, confirm it is you before resetting another agent\'s second factor.');
      if (result.code === 'two_factor_not_enabled') return redirectWith(reply, section(id), 'info', 'This agent has no second factor to reset.');
      return refused(reply, id, result);
    }
    const target = await getAgent(deps, auth.agent, id);
    const name = target.ok ? target.agent.name : 'The agent';
    return redirectWith(reply, section(id), 'success', `The second factor of ${name} is reset: their authenticator app, passkeys and recovery codes no longer work, and they were signed out everywhere and emailed.`);
  });

  app.post<IdParams>('/manage/agents/:id/password-reset-email', async (request, reply) => {
    const id = request.params.id;
    const auth = request.portalAuth!;
    const result = await sendPasswordResetEmail(deps, auth, id, requestContext(request, 'portal'));
    if (!result.ok) return refused(reply, id, result);
    const target = await getAgent(deps, auth.agent, id);
    const who = target.ok ? `${target.agent.name} (${target.agent.email})` : 'The agent';
    const hours = formatHours(auth.account.settings.resetLinkLifetimeHours);
    return redirectWith(reply, section(id), 'success', `A password reset email was sent to ${who}. The link is valid for ${hours}, until ${formatTimeFor(request, result.expiresAt)}, and works once.`);
  });

  app.post<IdParams>('/manage/agents/:id/password', async (request, reply) => {
    const id = request.params.id;
    const auth = request.portalAuth!;
    const form = formOf(request);
    const password = field(form, 'password');
    const requireChange = checkbox(form, 'requireChangeAtNextLogin');
    if (!password) return showAgentPage(request, reply, id, { errors: fieldError(NOT_CHANGED, 'manual-password', 'Enter the new password, or use Generate.'), requireChange }, 400);
    if (password !== field(form, 'confirmPassword')) return showAgentPage(request, reply, id, { errors: fieldError(NOT_CHANGED, 'manual-password-confirm', 'The two passwords do not match. Type the same password twice.', { cleared: PASSWORDS_CLEARED }), requireChange }, 422);
    const result = await setAgentPasswordByAdmin(deps, auth, { targetId: id, password, requireChangeAtNextLogin: requireChange, context: requestContext(request, 'portal') });
    if (!result.ok) {
      if (result.code === 'password_rejected') return showAgentPage(request, reply, id, { errors: passwordRejected(NOT_CHANGED, result, 'manual-password'), requireChange }, 422);
      return refused(reply, id, result);
    }
    const target = await getAgent(deps, auth.agent, id);
    const name = target.ok ? target.agent.name : 'The agent';
    const text = requireChange
      ? `The password of ${name} is set as a one-time password: they must choose a new one when they next sign in (within ${formatHours(auth.account.settings.temporaryPasswordLifetimeHours)}). They were signed out everywhere and emailed a notice without the password; share it through a secure channel.`
      : `The password of ${name} was changed. They were signed out everywhere and emailed a notice without the password; share it through a secure channel.`;
    return redirectWith(reply, section(id), 'success', text);
  });
};
