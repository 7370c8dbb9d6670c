import type { SessionEndReason } from '../../store/sessions.repo.js';

/**
 * What the sign-in page says about a session that ended, by the reason code in /login?reason=…
 * (page-auth.ts puts it there from the ended session's own record). Codes only, never free
 * text: an unknown code says nothing.
 */
export const SIGN_OUT_REASONS: Record<SessionEndReason, string> = {
  signed_out: 'You signed out.',
  signed_out_elsewhere: 'You were signed out: this session was ended from another of your sessions (My Settings › Sessions).',
  signed_out_from_app: 'You were signed out because you signed out of an app that uses this sign-in.',
  revoked_by_admin: 'An administrator signed you out of every session. Sign in again to continue.',
  session_revoked_by_admin: 'An administrator signed you out of this session (your other sessions, if any, go on). Sign in again to continue.',
  deactivated: 'You were signed out because an administrator deactivated your account. Ask an administrator if you think this is a mistake.',
  role_changed: 'You were signed out because an administrator changed your role. Sign in again to continue with your new role.',
  password_changed: 'You were signed out because your password was changed from another session. Sign in with your new password. If that was not you, use "Forgot password?" now.',
  password_reset: 'You were signed out because your password was reset with a reset link. Sign in with the new password. If that was not you, use "Forgot password?" now and tell an administrator.',
  password_set_by_admin: 'You were signed out because an administrator set a new password for you. Sign in with the password they gave you.',
  password_retired: 'You were signed out because your permissions grew: the password an administrator chose for you no longer works. Choose your own with the link we emailed you.',
  two_factor_reset: 'You were signed out because an administrator reset your second factor. Sign in with your password, then set up a new one.',
  one_time_password_expired: 'The one-time password has expired. Ask an administrator for a new one or use "Forgot password?".',
  expired_idle: 'You were signed out because you were inactive for too long. Sign in again to continue.',
  expired_absolute: 'Your session reached its maximum length, so you were signed out. Sign in again to continue.',
};

/** The sentence for a reason code from a URL, or null for anything else. */
export function signOutReasonText(code: string | undefined): string | null {
  return code && Object.hasOwn(SIGN_OUT_REASONS, code) ? SIGN_OUT_REASONS[code as SessionEndReason] : null;
}
