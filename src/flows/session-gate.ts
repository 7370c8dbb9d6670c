import { twoFactorRequiredFor } from '../domain/account-settings.js';
import type { Account, Agent } from '../domain/models.js';
import type { FlowDeps } from './deps.js';
import { authenticateSession, isTemporaryPasswordExpired, type Authenticated } from './sessions.js';

/** What a route lets through while the agent must replace a one-time (or expired) password, or set up a second factor. */
export interface GateRules {
  /** the few things a required password change allows: read one's profile, set the new password, sign out */
  allowedDuringPasswordChange?: boolean;
  /** signing out always works, even once a one-time password has expired */
  allowedWhenTemporaryPasswordExpired?: boolean;
  /** what an agent who must set up a second factor may do first: read their profile and factors, add one, prove their password again, sign out */
  allowedDuringTwoFactorEnrollment?: boolean;
}

export type GateOutcome =
  | { ok: true; auth: Authenticated }
  | { ok: false; code: 'unauthenticated' }
  | { ok: false; code: 'temporary_password_expired' | 'password_change_required' | 'two_factor_enrollment_required'; auth: Authenticated };

/** The account requires a second factor of this agent, and they have none yet: they are in an enrolment session. */
export function mustEnrollTwoFactor(account: Account, agent: Agent): boolean {
  return !agent.twoFactorEnabled && twoFactorRequiredFor(account.settings, agent);
}

/**
 * The one session gate, for the API, the portal and the provider alike, in the order of DESIGN.md
 * "One gate": a live session (the credentials, the lockout and the second factor of an agent who
 * has one were proved before it existed: flows/login.ts), then the required password change (a
 * one-time password that has expired ends everything but signing out), then the enrolment of a
 * second factor the account requires. Each entry point only turns the outcome into its own answer
 * (JSON, or a redirect).
 */
export async function admitSession(deps: FlowDeps, token: string | undefined, rules: GateRules): Promise<GateOutcome> {
  const auth = token ? await authenticateSession(deps, token) : undefined;
  if (!auth) return { ok: false, code: 'unauthenticated' };
  if (auth.agent.passwordChangeRequired) {
    if (isTemporaryPasswordExpired(auth.agent, deps.clock.now()) && !rules.allowedWhenTemporaryPasswordExpired) return { ok: false, code: 'temporary_password_expired', auth };
    if (!rules.allowedDuringPasswordChange) return { ok: false, code: 'password_change_required', auth };
    // the required change comes first: the enrolment waits for it
    return { ok: true, auth };
  }
  if (mustEnrollTwoFactor(auth.account, auth.agent) && !rules.allowedDuringTwoFactorEnrollment) return { ok: false, code: 'two_factor_enrollment_required', auth };
  return { ok: true, auth };
}
