import { addMs, MS_PER_HOUR } from '../domain/clock.js';
import { fail, forbidden, type Failure, type Result } from '../domain/errors.js';
import type { Account, Agent, RequestContext } from '../domain/models.js';
import { PASSWORD_ADMIN_PERMISSIONS } from '../domain/permissions.js';
import { planHasFeature } from '../domain/plans.js';
import { findAccountAdministrator, findAgentById, lockAgentForChange } from '../store/agents.repo.js';
import { applyPasswordChange, audit, issueResetLink, queueMail } from './consequences.js';
import type { FlowDeps } from './deps.js';
import { checkNewPassword } from './password-rules.js';
import { checkActOnAgent, checkPermissions, toPrincipalPermissions } from './principal.js';
import { isFresh, type Authenticated } from './sessions.js';
import type { Executor } from '../store/db.js';
import { notify, removeAllFactors } from './two-factor.js';

type AdminFailure = Failure<'forbidden' | 'not_found' | 'reauthentication_required' | 'agent_deactivated' | 'agent_invited'>;

/** The personal-information rule as the administrator reads it: the name is the target's, not theirs. */
const PERSONAL_INFO_OF_TARGET = 'Do not use their name, their email address or the help desk name in the password.';

/**
 * The checks every "reset another agent's password" option shares, in the contract's order:
 * both permissions and the plan (and, to set a password, the account allowing it), the
 * target exists in this account, the target is not the Account Administrator (unless it is
 * the actor) nor stronger than the actor, the actor proved their password in the last
 * 10 minutes, and the target is not deactivated. The password options also refuse an invited
 * agent (409 agent_invited): a reset link would kill their invitation and a password set for them
 * would skip it; the way in for them is a new invitation.
 */
async function authorizePasswordAdmin(
  deps: FlowDeps,
  auth: Authenticated,
  targetId: string,
  option: 'send_link' | 'set_password' | 'reset_two_factor',
): Promise<{ ok: true; target: Agent } | AdminFailure> {
  const actor = toPrincipalPermissions(auth.agent);
  const permitted = checkPermissions(actor, PASSWORD_ADMIN_PERMISSIONS);
  if (!permitted.allowed) return forbidden(permitted.reason);
  if (!planHasFeature(auth.account.plan, 'agent_password_management')) return forbidden('plan_feature_unavailable');
  // The account's "administrators may not set passwords directly, only send reset links":
  // a 403 like the permission checks, so it comes before 404 (contract order).
  if (option === 'set_password' && auth.account.settings.passwordPolicy.adminSetPasswordDisabled) return forbidden('admin_set_password_disabled');
  const target = await findAgentById(deps.db, auth.account.id, targetId);
  if (!target) return fail('not_found');
  // These routes act on ANOTHER agent's password. One's own password changes only with the
  // current one (POST /me/password), so a stolen fresh session cannot take the account over
  // (the portal refuses the same case with the same reason: password-admin-access.ts).
  if (target.id === auth.agent.id) return forbidden('own_account');
  const decision = checkActOnAgent(actor, toPrincipalPermissions(target));
  if (!decision.allowed) return forbidden(decision.reason);
  if (!isFresh(auth.session, deps.clock.now())) return fail('reauthentication_required');
  if (target.status === 'deactivated') return fail('agent_deactivated');
  if (option !== 'reset_two_factor' && isInvited(target)) return fail('agent_invited', [{ reason: 'invitation_not_accepted' }]);
  return { ok: true, target };
}

/** Has not accepted the invitation: no password of their own yet. */
function isInvited(agent: Pick<Agent, 'status'>): boolean {
  return agent.status === 'invited';
}

/** Option 1: email the agent a reset link valid for the account's link lifetime. */
export async function sendPasswordResetEmail(deps: FlowDeps, auth: Authenticated, targetId: string, context: RequestContext): Promise<Result<{ expiresAt: Date }>> {
  const authorized = await authorizePasswordAdmin(deps, auth, targetId, 'send_link');
  if (!authorized.ok) return authorized;
  const { target } = authorized;
  const { account, agent: actor } = auth;
  const lifetimeHours = account.settings.resetLinkLifetimeHours;
  const expiresAt = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    const link = await issueResetLink(trx, { agent: target, purpose: 'admin', createdByAgentId: actor.id, lifetimeHours, now, secretKey: deps.secretKey });
    await queueMail(trx, account.id, target.email, 'reset_link', {
      agentName: target.name,
      accountName: account.name,
      purpose: 'admin',
      sentByName: actor.name,
      sentByRole: actor.role.name,
      tokenId: link.tokenId,
      expiresAt: link.expiresAt.toISOString(),
      lifetimeHours,
    }, now);
    await audit(trx, { accountId: account.id, type: 'password.reset_link_sent', actorAgentId: actor.id, targetAgentId: target.id, context, details: { expiresAt: link.expiresAt.toISOString() }, at: now });
    return link.expiresAt;
  });
  deps.notifyMailQueued();
  return { ok: true, expiresAt };
}

/**
 * Options 2 and 3: set the agent's password; with `requireChangeAtNextLogin` it is a one-time
 * password the agent must replace right after signing in. The agent is emailed a notice that
 * never contains the password.
 */
export async function setAgentPasswordByAdmin(
  deps: FlowDeps,
  auth: Authenticated,
  input: { targetId: string; password: string; requireChangeAtNextLogin: boolean; context: RequestContext },
): Promise<Result<object>> {
  const authorized = await authorizePasswordAdmin(deps, auth, input.targetId, 'set_password');
  if (!authorized.ok) return authorized;
  const { target } = authorized;
  const { account, agent: actor, session } = auth;
  const violations = (await checkNewPassword(deps, account, target, input.password)).map((v) => (v.rule === 'contains_personal_info' ? { ...v, message: PERSONAL_INFO_OF_TARGET } : v));
  if (violations.length > 0) return fail('password_rejected', violations);
  const passwordHash = await deps.hasher.hash(input.password);
  const contact = await contactFor(deps, account, actor);

  const outcome = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    // Checked again on the rows as they are now: a role change of the target (or the actor) that
    // committed while we were hashing must not let a password the actor knows land on an account
    // the actor may no longer act on (issue 8 review: the promotion race).
    const checked = await recheckOnRows(trx, account.id, actor.id, target.id);
    if (!checked.ok) return checked;
    if (isInvited(checked.agent)) return fail('agent_invited', [{ reason: 'invitation_not_accepted' }]);
    const temporaryUntil = input.requireChangeAtNextLogin ? addMs(now, account.settings.temporaryPasswordLifetimeHours * MS_PER_HOUR) : null;
    await applyPasswordChange(trx, { agent: target, passwordHash, now, temporaryUntil, keepSessionId: target.id === actor.id ? session.id : undefined, setByAgentId: actor.id, endReason: 'password_set_by_admin' });
    const type = temporaryUntil ? 'password.temporary_set_by_admin' : 'password.set_by_admin';
    await audit(trx, { accountId: account.id, type, actorAgentId: actor.id, targetAgentId: target.id, context: input.context, details: temporaryUntil ? { expiresAt: temporaryUntil.toISOString() } : undefined, at: now });
    const common = {
      agentName: target.name,
      accountName: account.name,
      adminName: actor.name,
      adminRole: actor.role.name,
      adminEmail: actor.email,
      changedAt: now.toISOString(),
      contactName: contact.name,
      contactEmail: contact.email,
    };
    if (temporaryUntil) {
      await queueMail(trx, account.id, target.email, 'password_change_required', { ...common, expiresAt: temporaryUntil.toISOString(), loginUrl: `${deps.publicUrl}/login` }, now);
    } else {
      await queueMail(trx, account.id, target.email, 'password_set_by_admin', common, now);
    }
    return null;
  });
  if (outcome) return outcome;
  deps.notifyMailQueued();
  return { ok: true };
}

/**
 * "Reset two-factor": the agent's authenticator, passkeys and recovery codes are removed, their
 * sessions (and their apps' sessions) end, and they are emailed; under exactly the rules of the
 * password options (both permissions, the plan, not oneself, not the Account Administrator, not a
 * stronger agent, a fresh session, not deactivated), checked again on the rows inside the
 * transaction. An agent without a factor: 409 two_factor_not_enabled, nothing changes.
 */
export async function resetTwoFactorByAdmin(deps: FlowDeps, auth: Authenticated, targetId: string, context: RequestContext): Promise<Result<object>> {
  const authorized = await authorizePasswordAdmin(deps, auth, targetId, 'reset_two_factor');
  if (!authorized.ok) return authorized;
  const { target } = authorized;
  const { account, agent: actor } = auth;
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    // the same second look as the password options: a role change meanwhile wins
    const checked = await recheckOnRows(trx, account.id, actor.id, target.id);
    if (!checked.ok) return checked;
    const current = checked.agent;
    // Asked before anything is removed: returning a failure commits the transaction, and
    // removeAllFactors ends the sessions whether or not there was a factor.
    if (!current.twoFactorEnabled) return fail('two_factor_not_enabled', [{ reason: 'agent_has_no_factor' }]);
    await removeAllFactors(trx, current.id, now);
    await audit(trx, { accountId: account.id, type: 'two_factor.reset_by_admin', actorAgentId: actor.id, targetAgentId: current.id, context, details: {}, at: now });
    await notify(trx, account, current, { change: 'reset_by_admin', byName: actor.name, byRole: actor.role.name }, context, now);
    return null;
  });
  if (outcome) return outcome;
  deps.notifyMailQueued();
  return { ok: true };
}

/**
 * The rules of authorizePasswordAdmin that can change while a request works (the target's and the
 * actor's roles, the target's status), read again on the rows inside the caller's transaction, the
 * target's row held until it ends. The target as it is now, or why the change must not happen.
 */
async function recheckOnRows(trx: Executor, accountId: string, actorId: string, targetId: string): Promise<{ ok: true; agent: Agent } | Failure<'agent_deactivated' | 'forbidden'>> {
  const current = await lockAgentForChange(trx, accountId, targetId);
  const currentActor = await findAgentById(trx, accountId, actorId);
  if (!current || !currentActor || current.status === 'deactivated') return fail('agent_deactivated');
  // an actor deactivated meanwhile acts on nobody
  if (currentActor.status === 'deactivated') return forbidden('missing_permission');
  const still = checkActOnAgent(toPrincipalPermissions(currentActor), toPrincipalPermissions(current));
  if (!still.allowed || !checkPermissions(toPrincipalPermissions(currentActor), PASSWORD_ADMIN_PERMISSIONS).allowed) return forbidden(still.allowed ? 'missing_permission' : still.reason);
  return { ok: true, agent: current };
}

/** Whom the notice tells the agent to contact if the change was unexpected: the Account Administrator, else the actor. */
async function contactFor(deps: FlowDeps, account: Account, actor: Agent): Promise<{ name: string; email: string }> {
  const owner = await findAccountAdministrator(deps.db, account.id);
  const contact = owner && owner.status !== 'deactivated' ? owner : actor;
  return { name: contact.name, email: contact.email };
}
