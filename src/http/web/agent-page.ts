import type { FastifyReply, FastifyRequest } from 'fastify';
import { getAgent } from '../../flows/agents.js';
import { invitationStates } from '../../flows/invitation-state.js';
import { describePasswordAdminAccess } from '../../flows/password-admin-access.js';
import { checkActOnAgent, toPrincipalPermissions } from '../../flows/principal.js';
import { listAssignableRoles } from '../../flows/role-choices.js';
import { describeFailure, PASSWORD_SECTION_REASONS } from './messages.js';
import { agentFlags } from './agent-flags.js';
import { twoFactorRequiredFor } from '../../domain/account-settings.js';
import { passwordHints } from './policy-hints.js';
import { renderMessage, renderPage } from './render.js';
import { describeAgentState } from '../../flows/agent-state.js';
import { describeUserAgent } from './format.js';
import { NO_ERRORS, type FormErrors } from './form-errors.js';
import { renderForbidden } from './errors.js';

/** What a refused form of the page hands back to it: its errors, and what was typed or ticked. */
export interface PasswordFormState {
  errors?: FormErrors;
  /** what the admin chose on a refused submit; unset on a fresh page, where the safe choice (a one-time password) starts ticked */
  requireChange?: boolean;
  /** a refused "confirm it's you" of the password section */
  reauth?: FormErrors;
  /** a refused profile form: its errors and the name as typed */
  profile?: { errors: FormErrors; name: string };
}

const LINK_ISSUERS: Record<string, string> = {
  self_service: 'requested by the agent (Forgot password)',
  operator_recovery: 'issued by the server operator (recover-admin)',
};

const PROFILE_REASONS: Record<string, string> = {
  account_administrator_protected: 'This is the Account Administrator: their role is always Administrator and nobody else can deactivate or sign them out.',
  target_more_privileged: 'This agent has permissions that your role does not have, so you can only look at their profile.',
};

/**
 * An agent's page in Manage › Agents: profile and role, status actions, and the password
 * section. Each part says why it is not offered rather than offering a button that fails.
 */
export async function showAgentPage(request: FastifyRequest, reply: FastifyReply, id: string, passwordForm: PasswordFormState = {}, status = 200): Promise<FastifyReply> {
  const { deps } = request.server.deskpass;
  const auth = request.portalAuth!;
  const found = await getAgent(deps, auth.agent, id);
  if (!found.ok) {
    if (found.code === 'not_found') return renderMessage(request, reply, 404, 'Agent not found', 'There is no such agent in this help desk.', { href: '/manage/agents', label: 'Back to Agents' });
    return renderForbidden(request, reply, 'Manage › Agents', found);
  }
  const agent = found.agent;
  const isMe = agent.id === auth.agent.id;
  const act = checkActOnAgent(toPrincipalPermissions(auth.agent), toPrincipalPermissions(agent));
  const actRefusal = act.allowed ? null : (PROFILE_REASONS[act.reason] ?? describeFailure({ ok: false, code: 'forbidden', details: [{ reason: act.reason }] }));
  const roles = await listAssignableRoles(deps, auth.agent);
  const invitation = (await invitationStates(deps, [agent])).get(agent.id);
  const access = describePasswordAdminAccess(deps, auth, agent);
  const settings = auth.account.settings;
  const state = await describeAgentState(deps, auth.account, agent);
  const link = state.resetLink;

  return renderPage(
    request,
    reply,
    'agent',
    {
      agent: {
        id: agent.id,
        name: agent.name,
        email: agent.email,
        roleId: agent.role.id,
        roleName: agent.role.name,
        status: agent.status,
        locked: agent.locked,
        passwordChangeRequired: agent.passwordChangeRequired,
        temporaryPasswordExpiresAt: agent.temporaryPasswordExpiresAt,
        passwordChangedAt: agent.passwordChangedAt,
        createdAt: agent.createdAt,
        isAccountAdministrator: agent.isAccountAdministrator,
        twoFactorEnabled: agent.twoFactorEnabled,
      },
      twoFactorRequired: twoFactorRequiredFor(settings, agent),
      meHasFactor: auth.agent.twoFactorEnabled,
      webauthn: true,
      flags: agentFlags(agent, invitation, twoFactorRequiredFor(settings, agent), deps.clock.now()),
      invitation: invitation ?? null,
      isMe,
      actRefusal,
      canEditRole: act.allowed && !isMe && !agent.isAccountAdministrator,
      roleNote: isMe ? 'You cannot change your own role.' : agent.isAccountAdministrator ? 'The Account Administrator is always an Administrator.' : null,
      roles: roles.ok ? roles.roles.map((r) => ({ id: r.id, name: r.name, grantable: r.grantable })) : [],
      access: access.available ? { available: true, fresh: access.fresh, setPasswordAllowed: access.setPasswordAllowed, reason: null } : { available: false, fresh: false, setPasswordAllowed: false, reason: PASSWORD_SECTION_REASONS[access.reason] ?? describeFailure({ ok: false, code: 'forbidden', details: [{ reason: access.reason }] }) },
      resetLinkLifetimeHours: settings.resetLinkLifetimeHours,
      temporaryPasswordLifetimeHours: settings.temporaryPasswordLifetimeHours,
      hints: passwordHints(settings.passwordPolicy),
      passwordForm: { errors: passwordForm.errors ?? NO_ERRORS, requireChange: passwordForm.requireChange ?? true },
      profileForm: passwordForm.profile ?? { errors: NO_ERRORS, name: agent.name },
      reauthErrors: passwordForm.reauth ?? NO_ERRORS,
      state: {
        lock: state.lock,
        oneTimePassword: state.oneTimePassword,
        resetLink: link
          ? { ...link, by: link.createdBy ? `by ${link.createdBy.id === auth.agent.id ? 'you' : link.createdBy.name}` : (LINK_ISSUERS[link.purpose] ?? '') }
          : null,
        lastSignIn: state.lastSignIn ? { at: state.lastSignIn.at, device: describeUserAgent(state.lastSignIn.userAgent), ip: state.lastSignIn.ip } : null,
        sessions: state.sessions.map((s) => ({ id: s.id, device: describeUserAgent(s.userAgent), ip: s.ip, createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, apps: s.apps.map((a) => a.name), current: s.id === auth.session.id })),
        auditHref: auth.agent.role.permissions.includes('view_audit_log') ? `/manage/audit?agent=${encodeURIComponent(agent.id)}` : null,
      },
    },
    { title: agent.name, status, section: 'agents' },
  );
}
