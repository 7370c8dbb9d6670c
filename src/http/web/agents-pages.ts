import { isValidEmail } from '../../domain/email.js';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createAgent, listAgents } from '../../flows/agents.js';
import { invitationStates } from '../../flows/invitation-state.js';
import { listAssignableRoles } from '../../flows/role-choices.js';
import type { AgentStatus } from '../../domain/models.js';
import { requestContext } from '../request-context.js';
import { formOf, queryParam, trimmedField } from './forms.js';
import { twoFactorRequiredFor } from '../../domain/account-settings.js';
import { describeFailure } from './messages.js';
import { agentFlags } from './agent-flags.js';
import { redirectWith, renderMessage, renderPage } from './render.js';
import { fieldError, formErrors, NO_ERRORS, type FormErrors } from './form-errors.js';

const PAGE_SIZE = 25;
const NOT_ADDED = 'The agent was not added';
const STATUSES: AgentStatus[] = ['active', 'invited', 'deactivated'];

/** Manage › Agents: the list (search, status, pages) and "Add agent". */
export const agentsPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  app.get('/manage/agents', async (request, reply) => {
    const actor = request.portalAuth!.agent;
    const search = queryParam(request, 'search', 200)?.trim() ?? '';
    const rawStatus = queryParam(request, 'status');
    const status = STATUSES.find((s) => s === rawStatus);
    const twoFactor = queryParam(request, 'twoFactor') === 'off' ? 'off' : '';
    const cursor = queryParam(request, 'cursor');
    const page = await listAgents(deps, actor, { search: search || undefined, status, twoFactor: twoFactor === 'off' ? false : undefined, limit: PAGE_SIZE, cursor });
    if (!page.ok) {
      if (page.code === 'forbidden') return renderMessage(request, reply, 403, 'Manage › Agents', describeFailure(page));
      return redirectWith(reply, '/manage/agents', 'error', 'That page of the list is no longer available. Here is the first page.');
    }
    const invitations = await invitationStates(deps, page.agents);
    const agents = page.agents.map((agent) => ({
      id: agent.id,
      name: agent.name,
      email: agent.email,
      role: agent.role.name,
      isAccountAdministrator: agent.isAccountAdministrator,
      isMe: agent.id === actor.id,
      flags: agentFlags(agent, invitations.get(agent.id), twoFactorRequiredFor(request.portalAuth!.account.settings, agent)),
    }));
    const query = (extra: Record<string, string>) => new URLSearchParams({ ...(search ? { search } : {}), ...(status ? { status } : {}), ...(twoFactor ? { twoFactor } : {}), ...extra }).toString();
    return renderPage(
      request,
      reply,
      'agents',
      {
        agents,
        search,
        status: status ?? '',
        statuses: STATUSES,
        twoFactor,
        filtered: Boolean(search || status || twoFactor),
        nextHref: page.nextCursor ? `/manage/agents?${query({ cursor: page.nextCursor })}` : null,
        firstHref: cursor ? `/manage/agents?${query({})}` : null,
      },
      { title: 'Agents', section: 'agents' },
    );
  });

  async function showNewAgent(request: FastifyRequest, reply: FastifyReply, form: { name: string; email: string; roleId: string }, errors: FormErrors = NO_ERRORS, status = 200) {
    const roles = await listAssignableRoles(deps, request.portalAuth!.agent);
    if (!roles.ok) return renderMessage(request, reply, 403, 'Add agent', describeFailure(roles));
    const defaultRole = roles.roles.find((r) => r.builtIn && r.name === 'Agent');
    return renderPage(
      request,
      reply,
      'agent-new',
      { ...form, roleId: form.roleId || defaultRole?.id || '', roles: roles.roles, errors },
      { title: 'Add agent', status, section: 'agents' },
    );
  }

  app.get('/manage/agents/new', async (request, reply) => showNewAgent(request, reply, { name: '', email: '', roleId: '' }));

  app.post('/manage/agents/new', async (request, reply) => {
    const body = formOf(request);
    const form = { name: trimmedField(body, 'name'), email: trimmedField(body, 'email'), roleId: trimmedField(body, 'roleId') };
    const problems = [
      ...(!form.name ? [{ field: 'name', message: 'Enter a name.' }] : form.name.length > 200 ? [{ field: 'name', message: 'The name can be at most 200 characters long.' }] : []),
      ...(!form.email ? [{ field: 'email', message: 'Enter an email address.' }] : isValidEmail(form.email) ? [] : [{ field: 'email', message: 'Enter a valid email address, like sam@example.com.' }]),
      ...(form.roleId ? [] : [{ field: 'role', message: 'Choose a role.' }]),
    ];
    if (problems.length > 0) return showNewAgent(request, reply, form, formErrors(NOT_ADDED, problems), 400);
    const auth = request.portalAuth!;
    const result = await createAgent(deps, auth.agent, auth.account, { ...form, context: requestContext(request, 'portal') });
    if (!result.ok) {
      const status = result.code === 'email_taken' ? 409 : result.code === 'forbidden' ? 403 : 400;
      const field = result.code === 'email_taken' ? 'email' : result.code === 'forbidden' ? 'role' : null;
      return showNewAgent(request, reply, form, fieldError(NOT_ADDED, field, describeFailure(result)), status);
    }
    return redirectWith(
      reply,
      `/manage/agents/${result.agent.id}`,
      'success',
      `${result.agent.name} was added. We emailed ${result.agent.email} an invitation to set a password; it is valid for 7 days.`,
    );
  });
};
