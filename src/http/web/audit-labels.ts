/** Audit event types in plain words, for the log and its type filter. */
export const AUDIT_EVENT_LABELS: Record<string, string> = {
  'login.succeeded': 'Signed in',
  'login.failed': 'Sign-in failed',
  'account.locked': 'Sign-in locked',
  'agent.unlocked': 'Agent unlocked',
  'password.changed': 'Changed own password',
  'password.change_required': 'Password change required at sign-in',
  'password.change_failed': 'Password change failed',
  'password.reset_requested': 'Asked for a reset link',
  'password.reset_link_sent': 'Reset email sent by an administrator',
  'password.reset_completed': 'Password set from a link',
  'password.set_by_admin': 'Password set by an administrator',
  'password.temporary_set_by_admin': 'One-time password set by an administrator',
  'password.recovery_link_issued': 'Recovery link issued by the operator',
  'password.retired_on_permission_growth': 'Password set by an administrator retired (more permissions)',
  'reauthentication.failed': 'Password re-entry failed',
  'session.revoked': 'Signed out (session ended)',
  'agent.created': 'Agent added',
  'agent.updated': 'Agent updated',
  'agent.invitation_sent': 'Invitation sent',
  'role.created': 'Role created',
  'role.updated': 'Role updated',
  'account.settings_updated': 'Account settings changed',
  'app.created': 'App registered',
  'app.updated': 'App changed',
  'app.deleted': 'App removed',
  'app.secret_rotated': 'App secret rotated',
  'app.signed_in': 'Signed in to an app',
  'app.logged_out': 'Signed out of an app (back-channel)',
  'app.logout_dropped': 'Back-channel sign-out given up (the app did not answer for an hour)',
  'signing_key.rotated': 'Signing key rotated (operator)',
  'login.two_factor_failed': 'Second step of sign-in failed',
  'two_factor.enabled': 'Second factor added',
  'two_factor.disabled': 'Authenticator app removed',
  'two_factor.reset_by_admin': 'Second factor reset by an administrator',
  'two_factor.recovery_code_used': 'Recovery code used',
  'two_factor.recovery_codes_regenerated': 'New recovery codes made',
  'passkey.added': 'Passkey added',
  'passkey.removed': 'Passkey removed',
};

const DETAIL_LABELS: Record<string, string> = {
  reason: 'reason',
  changed: 'changed',
  status: 'status',
  scope: 'scope',
  sent: 'email sent',
  requiredChange: 'required change',
  purpose: 'link',
  failures: 'failures',
  door: 'locked for',
  device: 'device',
  name: 'name',
  appName: 'app',
  method: 'method',
  secondFactor: 'second factor',
  remaining: 'codes left',
  lastFactor: 'last factor',
  by: 'by',
};

/** A short line of the non-secret facts an event carries ("reason: invalid_credentials · changed: name"). */
export function describeAuditDetails(details: Record<string, unknown> | null): string {
  if (!details) return '';
  return Object.entries(details)
    .filter(([key]) => key in DETAIL_LABELS)
    .map(([key, value]) => `${DETAIL_LABELS[key]}: ${Array.isArray(value) ? value.join(', ') : String(value).replace(/_/g, ' ')}`)
    .join(' · ');
}
