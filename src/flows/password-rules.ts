import type { PasswordPolicySettings } from '../domain/account-settings.js';
import type { Account, Agent } from '../domain/models.js';
import {
  checkPasswordAtSignIn,
  checkPasswordRules,
  normalizePassword,
  REUSED,
  SAME_AS_CURRENT,
  strengthUserInputs,
  type PolicyContext,
  type PolicyViolation,
} from '../domain/password-policy.js';
import { strengthThread } from '../security/strength-thread.js';
import { recentPasswordHashes } from '../store/password-history.repo.js';
import type { FlowDeps } from './deps.js';

/**
 * The account policy's rules that need no stored hash (domain/password-policy.ts), with
 * zxcvbn's score worked out on the strength thread, never on the event loop.
 */
export async function policyViolations(password: string, policy: PasswordPolicySettings, context: PolicyContext): Promise<PolicyViolation[]> {
  return checkPasswordRules(password, policy, context, await strengthScore(password, context));
}

/** `checkPasswordAtSignIn` with the score from the strength thread, asked for only when the policy will use it. */
export async function policyViolationsAtSignIn(password: string, policy: PasswordPolicySettings, context: PolicyContext): Promise<PolicyViolation[]> {
  return checkPasswordAtSignIn(password, policy, context, policy.enforceOnNextSignIn ? await strengthScore(password, context) : undefined);
}

function strengthScore(password: string, context: PolicyContext): Promise<number> {
  return strengthThread.score(normalizePassword(password), strengthUserInputs(context));
}

/**
 * Every rule a new password must pass for this agent: the account's policy, different from
 * the current password, and none of the last N. Verifies stored hashes, so call it before
 * opening a transaction.
 */
export async function checkNewPassword(
  deps: FlowDeps,
  account: Account,
  agent: Pick<Agent, 'id' | 'email' | 'name' | 'passwordHash'>,
  newPassword: string,
  knownCurrentPassword?: string,
): Promise<PolicyViolation[]> {
  const policy = account.settings.passwordPolicy;
  const violations = await policyViolations(newPassword, policy, { email: agent.email, name: agent.name, accountName: account.name });
  // Stored hashes are compared only for a candidate every other rule accepts: otherwise a refused
  // candidate would tell whoever typed it (an administrator, a link holder) whether it is the
  // agent's current or an earlier password, at no cost and with nothing changed (issue 8 review).
  // Such a candidate, when it is no old password, is then set, and the agent emailed.
  if (violations.length > 0) return violations;
  const candidate = normalizePassword(newPassword);
  let sameAsCurrent = false;
  if (knownCurrentPassword !== undefined) {
    sameAsCurrent = normalizePassword(knownCurrentPassword) === candidate;
  } else if (agent.passwordHash) {
    sameAsCurrent = await deps.hasher.verify(agent.passwordHash, candidate);
  }
  if (sameAsCurrent) {
    violations.push(SAME_AS_CURRENT);
    return violations;
  }
  const depth = policy.historyDepth;
  const history = await recentPasswordHashes(deps.db, agent.id, depth);
  for (const oldHash of history) {
    if (oldHash !== agent.passwordHash && (await deps.hasher.verify(oldHash, candidate))) {
      violations.push(REUSED(depth));
      break;
    }
  }
  return violations;
}
