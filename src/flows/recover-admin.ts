import { fail, type Result } from '../domain/errors.js';
import type { RequestContext } from '../domain/models.js';
import { findAccountBySlug, findOnlyAccount } from '../store/accounts.repo.js';
import { findAccountAdministrator } from '../store/agents.repo.js';
import { audit, issueResetLink } from './consequences.js';
import { notify, removeAllFactors } from './two-factor.js';
import { lockAgentForChange } from '../store/agents.repo.js';
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

/**
 * `deskpass recover-admin --reset-two-factor`: the operator's last resort when the Account
 * Administrator has lost their authenticator, their passkeys and their recovery codes. Their
 * factors go, their sessions end, they are emailed, and it is audited (actor: none, method: cli).
 */
export async function resetAdminTwoFactor(deps: FlowDeps, input: { accountSlug?: string; context: RequestContext }): Promise<Result<{ email: string; hadFactor: boolean }, 'not_found'>> {
  const account = input.accountSlug ? await findAccountBySlug(deps.db, input.accountSlug) : await findOnlyAccount(deps.db);
  if (!account) return fail('not_found');
  const admin = await findAccountAdministrator(deps.db, account.id);
  if (!admin) return fail('not_found');
  const hadFactor = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    await lockAgentForChange(trx, account.id, admin.id);
    const had = await removeAllFactors(trx, admin.id, now);
    await audit(trx, { accountId: account.id, type: 'two_factor.reset_by_admin', actorAgentId: null, targetAgentId: admin.id, context: input.context, details: { by: 'operator', hadFactor: had }, at: now });
    if (had) await notify(trx, account, admin, { change: 'reset_by_operator' }, input.context, now);
    return had;
  });
  return { ok: true, email: admin.email, hadFactor };
}
