import { auditableEmail } from './login.js';
import { normalizeEmail, type Account, type RequestContext } from '../domain/models.js';
import { findAccountById } from '../store/accounts.repo.js';
import { findAgentByEmail } from '../store/agents.repo.js';
import { enqueueMail, updateMailPayload, type OutboxMessage } from '../store/outbox.repo.js';
import type { MailPreparer } from '../mail/outbox-worker.js';
import { audit, issueResetLink } from './consequences.js';
import type { FlowDeps } from './deps.js';
import { trustedDeviceId } from '../security/device-tokens.js';

export const RESET_REQUEST = 'reset_link_request';

/**
 * "Forgot password". The request only queues "email this address a reset link if it is an
 * active agent's" — one insert, whatever the address — and answers. The outbox worker resolves
 * it (resetRequestPreparer), so neither the answer, its time nor the queries made while
 * answering tell a known address from an unknown or deactivated one.
 */
export async function requestPasswordReset(deps: FlowDeps, account: Account, input: { email: string; context: RequestContext }): Promise<void> {
  const email = normalizeEmail(input.email).slice(0, 320);
  await enqueueMail(deps.db, { accountId: account.id, recipient: email, template: RESET_REQUEST, payload: { email, ip: input.context.ip, userAgent: input.context.userAgent, method: input.context.method } }, deps.clock.now());
  // The worker is not woken: it takes the request at its next regular round (every 500 ms, on
  // its own timer), so the work a real address causes is not tied to this request's moment and
  // requests sent right after it cannot tell a real address from an unknown one.
}

/**
 * Whose reset quota a request uses: the address's, shared by every stranger, or, from a device
 * that signed in to this address before (a valid device token), that device's own. So strangers
 * can use up the first and the agent's own browser still gets its email.
 */
export async function resetQuotaSubject(deps: Pick<FlowDeps, 'db' | 'secretKey' | 'clock'>, account: Account, email: string, deviceTokens: readonly string[]): Promise<string> {
  const normalized = normalizeEmail(email);
  // Only with a device token to check: a request without one does no lookup (the same work for every address).
  const agent = deviceTokens.length > 0 ? await findAgentByEmail(deps.db, account.id, normalized) : undefined;
  const binding = { accountId: account.id, emailNormalized: normalized, passwordHash: agent?.passwordHash ?? null };
  const deviceId = trustedDeviceId(deps.secretKey, binding, deviceTokens, deps.clock.now());
  return deviceId ? `${normalized}#device:${deviceId}` : normalized;
}

/**
 * Turns a queued reset request into the reset-link email, at send time: a known, active agent
 * gets a new link (older ones die); anyone else gets nothing. Both outcomes are audited as
 * password.reset_requested. Idempotent: the issued link is recorded on the outbox row, so a
 * retried send carries the same link.
 */
export function resetRequestPreparer(deps: FlowDeps): MailPreparer {
  return async (message: OutboxMessage) => {
    const payload = message.payload as { email: string; ip: string | null; userAgent: string | null; method?: RequestContext['method']; tokenId?: string; expiresAt?: string; agentId?: string };
    const context: RequestContext = { method: payload.method ?? 'api', ip: payload.ip, userAgent: payload.userAgent };
    const account = await findAccountById(deps.db, message.accountId);
    if (!account) return { send: false };
    const agent = await findAgentByEmail(deps.db, account.id, payload.email);
    const lifetimeHours = account.settings.resetLinkLifetimeHours;
    const resetLink = (tokenId: string, expiresAt: string) => ({
      send: true as const,
      recipient: agent!.email,
      template: 'reset_link',
      payload: { agentName: agent!.name, accountName: account.name, purpose: 'self_service', sentByName: null, tokenId, expiresAt, lifetimeHours },
    });
    if (payload.tokenId && payload.expiresAt && agent && agent.id === payload.agentId) return resetLink(payload.tokenId, payload.expiresAt);

    const now = deps.clock.now();
    if (!agent || agent.status !== 'active') {
      // API.md: only a known, active agent gets the email. An invited agent's way in is their invitation.
      await audit(deps.db, {
        accountId: account.id,
        type: 'password.reset_requested',
        actorAgentId: null,
        targetAgentId: agent?.id ?? null,
        targetEmail: agent ? null : auditableEmail(payload.email),
        context,
        details: { sent: false, reason: agent ? agent.status : 'unknown_email' },
        at: now,
      });
      return { send: false };
    }
    const link = await deps.db.transaction().execute(async (trx) => {
      const issued = await issueResetLink(trx, { agent, purpose: 'self_service', createdByAgentId: null, lifetimeHours, now, secretKey: deps.secretKey });
      await updateMailPayload(trx, message.id, { ...payload, tokenId: issued.tokenId, expiresAt: issued.expiresAt.toISOString(), agentId: agent.id });
      await audit(trx, { accountId: account.id, type: 'password.reset_requested', actorAgentId: null, targetAgentId: agent.id, context, details: { sent: true }, at: now });
      return issued;
    });
    return resetLink(link.tokenId, link.expiresAt.toISOString());
  };
}
