import type { AgentView } from '../../flows/agents.js';
import type { InvitationState } from '../../flows/invitation-state.js';

/** A badge on an agent: what needs attention, in words and a colour class. */
export interface AgentFlag {
  label: string;
  tone: 'danger' | 'warning' | 'info' | 'muted' | 'success';
  title: string;
}

/** The flags Manage › Agents shows: locked, password change pending, invitation pending or expired, deactivated, no second factor (`required`: the account's policy requires one of this agent). */
export function agentFlags(agent: AgentView, invitation: InvitationState | undefined, required: boolean, now?: Date): AgentFlag[] {
  const flags: AgentFlag[] = [];
  if (agent.isAccountAdministrator) flags.push({ label: 'Account Administrator', tone: 'info', title: 'Owns the help desk account; only they can change their password.' });
  if (agent.status === 'deactivated') flags.push({ label: 'Deactivated', tone: 'muted', title: 'Cannot sign in.' });
  if (agent.status === 'invited') {
    if (invitation?.pending === false) flags.push({ label: 'Invitation expired', tone: 'warning', title: 'The invitation link no longer works; send a new one.' });
    else flags.push({ label: 'Invitation pending', tone: 'info', title: 'Has not set a password yet.' });
  }
  if (agent.locked) flags.push({ label: 'Locked', tone: 'danger', title: 'Too many failed sign-ins; locked for a while or until unlocked.' });
  // `now` given: a one-time password past its time is said to be expired, not pending
  const otpExpired = now !== undefined && agent.temporaryPasswordExpiresAt !== null && agent.temporaryPasswordExpiresAt <= now;
  if (agent.passwordChangeRequired && otpExpired) flags.push({ label: 'One-time password expired', tone: 'danger', title: 'The one-time password no longer signs them in: set a new one or send a reset email.' });
  else if (agent.passwordChangeRequired) flags.push({ label: 'Password change pending', tone: 'warning', title: 'Signs in with a one-time password and must choose a new one.' });
  if (agent.status !== 'deactivated' && !agent.twoFactorEnabled) flags.push({ label: 'No second factor', tone: required ? 'warning' : 'muted', title: required ? 'The help desk requires a second factor: they set one up at their next sign-in.' : 'Signs in with a password alone.' });
  return flags;
}
