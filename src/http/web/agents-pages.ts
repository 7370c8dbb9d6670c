import { isValidEmail } from '../../domain/email.js';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createAgent, listAgents } from '../../flows/agents.js';
import { invitationStates } from '../../flows/invitation-state.js';
import { listAssignableRoles } from '../../flows/role-choices.js';
import type { AgentListStatus } from '../../store/agent-list.repo.js';
import { requestContext } from '../request-context.js';
import { formOf, queryParam, trimmedField } from './forms.js';
import { twoFactorRequiredFor } from '../../domain/account-settings.js';
import { describeFailure } from './messages.js';
import { agentFlags } from './agent-flags.js';
import { redirectWith, renderMessage, renderPage } from './render.js';
import { fieldError, formErrors, NO_ERRORS, type FormErrors } from './form-errors.js';
import { renderForbidden } from './errors.js';

const PAGE_SIZE = 25;
const NOT_ADDED = 'The agent was not added';
/** The status filter, in the order the menu offers it: the agent's status, then what needs attention. */
const STATUSES: { value: AgentListStatus; label: string }[] = [
  { value: 'active', label: 'Active' },
  { value: 'invited', label: 'Invited' },
  { value: 'deactivated', label: 'Deactivated' },
  { value: 'locked', label: 'Locked' },
  { value: 'password_change_pending', label: 'Password change pending' },
  { value: 'invitation_expired', label: 'Invitation expired' },
];

/** Manage › Agents: the list (search, status, pages both ways, the count) and "Add agent". */
export const agentsPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  app.get('/manage/agents', async (request, reply) => {
    const actor = request.portalAuth!.agent;
    const search = queryParam(request, 'search', 200)?.trim() ?? '';
    const rawStatus = queryParam(request, 'status');
    const status = STATUSES.find((s) => s.value === rawStatus)?.value;
    const twoFactor = queryParam(request, 'twoFactor') === 'off' ? 'off' : '';
    const cursor = queryParam(request, 'cursor');
    const before = cursor ? undefined : queryParam(request, 'before');
    const page = await listAgents(deps, actor, { search: search || undefined, status, twoFactor: twoFactor === 'off' ? false : undefined, limit: PAGE_SIZE, cursor, before, count: true });
    if (!page.ok) {
      if (page.code === 'forbidden') return renderForbidden(request, reply, 'Manage › Agents', page);
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
      lastSignInAt: agent.lastSignInAt,
      flags: agentFlags(agent, invitations.get(agent.id), twoFactorRequiredFor(request.portalAuth!.account.settings, agent), deps.clock.now()),
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
        countText: page.count ? describeCount(page.count, search, status, twoFactor === 'off') : null,
        nextHref: page.nextCursor ? `/manage/agents?${query({ cursor: page.nextCursor })}` : null,
        prevHref: page.prevCursor ? `/manage/agents?${query({ before: page.prevCursor })}` : null,
      },
      { title: 'Agents', section: 'agents' },
    );
  });

  async function showNewAgent(request: FastifyRequest, reply: FastifyReply, form: { name: string; email: string; roleId: string }, errors: FormErrors = NO_ERRORS, status = 200) {
    const roles = await listAssignableRoles(deps, request.portalAuth!.agent);
    if (!roles.ok) return renderForbidden(request, reply, 'Add agent', roles);
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

const NUMBER = new Intl.NumberFormat('en-US');

/**
 * "37 agents match “mul”", "1 locked agent matches “mul”", "More than 1,000 agents match “m”",
 * "12 agents with a password change pending", "3 agents": the count above the list, in words.
 */
export function describeCount(count: { n: number; more: boolean }, search: string, status: AgentListStatus | undefined, noSecondFactor: boolean): string {
  const adjective = status === 'active' || status === 'invited' || status === 'deactivated' || status === 'locked' ? `${status} ` : '';
  const after = [status === 'password_change_pending' ? 'with a password change pending' : status === 'invitation_expired' ? 'whose invitation expired' : '', noSecondFactor ? 'without a second factor' : ''].filter(Boolean);
  const one = !count.more && count.n === 1;
  const subject = `${count.more ? `More than ${NUMBER.format(count.n)}` : NUMBER.format(count.n)} ${adjective}${one ? 'agent' : 'agents'}${after.length ? ` ${after.join(' and ')}` : ''}`;
  return search ? `${subject} ${one ? 'matches' : 'match'} “${search}”` : subject;
}
