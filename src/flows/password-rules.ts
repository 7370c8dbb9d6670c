import type { Account, Agent } from '../domain/models.js';
import { checkPasswordRules, normalizePassword, REUSED, SAME_AS_CURRENT, type PolicyViolation } from '../domain/password-policy.js';
import { recentPasswordHashes } from '../store/password-history.repo.js';
import type { FlowDeps } from './deps.js';

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
  const violations = checkPasswordRules(newPassword, policy, { email: agent.email, name: agent.name, accountName: account.name });
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
