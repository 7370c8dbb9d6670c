import type { PasswordPolicySettings } from '../domain/account-settings.js';
import { fail, forbidden, type Result } from '../domain/errors.js';
import type { Account } from '../domain/models.js';
import { generatePassphrase } from '../domain/passphrase.js';
import type { PolicyContext, PolicyViolation } from '../domain/password-policy.js';
import { findAgentById } from '../store/agents.repo.js';
import { currentAccount } from './account.js';
import type { FlowDeps } from './deps.js';
import { describePasswordAdminAccess } from './password-admin-access.js';
import { policyViolations } from './password-rules.js';
import { inspectResetLink } from './reset-password.js';
import { checkPermissions, toPrincipalPermissions } from './principal.js';
import type { Authenticated } from './sessions.js';

/**
 * The live check behind the password meter (issue 12, item 9): the rules a submit would apply
 * that need no stored hash (length, classes, blocklist, the agent's own words, zxcvbn), for the
 * agent the form is about. Never the current or earlier passwords: that would cost an argon2
 * verification per keystroke and tell a link holder or an administrator which passwords the
 * agent used. Reads only; writes nothing, audits nothing.
 */
export interface PasswordCheck {
  problems: PolicyViolation[];
}

async function check(password: string, policy: PasswordPolicySettings, context: PolicyContext): Promise<PasswordCheck> {
  return { problems: await policyViolations(password, policy, context) };
}

/** The signed-in agent's own new password (My Settings, the required change). */
export function checkOwnNewPassword(auth: Authenticated, password: string): Promise<PasswordCheck> {
  return check(password, auth.account.settings.passwordPolicy, { email: auth.agent.email, name: auth.agent.name, accountName: auth.account.name });
}

/**
 * The password an administrator is about to set for another agent: only for whoever may set it
 * now (the same access, freshness and policy switch as Manual Reset Password), else forbidden.
 */
export async function checkAgentNewPassword(deps: FlowDeps, auth: Authenticated, targetId: string, password: string): Promise<Result<PasswordCheck>> {
  const target = await settableTarget(deps, auth, targetId);
  if (!target.ok) return target;
  return { ok: true, ...(await check(password, auth.account.settings.passwordPolicy, target.context)) };
}

/** A readable passphrase (domain/passphrase.ts) that passes the policy for this target, for "Generate". */
export async function suggestAgentPassphrase(deps: FlowDeps, auth: Authenticated, targetId: string): Promise<Result<{ password: string }>> {
  const target = await settableTarget(deps, auth, targetId);
  if (!target.ok) return target;
  const policy = auth.account.settings.passwordPolicy;
  // Four random words fail a rule about once in a blue moon (a word of the agent's name, the
  // blocklist): draw again. 20 draws all failing would mean a broken word list.
  // A name made of many common fragments can refuse most words: then say so, the admin types one.
  for (let draw = 0; draw < 20; draw += 1) {
    const password = generatePassphrase(policy);
    if ((await policyViolations(password, policy, target.context)).length === 0) return { ok: true, password };
  }
  return fail('passphrase_unavailable');
}

async function settableTarget(deps: FlowDeps, auth: Authenticated, targetId: string): Promise<Result<{ context: PolicyContext }>> {
  // API.md's order: a missing permission is 403 before any 404, so ids cannot be probed
  const permissions = checkPermissions(toPrincipalPermissions(auth.agent), ['manage_agents', 'manage_agent_password']);
  if (!permissions.allowed) return forbidden(permissions.reason);
  const target = await findAgentById(deps.db, auth.account.id, targetId);
  if (!target) return fail('not_found');
  const access = describePasswordAdminAccess(deps, auth, target);
  if (!access.available) return forbidden(access.reason);
  if (!access.setPasswordAllowed) return forbidden('admin_set_password_disabled');
  if (!access.fresh) return fail('reauthentication_required');
  return { ok: true, context: { email: target.email, name: target.name, accountName: auth.account.name } };
}

/** The new password of a reset (or invitation) link's agent, while the link is usable. */
export async function checkResetLinkPassword(deps: FlowDeps, token: string, password: string): Promise<Result<PasswordCheck, 'reset_link_invalid'>> {
  const link = await inspectResetLink(deps, token);
  if (!link.ok) return link;
  const account = (await currentAccount(deps)) as Account;
  return { ok: true, ...(await check(password, account.settings.passwordPolicy, { email: link.email, name: link.name, accountName: account.name })) };
}

/** Setup: the Account Administrator's first password, against the names typed on the same form. */
export function checkSetupPassword(policy: PasswordPolicySettings, password: string, typed: PolicyContext): Promise<PasswordCheck> {
  return check(password, policy, typed);
}
