import { fail, type Result } from '../domain/errors.js';
import type { RequestContext } from '../domain/models.js';
import { findAccountBySlug, findOnlyAccount } from '../store/accounts.repo.js';
import { findAccountAdministrator } from '../store/agents.repo.js';
import { audit, issueResetLink } from './consequences.js';
import type { FlowDeps } from './deps.js';

/**
 * For the operator who holds the server when the Account Administrator has lost both password
 * and mailbox: a one-time reset link, printed (not emailed), valid for the account's link lifetime.
 */
export async function issueAdminRecoveryLink(deps: FlowDeps, input: { accountSlug?: string; context: RequestContext }): Promise<Result<{ link: string; expiresAt: Date; email: string }, 'not_found'>> {
  const account = input.accountSlug ? await findAccountBySlug(deps.db, input.accountSlug) : await findOnlyAccount(deps.db);
  if (!account) return fail('not_found');
  const admin = await findAccountAdministrator(deps.db, account.id);
  if (!admin) return fail('not_found');
  const issued = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    const link = await issueResetLink(trx, { agent: admin, purpose: 'operator_recovery', createdByAgentId: null, lifetimeHours: account.settings.resetLinkLifetimeHours, now, secretKey: deps.secretKey });
    await audit(trx, { accountId: account.id, type: 'password.recovery_link_issued', actorAgentId: null, targetAgentId: admin.id, context: input.context, details: { expiresAt: link.expiresAt.toISOString() }, at: now });
    return link;
  });
  return { ok: true, link: `${deps.publicUrl}/reset-password/${issued.token}`, expiresAt: issued.expiresAt, email: admin.email };
}
