import { fail, type Failure, type Result } from '../domain/errors.js';
import { timeZoneFor } from '../domain/account-settings.js';
import type { Account, Agent, RequestContext } from '../domain/models.js';
import { findAccountById } from '../store/accounts.repo.js';
import { findAgentById } from '../store/agents.repo.js';
import { consumeResetToken, findResetTokenByHash, type ResetToken } from '../store/reset-tokens.repo.js';
import { hashToken, isWellFormedToken } from '../security/tokens.js';
import { applyPasswordChange, audit, queueMail } from './consequences.js';
import type { FlowDeps } from './deps.js';
import { checkNewPassword } from './password-rules.js';

export type DeadLinkReason = 'expired' | 'used' | 'revoked' | 'unknown';

type Usable = { token: ResetToken; agent: Agent; account: Account };

function dead(reason: DeadLinkReason): Failure<'reset_link_invalid'> {
  return fail('reset_link_invalid', [{ reason }]);
}

/** Why a link cannot be used, or the link with its agent. Expiry is exclusive: dead at expiresAt. */
async function findUsableLink(deps: FlowDeps, rawToken: string): Promise<Result<Usable, 'reset_link_invalid'>> {
  if (!isWellFormedToken(rawToken)) return dead('unknown');
  const token = await findResetTokenByHash(deps.db, hashToken(rawToken));
  if (!token) return dead('unknown');
  if (token.usedAt) return dead('used');
  if (token.revokedAt) return dead('revoked');
  if (token.expiresAt <= deps.clock.now()) return dead('expired');
  const account = await findAccountById(deps.db, token.accountId);
  const agent = account && (await findAgentById(deps.db, account.id, token.agentId));
  // A deactivated agent's links are dead, whatever their date.
  if (!account || !agent || agent.status === 'deactivated') return dead('revoked');
  return { ok: true, token, agent, account };
}

/** Tells the reset page whether the link is usable and for whom. */
export async function inspectResetLink(deps: FlowDeps, rawToken: string): Promise<Result<{ email: string; name: string; expiresAt: Date; purpose: ResetToken['purpose']; timeZone: string }, 'reset_link_invalid'>> {
  const found = await findUsableLink(deps, rawToken);
  if (!found.ok) return found;
  // the page shows the link's end in the zone its agent reads times in
  const timeZone = timeZoneFor(found.account.settings, found.agent);
  return { ok: true, email: found.agent.email, name: found.agent.name, expiresAt: found.token.expiresAt, purpose: found.token.purpose, timeZone };
}

/**
 * Sets a new password from a link. The policy is checked first (a rejected password leaves
 * the link usable); the link is then consumed in one atomic statement inside the transaction
 * that changes the password, so of concurrent redemptions exactly one wins.
 */
export async function redeemResetLink(deps: FlowDeps, input: { token: string; newPassword: string; context: RequestContext }): Promise<Result<object, 'reset_link_invalid' | 'password_rejected'>> {
  const found = await findUsableLink(deps, input.token);
  if (!found.ok) return found;
  const { agent, account, token } = found;
  const violations = await checkNewPassword(deps, account, agent, input.newPassword);
  if (violations.length > 0) {
    // A concurrent redemption of this link may have committed meanwhile, with this very password
    // (our history check then says "reused"): the link is dead, so say that, not 422.
    const again = await findUsableLink(deps, input.token);
    return again.ok ? fail('password_rejected', violations) : again;
  }
  // Hash before the transaction: argon2 takes tens of milliseconds and would hold the write lock.
  const passwordHash = await deps.hasher.hash(input.newPassword);

  const outcome = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    const consumed = await consumeResetToken(trx, hashToken(input.token), now);
    if (!consumed) return 'lost_race' as const;
    await applyPasswordChange(trx, { agent, passwordHash, now, temporaryUntil: null, endReason: 'password_reset' });
    await audit(trx, { accountId: account.id, type: 'password.reset_completed', actorAgentId: agent.id, targetAgentId: agent.id, context: input.context, details: { purpose: token.purpose, linkCreatedBy: token.createdByAgentId }, at: now });
    await queueMail(trx, account.id, agent.email, 'password_changed', {
      agentName: agent.name,
      accountName: account.name,
      changedAt: now.toISOString(),
      how: token.purpose === 'invitation' ? 'invitation' : 'reset_link',
      ip: input.context.ip,
      userAgent: input.context.userAgent,
    }, now);
    return 'done' as const;
  });
  if (outcome === 'lost_race') {
    // Someone redeemed, revoked or outlived it between our check and our write: say which.
    const again = await findUsableLink(deps, input.token);
    return again.ok ? dead('used') : again;
  }
  deps.notifyMailQueued();
  return { ok: true };
}
