import { normalizeEmail, type Account, type RequestContext } from '../domain/models.js';
import { findAgentByEmail } from '../store/agents.repo.js';
import { audit, issueResetLink, queueMail } from './consequences.js';
import type { FlowDeps } from './deps.js';

/**
 * "Forgot password": a known, active agent is emailed a link; everyone gets
 * the same answer. The email goes through the outbox, so answering never waits on SMTP,
 * and the request does the same work (one transaction) whether or not the address is known.
 */
export async function requestPasswordReset(deps: FlowDeps, account: Account, input: { email: string; context: RequestContext }): Promise<void> {
  const { db, clock } = deps;
  const now = clock.now();
  const agent = await findAgentByEmail(db, account.id, input.email);
  // API.md: a known, *active* agent. An invited agent's way in is their invitation (an admin resends it).
  const eligible = agent !== undefined && agent.status === 'active';
  await db.transaction().execute(async (trx) => {
    if (!eligible) {
      await audit(trx, {
        accountId: account.id,
        type: 'password.reset_requested',
        actorAgentId: null,
        targetAgentId: agent?.id ?? null,
        targetEmail: agent ? null : normalizeEmail(input.email).slice(0, 320),
        context: input.context,
        details: { sent: false, reason: agent ? agent.status : 'unknown_email' },
        at: now,
      });
      return;
    }
    const lifetimeHours = account.settings.resetLinkLifetimeHours;
    const link = await issueResetLink(trx, { agent, purpose: 'self_service', createdByAgentId: null, lifetimeHours, now, secretKey: deps.secretKey });
    await queueMail(trx, account.id, agent.email, 'reset_link', {
      agentName: agent.name,
      accountName: account.name,
      purpose: 'self_service',
      sentByName: null,
      tokenId: link.tokenId,
      expiresAt: link.expiresAt.toISOString(),
      lifetimeHours,
    }, now);
    await audit(trx, { accountId: account.id, type: 'password.reset_requested', actorAgentId: null, targetAgentId: agent.id, context: input.context, details: { sent: true }, at: now });
  });
  if (eligible) deps.notifyMailQueued();
}
