import type { RequestContext } from '../domain/models.js';
import { findAccountById } from '../store/accounts.repo.js';
import { findAgentById } from '../store/agents.repo.js';
import { findResetTokenByHash } from '../store/reset-tokens.repo.js';
import { hashToken, isWellFormedToken } from '../security/tokens.js';
import { sendInvitation } from './agents.js';
import { audit } from './consequences.js';
import type { FlowDeps } from './deps.js';

/** The invitation row a (dead) link names, whatever became of it; undefined for any other link or none. */
async function invitationOf(deps: Pick<FlowDeps, 'db'>, rawToken: string) {
  if (!isWellFormedToken(rawToken)) return undefined;
  const token = await findResetTokenByHash(deps.db, hashToken(rawToken));
  return token?.purpose === 'invitation' ? token : undefined;
}

/** Is this link an invitation (live or dead)? The dead-link page words itself for one. */
export async function isInvitationLink(deps: Pick<FlowDeps, 'db'>, rawToken: string): Promise<boolean> {
  return (await invitationOf(deps, rawToken)) !== undefined;
}

/**
 * "Send me a new invitation" from a dead invitation link (Zendesk's "this link has expired, we
 * sent you a new one"): a new 7-day invitation goes to the address the dead one was sent to,
 * when the agent is still invited (not deactivated, no password yet). Nothing is sent otherwise
 * (a live link still works; an accepted invitation has a password and Forgot password). The
 * link itself names the agent, so no address is typed and none can be probed; the caller
 * answers the same page either way and rate-limits it like Forgot password. Audited as
 * agent.invitation_sent without an actor.
 */
export async function renewInvitationFromDeadLink(deps: FlowDeps, rawToken: string, context: RequestContext): Promise<void> {
  const token = await invitationOf(deps, rawToken);
  if (!token) return;
  const now = deps.clock.now();
  const live = !token.usedAt && !token.revokedAt && token.expiresAt > now;
  if (live) return;
  const account = await findAccountById(deps.db, token.accountId);
  const agent = account && (await findAgentById(deps.db, account.id, token.agentId));
  if (!account || !agent || agent.status !== 'invited' || agent.passwordHash) return;
  await deps.db.transaction().execute(async (trx) => {
    const at = deps.clock.now();
    await sendInvitation(trx, deps, account, null, agent, at);
    await audit(trx, { accountId: account.id, type: 'agent.invitation_sent', actorAgentId: null, targetAgentId: agent.id, context, details: { via: 'dead_link' }, at });
  });
  deps.notifyMailQueued();
}

/** Whose "new invitation" quota a request uses: the invited agent's own (so the per-address limit of Forgot password applies). */
export async function invitationQuotaSubject(deps: Pick<FlowDeps, 'db'>, rawToken: string): Promise<string | null> {
  const token = await invitationOf(deps, rawToken);
  return token ? `invitation:${token.agentId}` : null;
}
