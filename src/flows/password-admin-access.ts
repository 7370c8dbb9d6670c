import type { Agent } from '../domain/models.js';
import { PASSWORD_ADMIN_PERMISSIONS, type ForbiddenReason } from '../domain/permissions.js';
import { planHasFeature } from '../domain/plans.js';
import type { FlowDeps } from './deps.js';
import { checkActOnAgent, checkPermissions, toPrincipalPermissions } from './principal.js';
import { isFresh, type Authenticated } from './sessions.js';

export type PasswordAdminAccess =
  | { available: true; fresh: boolean; setPasswordAllowed: boolean }
  | { available: false; reason: ForbiddenReason | 'agent_deactivated' | 'agent_invited' | 'own_account' };

/**
 * What the password section of an agent's page may offer, decided by the same rules and in
 * the same order as the admin-reset flow, so the page explains a refusal instead of offering
 * buttons that fail. `fresh: false` means the actor must re-enter their password first.
 * One's own password is changed from My Settings (current password required), so the
 * section sends the actor there. `setPasswordAllowed: false`: the account's policy lets
 * administrators only email reset links (Manual Reset Password is off).
 */
export function describePasswordAdminAccess(deps: Pick<FlowDeps, 'clock'>, auth: Authenticated, target: Agent): PasswordAdminAccess {
  const actor = toPrincipalPermissions(auth.agent);
  const permitted = checkPermissions(actor, PASSWORD_ADMIN_PERMISSIONS);
  if (!permitted.allowed) return { available: false, reason: permitted.reason };
  if (!planHasFeature(auth.account.plan, 'agent_password_management')) return { available: false, reason: 'plan_feature_unavailable' };
  if (target.id === auth.agent.id) return { available: false, reason: 'own_account' };
  const decision = checkActOnAgent(actor, toPrincipalPermissions(target));
  if (!decision.allowed) return { available: false, reason: decision.reason };
  if (target.status === 'deactivated') return { available: false, reason: 'agent_deactivated' };
  // no password to reset yet: the page offers the invitation instead (admin-reset refuses 409 agent_invited)
  if (target.status === 'invited') return { available: false, reason: 'agent_invited' };
  // The account may let administrators only send reset links, never set a password themselves.
  const setPasswordAllowed = !auth.account.settings.passwordPolicy.adminSetPasswordDisabled;
  return { available: true, fresh: isFresh(auth.session, deps.clock.now()), setPasswordAllowed };
}
