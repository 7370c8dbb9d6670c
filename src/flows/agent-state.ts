import type { Account, Agent, Session } from '../domain/models.js';
import { normalizeEmail } from '../domain/models.js';
import { latestEventAbout, latestResetLink, type LatestResetLink } from '../store/agent-state.repo.js';
import { findLoginAttempts, UNKNOWN_DEVICES } from '../store/login-attempts.repo.js';
import type { FlowDeps } from './deps.js';
import { listSessionsOfAgent } from './sessions.js';

/** Why the address is locked: wrong passwords, or wrong second-factor proofs after the right password. */
export type LockCause = 'password' | 'second_factor';

/** Where an agent's sign-in stands, for the supervisor on their page (Keycloak's admin view of a user). */
export interface AgentState {
  /** the lock of the address for unknown devices (what "Locked" means in Manage › Agents) */
  lock: { until: Date; failures: number; cause: LockCause } | null;
  /** a one-time password set by an administrator: still usable until `until`, or expired at it */
  oneTimePassword: { expired: boolean; until: Date } | null;
  /** the newest reset link that is not an invitation, and what became of it */
  resetLink: (LatestResetLink & { state: 'pending' | 'used' | 'expired' | 'revoked' }) | null;
  /** the newest successful sign-in, from the audit log (sessions end; the log keeps it) */
  lastSignIn: { at: Date; ip: string | null; userAgent: string | null } | null;
  sessions: (Session & { apps: { id: string; name: string }[] })[];
}

const FAILURE_TYPES = ['login.failed', 'login.two_factor_failed'] as const;

/**
 * The state panel of an agent's page, in a handful of indexed lookups (no scan of the log):
 * the lock row, the newest non-invitation link (with its issuer), the newest sign-in and the
 * newest failure in the audit log (by the target index), and the live sessions.
 * The caller has already checked that the actor may see this agent (getAgent).
 */
export async function describeAgentState(deps: FlowDeps, account: Account, agent: Agent): Promise<AgentState> {
  const now = deps.clock.now();
  const attempts = await findLoginAttempts(deps.db, account.id, normalizeEmail(agent.email), UNKNOWN_DEVICES);
  let lock: AgentState['lock'] = null;
  if (attempts.lockedUntil && attempts.lockedUntil > now) {
    const lastFailure = await latestEventAbout(deps.db, account.id, agent.id, FAILURE_TYPES);
    lock = { until: attempts.lockedUntil, failures: attempts.failedCount, cause: lastFailure?.type === 'login.two_factor_failed' ? 'second_factor' : 'password' };
  }
  const oneTimePassword = agent.passwordChangeRequired && agent.temporaryPasswordExpiresAt ? { expired: agent.temporaryPasswordExpiresAt <= now, until: agent.temporaryPasswordExpiresAt } : null;
  const link = await latestResetLink(deps.db, account.id, agent.id);
  const resetLink = link ? { ...link, state: link.usedAt ? ('used' as const) : link.revokedAt ? ('revoked' as const) : link.expiresAt <= now ? ('expired' as const) : ('pending' as const) } : null;
  const signIn = await latestEventAbout(deps.db, account.id, agent.id, ['login.succeeded']);
  const lastSignIn = signIn ? { at: signIn.createdAt, ip: signIn.ip, userAgent: signIn.userAgent } : null;
  const sessions = await listSessionsOfAgent(deps, account, agent.id);
  return { lock, oneTimePassword, resetLink, lastSignIn, sessions };
}
