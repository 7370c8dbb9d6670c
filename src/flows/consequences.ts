import type { Account, Agent, RequestContext } from '../domain/models.js';
import type { Permission } from '../domain/permissions.js';
import { addMs, MS_PER_HOUR } from '../domain/clock.js';
import type { ResetTokenPurpose } from '../store/schema.js';
import type { Executor } from '../store/db.js';
import { activateIfInvited, passwordFields, updateAgent } from '../store/agents.repo.js';
import { addPasswordHistory } from '../store/password-history.repo.js';
import { insertResetToken, revokeAgentResetTokens } from '../store/reset-tokens.repo.js';
import { deleteAgentSessions, type SessionEndReason } from '../store/sessions.repo.js';
import { clearLoginAttempts } from '../store/login-attempts.repo.js';
import { insertAuditEvent, type NewAuditEvent } from '../store/audit.repo.js';
import { enqueueMail } from '../store/outbox.repo.js';
import { deriveLinkToken, hashToken, newId } from '../security/tokens.js';
import { normalizeEmail } from '../domain/models.js';

/**
 * The stored consequences of any password change, in the caller's transaction: the new hash,
 * history, every outstanding link revoked, every session ended (but `keepSessionId`), the
 * address unlocked. Callers add their audit event and email in the same transaction.
 */
export async function applyPasswordChange(
  trx: Executor,
  args: { agent: Agent; passwordHash: string; now: Date; temporaryUntil: Date | null; keepSessionId?: string; setByAgentId?: string | null; endReason: SessionEndReason },
): Promise<void> {
  const { agent, passwordHash, now } = args;
  await updateAgent(
    trx,
    agent.accountId,
    agent.id,
    // who knows this password besides the agent: an administrator who set it (null: only the agent)
    passwordFields(passwordHash, now, args.temporaryUntil, args.setByAgentId ?? null),
    now,
  );
  // From the row's status at write time, not the caller's snapshot: a deactivation that
  // committed meanwhile stays a deactivation.
  await activateIfInvited(trx, agent.accountId, agent.id);
  await addPasswordHistory(trx, agent.accountId, agent.id, passwordHash, now);
  await revokeAgentResetTokens(trx, agent.id, now);
  await deleteAgentSessions(trx, agent.id, args.endReason, now, args.keepSessionId);
  await clearLoginAttempts(trx, agent.accountId, normalizeEmail(agent.email));
}

/** Issues a link for /reset-password/{token}, revoking the agent's older links. Returns the raw token for the CLI only. */
export async function issueResetLink(
  trx: Executor,
  args: { agent: Agent; purpose: ResetTokenPurpose; createdByAgentId: string | null; lifetimeHours: number; now: Date; secretKey: Buffer },
): Promise<{ tokenId: string; token: string; expiresAt: Date }> {
  const { agent, now } = args;
  await revokeAgentResetTokens(trx, agent.id, now);
  const tokenId = newId();
  const token = deriveLinkToken(args.secretKey, tokenId);
  const expiresAt = addMs(now, args.lifetimeHours * MS_PER_HOUR);
  await insertResetToken(
    trx,
    { id: tokenId, accountId: agent.accountId, agentId: agent.id, purpose: args.purpose, createdByAgentId: args.createdByAgentId, createdAt: now, expiresAt, usedAt: null, revokedAt: null },
    hashToken(token),
  );
  return { tokenId, token, expiresAt };
}

/** Sees each audit event as it is written (for /metrics); returns "stop". */
export type AuditObserver = (event: NewAuditEvent) => void;
const auditObservers = new Set<AuditObserver>();

export function observeAuditEvents(observer: AuditObserver): () => void {
  auditObservers.add(observer);
  return () => auditObservers.delete(observer);
}

/**
 * Writes an audit event in the caller's transaction. Observers hear of it once written, which
 * is before that transaction commits: a change that then rolls back is still counted (metrics
 * only; the audit log itself holds only what committed).
 */
export async function audit(trx: Executor, event: NewAuditEvent): Promise<void> {
  await insertAuditEvent(trx, event);
  tellAuditObservers(event);
}

/** For an event written by a statement of several writes (a sign-in's admission), once it is. */
export function tellAuditObservers(event: NewAuditEvent): void {
  for (const observer of auditObservers) observer(event);
}

export function queueMail(trx: Executor, accountId: string, recipient: string, template: string, payload: Record<string, unknown>, now: Date): Promise<void> {
  return enqueueMail(trx, { accountId, recipient, template, payload }, now);
}


/**
 * When an agent's permissions grow, a password somebody else chose (an administrator's set or
 * one-time password) stops working: whoever knows it would otherwise hold the stronger account.
 * In the caller's transaction: the password is cleared, every session and link of the agent
 * ends, and they are emailed a link to choose their own (from the actor who changed the role).
 * Returns whether it did anything (the caller wakes the mail worker).
 */
export async function retireOthersPasswordOnGrowth(
  trx: Executor,
  args: { account: Account; agent: Agent; actor: Agent; before: readonly Permission[]; after: readonly Permission[]; now: Date; secretKey: Buffer; context: RequestContext },
): Promise<boolean> {
  const { account, agent, actor, now } = args;
  const grows = args.after.some((p) => !args.before.includes(p));
  if (!grows || agent.passwordSetByAgentId === null || agent.passwordHash === null) return false;
  await updateAgent(trx, account.id, agent.id, { password_hash: null, password_change_required: 0, temporary_password_expires_at: null, password_set_by_agent_id: null }, now);
  await deleteAgentSessions(trx, agent.id, 'password_retired', now);
  const lifetimeHours = account.settings.resetLinkLifetimeHours;
  const link = await issueResetLink(trx, { agent, purpose: 'admin', createdByAgentId: actor.id, lifetimeHours, now, secretKey: args.secretKey });
  await queueMail(trx, account.id, agent.email, 'reset_link', {
    agentName: agent.name,
    accountName: account.name,
    purpose: 'permissions_grew',
    sentByName: actor.name,
    sentByRole: actor.role.name,
    tokenId: link.tokenId,
    expiresAt: link.expiresAt.toISOString(),
    lifetimeHours,
  }, now);
  await audit(trx, { accountId: account.id, type: 'password.retired_on_permission_growth', actorAgentId: actor.id, targetAgentId: agent.id, context: args.context, details: { passwordSetBy: agent.passwordSetByAgentId }, at: now });
  return true;
}
