import type { FlowDeps } from './deps.js';
import { authenticateSession, isTemporaryPasswordExpired, type Authenticated } from './sessions.js';

/** What a route lets through while the agent must replace a one-time (or expired) password. */
export interface GateRules {
  /** the few things a required password change allows: read one's profile, set the new password, sign out */
  allowedDuringPasswordChange?: boolean;
  /** signing out always works, even once a one-time password has expired */
  allowedWhenTemporaryPasswordExpired?: boolean;
}

export type GateOutcome =
  | { ok: true; auth: Authenticated }
  | { ok: false; code: 'unauthenticated' }
  | { ok: false; code: 'temporary_password_expired' | 'password_change_required'; auth: Authenticated };

/**
 * The one session gate, for the API and the portal alike: a live session, then the required
 * password change (a one-time password that has expired ends everything but signing out).
 * Each entry point only turns the outcome into its own answer (JSON, or a redirect).
 */
export async function admitSession(deps: FlowDeps, token: string | undefined, rules: GateRules): Promise<GateOutcome> {
  const auth = token ? await authenticateSession(deps, token) : undefined;
  if (!auth) return { ok: false, code: 'unauthenticated' };
  if (auth.agent.passwordChangeRequired) {
    if (isTemporaryPasswordExpired(auth.agent, deps.clock.now()) && !rules.allowedWhenTemporaryPasswordExpired) return { ok: false, code: 'temporary_password_expired', auth };
    if (!rules.allowedDuringPasswordChange) return { ok: false, code: 'password_change_required', auth };
  }
  return { ok: true, auth };
}
