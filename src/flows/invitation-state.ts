import type { Agent } from '../domain/models.js';
import { latestInvitations } from '../store/invitations.repo.js';
import type { FlowDeps } from './deps.js';

/** Where an invited agent's way in stands: a live link, or one that has expired (or died) unused. */
export type InvitationState = { pending: true; sentAt: Date; expiresAt: Date } | { pending: false; sentAt: Date | null; expiredAt: Date | null };

/**
 * The invitation state of each invited agent in the list (agents with a password have none).
 * For Manage › Agents: "invitation pending" until the link's expiry, "invitation expired" after.
 */
export async function invitationStates(deps: Pick<FlowDeps, 'db' | 'clock'>, agents: Pick<Agent, 'id' | 'accountId' | 'status' | 'passwordHash'>[]): Promise<Map<string, InvitationState>> {
  const invited = agents.filter((a) => a.status === 'invited' && !a.passwordHash);
  const states = new Map<string, InvitationState>();
  if (invited.length === 0) return states;
  const links = await latestInvitations(deps.db, invited[0].accountId, invited.map((a) => a.id));
  const now = deps.clock.now();
  for (const agent of invited) {
    const link = links.get(agent.id);
    const live = link && !link.usedAt && !link.revokedAt && link.expiresAt > now;
    states.set(agent.id, live ? { pending: true, sentAt: link.sentAt, expiresAt: link.expiresAt } : { pending: false, sentAt: link?.sentAt ?? null, expiredAt: link ? (link.revokedAt ?? link.expiresAt) : null });
  }
  return states;
}
