import { fail, type Result } from '../domain/errors.js';
import type { RequestContext } from '../domain/models.js';
import { applyPasswordChange, audit, queueMail } from './consequences.js';
import type { FlowDeps } from './deps.js';
import { checkNewPassword } from './password-rules.js';
import { isFresh, type Authenticated } from './sessions.js';
import { REAUTHENTICATION_WINDOW_MS } from '../domain/account-settings.js';
import { lockAgentForChange } from '../store/agents.repo.js';
import { lockLiveSession } from '../store/sessions.repo.js';
import { proveIdentity, type IdentityFailure } from './login.js';

/**
 * My Settings › Change password, and the required change after a one-time password:
 * the current password proves it is the agent; the other sessions and every link end.
 */
export async function changeOwnPassword(
  deps: FlowDeps,
  auth: Authenticated,
  input: { currentPassword: string; newPassword: string; code?: string; context: RequestContext },
): Promise<Result<object, IdentityFailure['code'] | 'password_rejected'>> {
  const { agent, account, session } = auth;
  // The factor too, for an agent who has one, unless they proved it in the last 10 minutes.
  const proof = await proveIdentity(deps, auth, { password: input.currentPassword, code: input.code }, input.context, 'password.change_failed', 'unless_fresh');
  if (!proof.ok) return proof;
  const violations = await checkNewPassword(deps, account, agent, input.newPassword, input.currentPassword);
  if (violations.length > 0) return fail('password_rejected', violations);
  const passwordHash = await deps.hasher.hash(input.newPassword);
  const wasRequired = agent.passwordChangeRequired;

  await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    await applyPasswordChange(trx, { agent, passwordHash, now, temporaryUntil: null, keepSessionId: session.id, endReason: 'password_changed' });
    await audit(trx, { accountId: account.id, type: 'password.changed', actorAgentId: agent.id, targetAgentId: agent.id, context: input.context, details: { requiredChange: wasRequired }, at: now });
    await queueMail(trx, account.id, agent.email, 'password_changed', {
      agentName: agent.name,
      accountName: account.name,
      changedAt: now.toISOString(),
      // the required change after a one-time (or expired) password is not a change "from My Settings"
      how: wasRequired ? 'required_change' : 'self_change',
      reason: wasRequired ? (agent.temporaryPasswordExpiresAt !== null ? 'one_time_password' : 'required_by_policy') : null,
      ip: input.context.ip,
      userAgent: input.context.userAgent,
    }, now);
  });
  deps.notifyMailQueued();
  return { ok: true };
}

/** How long after a sign-in with a one-time password its session may replace it without typing it again. */
export const REQUIRED_CHANGE_SHORTCUT_MS = REAUTHENTICATION_WINDOW_MS;

/**
 * May this session replace the one-time password without typing it again? Only when the sign-in
 * that started it proved that very password: the agent must replace a one-time password (an
 * expired or non-compliant password of their own is asked again, as before), the session was
 * started with a password (not a passkey alone) after the one-time password was set (an older
 * session never proved it), and it is fresh (10 minutes, like any proof of identity).
 */
export function provedPasswordToReplace(auth: Authenticated, now: Date): boolean {
  const { agent, session } = auth;
  if (!agent.passwordChangeRequired || agent.temporaryPasswordExpiresAt === null || agent.passwordHash === null || agent.passwordChangedAt === null) return false;
  if (!session.amr.includes('pwd')) return false;
  if (session.createdAt < agent.passwordChangedAt) return false;
  const ageMs = now.getTime() - session.createdAt.getTime();
  return ageMs >= 0 && ageMs <= REQUIRED_CHANGE_SHORTCUT_MS && isFresh(session, now);
}

/**
 * The required change, from the portal's page right after signing in with a one-time
 * password: that sign-in proved the password, so only the new one is asked. Refused
 * (`reauthentication_required`, nothing changed) unless provedPasswordToReplace holds, checked
 * again on the agent's row inside the transaction (a change or a new one-time password committed
 * meanwhile wins). The API's POST /me/password keeps asking for the current password.
 */
export async function completeRequiredChange(
  deps: FlowDeps,
  auth: Authenticated,
  input: { newPassword: string; context: RequestContext },
): Promise<Result<object, 'reauthentication_required' | 'password_rejected'>> {
  const { agent, account, session } = auth;
  if (!provedPasswordToReplace(auth, deps.clock.now())) return fail('reauthentication_required');
  // the password the sign-in proved is the one the new one must differ from (and from the history)
  const violations = await checkNewPassword(deps, account, agent, input.newPassword);
  if (violations.length > 0) return fail('password_rejected', violations);
  const passwordHash = await deps.hasher.hash(input.newPassword);

  const done = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    const current = await lockAgentForChange(trx, account.id, agent.id);
    if (!current || current.passwordHash !== agent.passwordHash || !current.passwordChangeRequired || current.temporaryPasswordExpiresAt === null || current.status === 'deactivated') return false;
    if (!(await lockLiveSession(trx, session.id, now))) return false;
    await applyPasswordChange(trx, { agent, passwordHash, now, temporaryUntil: null, keepSessionId: session.id, endReason: 'password_changed' });
    await audit(trx, { accountId: account.id, type: 'password.changed', actorAgentId: agent.id, targetAgentId: agent.id, context: input.context, details: { requiredChange: true, proof: 'sign_in' }, at: now });
    await queueMail(trx, account.id, agent.email, 'password_changed', {
      agentName: agent.name,
      accountName: account.name,
      changedAt: now.toISOString(),
      how: 'required_change',
      reason: 'one_time_password',
      ip: input.context.ip,
      userAgent: input.context.userAgent,
    }, now);
    return true;
  });
  if (!done) return fail('reauthentication_required');
  deps.notifyMailQueued();
  return { ok: true };
}
