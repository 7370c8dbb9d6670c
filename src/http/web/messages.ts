import type { Failure } from '../../domain/errors.js';
import { ERRORS } from '../../domain/errors.js';

/** Why an action was refused, as the portal says it (the API's `forbidden` reasons). */
const FORBIDDEN_REASONS: Record<string, string> = {
  missing_permission: 'Your role does not include the permission for this. Ask an administrator if you need it.',
  account_administrator_protected: 'This is the Account Administrator. Nobody else can change their password, role or status; only they can change their own password.',
  target_more_privileged: 'This agent has permissions that your role does not have, so you cannot act on their account.',
  cannot_grant_permissions: 'You cannot give a role with permissions that you do not have yourself.',
  cannot_change_own_role: 'You cannot change your own role. Ask another administrator.',
  cannot_change_own_status: 'You cannot deactivate your own account.',
  built_in_role_protected: 'Built-in roles keep their name, and Administrator keeps every permission.',
  plan_feature_unavailable: "Resetting other agents' passwords is not part of this help desk's plan.",
  admin_set_password_disabled: 'This help desk lets administrators only send password reset emails, not set passwords (Manage › Account settings).',
};

/** The password section's own explanations, beside the forbidden reasons. */
export const PASSWORD_SECTION_REASONS: Record<string, string> = {
  ...FORBIDDEN_REASONS,
  missing_permission: 'Resetting another agent\'s password needs both the "Manage Agents" and "Manage Agent Password" permissions. Your role does not have both.',
  account_administrator_protected: 'This is the Account Administrator. Nobody else can reset or set their password, whatever their permissions. Only they can change it, from My Settings or with "Forgot password?".',
  agent_deactivated: 'This agent is deactivated. Activate them first to reset their password.',
  agent_invited: 'This agent has not accepted their invitation yet, so there is no password to reset: resend the invitation instead.',
  own_account: 'This is you. Change your own password from My Settings › Change password, with your current password.',
};

export function forbiddenReason(failure: Failure): string | undefined {
  const reason = (failure.details?.[0] as { reason?: string } | undefined)?.reason;
  return reason;
}

/** One sentence for any expected failure of a flow. */
export function describeFailure(failure: Failure): string {
  if (failure.code === 'forbidden') {
    const reason = forbiddenReason(failure);
    return (reason && FORBIDDEN_REASONS[reason]) ?? ERRORS.forbidden.message;
  }
  if (failure.code === 'invalid_request' && Array.isArray(failure.details) && failure.details.length > 0) {
    return failure.details.map((d) => describeField(d as { field?: string; message?: string })).join(' ');
  }
  return ERRORS[failure.code].message;
}

function describeField(detail: { field?: string; message?: string }): string {
  const label = detail.field ? (FIELD_LABELS[detail.field] ?? detail.field) : '';
  const message = detail.message ?? 'is not valid';
  return label ? `${label}: ${message}.` : `${message}.`;
}

const FIELD_LABELS: Record<string, string> = {
  resetLinkLifetimeHours: 'Reset link lifetime',
  temporaryPasswordLifetimeHours: 'One-time password lifetime',
  'passwordPolicy.minLength': 'Minimum length',
  'passwordPolicy.historyDepth': 'Password history',
  'passwordPolicy.expiryDays': 'Password expiry',
  roleId: 'Role',
  cursor: 'Page',
};

/** The rule messages of a `password_rejected` failure, for the list under the form. */
export function passwordProblems(failure: Failure): string[] {
  if (failure.code !== 'password_rejected') return [];
  return (failure.details ?? []).map((d) => String((d as { message?: string }).message ?? 'This password is not allowed.'));
}

/** "about 45 minutes", "about 2 hours": how long until a lock ends. */
export function describeWait(seconds: number): string {
  const minutes = Math.ceil(seconds / 60);
  if (minutes <= 1) return 'a minute';
  if (minutes < 120) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  return hours === 1 ? 'about an hour' : `about ${hours} hours`;
}
