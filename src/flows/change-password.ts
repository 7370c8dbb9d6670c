import { fail, type Result } from '../domain/errors.js';
import type { RequestContext } from '../domain/models.js';
import { applyPasswordChange, audit, queueMail } from './consequences.js';
import type { FlowDeps } from './deps.js';
import { checkNewPassword } from './password-rules.js';
import type { Authenticated } from './sessions.js';
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
    await applyPasswordChange(trx, { agent, passwordHash, now, temporaryUntil: null, keepSessionId: session.id });
    await audit(trx, { accountId: account.id, type: 'password.changed', actorAgentId: agent.id, targetAgentId: agent.id, context: input.context, details: { requiredChange: wasRequired }, at: now });
    await queueMail(trx, account.id, agent.email, 'password_changed', {
      agentName: agent.name,
      accountName: account.name,
      changedAt: now.toISOString(),
      how: 'self_change',
      ip: input.context.ip,
      userAgent: input.context.userAgent,
    }, now);
  });
  deps.notifyMailQueued();
  return { ok: true };
}
