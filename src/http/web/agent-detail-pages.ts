import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { resendInvitation, unlockAgent, updateAgentProfile, type AgentChanges } from '../../flows/agents.js';
import { endAgentSession, revokeAgentSessions } from '../../flows/sessions.js';
import { getAgent } from '../../flows/agents.js';
import type { Failure } from '../../domain/errors.js';
import { requestContext } from '../request-context.js';
import { field, formOf, trimmedField } from './forms.js';
import { formatTimeFor } from './format.js';
import { describeFailure } from './messages.js';
import { showAgentPage } from './agent-page.js';
import { fieldError } from './form-errors.js';
import { ERRORS } from '../../domain/errors.js';
import { redirectWith } from './render.js';

const PROFILE_NOT_SAVED = 'The profile was not saved';

type IdParams = { Params: { id: string } };

/** An agent's page and its profile actions: rename, role, activate/deactivate, unlock, sign out everywhere, invitation. */
export const agentDetailPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;
  const back = (id: string) => `/manage/agents/${encodeURIComponent(id)}`;
  const refused = (reply: FastifyReply, id: string, failure: Failure) => redirectWith(reply, failure.code === 'not_found' ? '/manage/agents' : back(id), 'error', describeFailure(failure));

  app.get<IdParams>('/manage/agents/:id', async (request, reply) => showAgentPage(request, reply, request.params.id));

  app.post<IdParams>('/manage/agents/:id/profile', async (request, reply) => {
    const { agent: actor, account } = request.portalAuth!;
    const id = request.params.id;
    const form = formOf(request);
    const name = trimmedField(form, 'name');
    const roleId = trimmedField(form, 'roleId');
    const notSaved = (field: string | null, message: string, status: number) => showAgentPage(request, reply, id, { profile: { errors: fieldError(PROFILE_NOT_SAVED, field, message), name } }, status);
    if (!name) return notSaved('name', 'Enter a name.', 400);
    if (name.length > 200) return notSaved('name', 'The name can be at most 200 characters long.', 400);
    const current = await getAgent(deps, actor, id);
    if (!current.ok) return refused(reply, id, current);
    // Only what changed: an unchanged role is not a role change (and one's own role never is).
    const changes: AgentChanges = { name, ...(roleId && roleId !== current.agent.role.id ? { roleId } : {}) };
    const result = await updateAgentProfile(deps, actor, account, id, changes, requestContext(request, 'portal'));
    if (!result.ok && result.code !== 'not_found') return notSaved(changes.roleId ? 'role' : null, describeFailure(result), ERRORS[result.code].status);
    if (!result.ok) return refused(reply, id, result);
    return redirectWith(reply, back(id), 'success', `${result.agent.name}'s profile was saved.`);
  });

  app.post<IdParams>('/manage/agents/:id/status', async (request, reply) => {
    const { agent: actor, account } = request.portalAuth!;
    const id = request.params.id;
    const status = field(formOf(request), 'status');
    if (status !== 'active' && status !== 'deactivated') return redirectWith(reply, back(id), 'error', 'Choose activate or deactivate.');
    const result = await updateAgentProfile(deps, actor, account, id, { status }, requestContext(request, 'portal'));
    if (!result.ok) return refused(reply, id, result);
    const text =
      status === 'deactivated'
        ? `${result.agent.name} is deactivated: they were signed out everywhere, their links stopped working, and they cannot sign in.`
        : `${result.agent.name} is active again and can sign in.`;
    return redirectWith(reply, back(id), 'success', text);
  });

  app.post<IdParams>('/manage/agents/:id/unlock', async (request, reply) => {
    const { agent: actor, account } = request.portalAuth!;
    const result = await unlockAgent(deps, actor, account, request.params.id, requestContext(request, 'portal'));
    if (!result.ok) return refused(reply, request.params.id, result);
    return redirectWith(reply, back(request.params.id), 'success', 'The agent is unlocked and can sign in again.');
  });

  app.post<IdParams>('/manage/agents/:id/sign-out', async (request, reply) => {
    const result = await revokeAgentSessions(deps, request.portalAuth!.agent, request.params.id, requestContext(request, 'portal'));
    if (!result.ok) return refused(reply, request.params.id, result);
    return redirectWith(reply, back(request.params.id), 'success', 'The agent was signed out everywhere.');
  });

  app.post<IdParams>('/manage/agents/:id/invitation', async (request, reply) => {
    const { agent: actor, account } = request.portalAuth!;
    const result = await resendInvitation(deps, actor, account, request.params.id, requestContext(request, 'portal'));
    if (!result.ok) return refused(reply, request.params.id, result);
    return redirectWith(reply, `${back(request.params.id)}#password`, 'success', `A new invitation was emailed. It is valid for 7 days, until ${formatTimeFor(request, result.expiresAt)}; the previous one no longer works.`);
  });

  app.post<{ Params: { id: string; sessionId: string } }>('/manage/agents/:id/sessions/:sessionId/sign-out', async (request, reply) => {
    const { id, sessionId } = request.params;
    const result = await endAgentSession(deps, request.portalAuth!.agent, id, sessionId, requestContext(request, 'portal'));
    if (!result.ok) {
      if (result.code === 'not_found') return redirectWith(reply, `${back(id)}#state`, 'info', 'That session had already ended.');
      return refused(reply, id, result);
    }
    return redirectWith(reply, `${back(id)}#state`, 'success', 'The agent was signed out of that session (and of the help desks opened with it). Their other sessions go on.');
  });
};
