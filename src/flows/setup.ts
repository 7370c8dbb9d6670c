import { INVALID_EMAIL, isValidEmail } from '../domain/email.js';
import { normalizeTimeZone } from '../domain/time-zones.js';
import { DEFAULT_SETTINGS, INVITATION_LIFETIME_HOURS } from '../domain/account-settings.js';
import { fail, type Result } from '../domain/errors.js';
import type { Account, Agent, RequestContext } from '../domain/models.js';
import { BUILT_IN_ROLES } from '../domain/permissions.js';
import { DEFAULT_PLAN, isPlan } from '../domain/plans.js';
import type { PolicyViolation } from '../domain/password-policy.js';
import { countAccounts, insertAccount, lockAccountCreation } from '../store/accounts.repo.js';
import { findAgentById, insertAgent } from '../store/agents.repo.js';
import { addPasswordHistory } from '../store/password-history.repo.js';
import { insertRole } from '../store/roles.repo.js';
import { hashToken, isWellFormedToken, newId, newRandomToken, secretsEqual } from '../security/tokens.js';
import { audit, issueResetLink, queueMail } from './consequences.js';
import type { FlowDeps } from './deps.js';
import { policyViolations } from './password-rules.js';

/**
 * The one-time setup link printed at first start. It lives in this process only: it dies
 * when used or when the process restarts, and only its hash is kept.
 */
export class SetupLink {
  private tokenHash: string | null = null;

  /** A fresh link token; any older one dies. */
  issue(): string {
    const token = newRandomToken();
    this.tokenHash = hashToken(token);
    return token;
  }

  isValid(token: string): boolean {
    return this.tokenHash !== null && isWellFormedToken(token) && secretsEqual(hashToken(token), this.tokenHash);
  }

  consume(): void {
    this.tokenHash = null;
  }
}

export interface NewHelpDesk {
  accountName: string;
  adminName: string;
  adminEmail: string;
  plan?: string;
  /** with a password (setup page): the administrator can sign in at once; without (CLI init): they are emailed a link */
  password?: string;
  /** the help desk's IANA time zone; UTC when absent */
  timeZone?: string;
  context: RequestContext;
}

export type CreateHelpDeskResult = Result<
  { account: Account; agent: Agent; link: { token: string; expiresAt: Date } | null },
  'setup_already_done' | 'password_rejected' | 'invalid_request' | 'time_zone_unknown'
>;

/** Creates the help desk account, its built-in roles and its Account Administrator. One per server, for now. */
export async function createHelpDesk(deps: FlowDeps, input: NewHelpDesk): Promise<CreateHelpDeskResult> {
  const { db, clock, hasher } = deps;
  const plan = input.plan ?? DEFAULT_PLAN;
  if (!isPlan(plan)) return fail('invalid_request', [{ field: 'plan', message: `Unknown plan "${plan}"` }]);
  if (!isValidEmail(input.adminEmail)) return fail('invalid_request', [{ field: 'adminEmail', message: INVALID_EMAIL }]);
  const timeZone = input.timeZone === undefined ? DEFAULT_SETTINGS.timeZone : normalizeTimeZone(input.timeZone);
  if (timeZone === null) return fail('time_zone_unknown', [{ field: 'timeZone' }]);
  if ((await countAccounts(db)) > 0) return fail('setup_already_done');

  let passwordHash: string | null = null;
  if (input.password !== undefined) {
    // The full default policy (blocklist, personal information, strength); there is no
    // current password or history to compare with yet.
    const violations: PolicyViolation[] = await policyViolations(input.password, DEFAULT_SETTINGS.passwordPolicy, {
      email: input.adminEmail,
      name: input.adminName,
      accountName: input.accountName,
    });
    if (violations.length > 0) return fail('password_rejected', violations);
    passwordHash = await hasher.hash(input.password);
  }

  const now = clock.now();
  const account: Account = { id: newId(), name: input.accountName.trim(), slug: slugify(input.accountName), plan, settings: { ...DEFAULT_SETTINGS, timeZone }, createdAt: now };
  const adminRoleId = newId();
  const agentId = newId();

  const outcome = await db.transaction().execute(async (trx) => {
    // Checked again inside the transaction, under a lock: two setups racing must not both create an account.
    await lockAccountCreation(trx);
    if ((await countAccounts(trx)) > 0) return null;
    await insertAccount(trx, account);
    await insertRole(trx, { id: adminRoleId, accountId: account.id, name: 'Administrator', permissions: [...BUILT_IN_ROLES.Administrator], builtIn: true }, now);
    await insertRole(trx, { id: newId(), accountId: account.id, name: 'Agent', permissions: [...BUILT_IN_ROLES.Agent], builtIn: true }, now);
    await insertAgent(trx, {
      id: agentId,
      accountId: account.id,
      email: input.adminEmail,
      name: input.adminName,
      roleId: adminRoleId,
      isAccountAdministrator: true,
      status: passwordHash ? 'active' : 'invited',
      passwordHash,
      now,
    });
    if (passwordHash) await addPasswordHistory(trx, account.id, agentId, passwordHash, now);
    const agent = (await findAgentById(trx, account.id, agentId))!;
    await audit(trx, { accountId: account.id, type: 'agent.created', actorAgentId: null, targetAgentId: agentId, context: input.context, details: { accountAdministrator: true }, at: now });
    let link: { token: string; expiresAt: Date } | null = null;
    if (!passwordHash) {
      const issued = await issueResetLink(trx, { agent, purpose: 'invitation', createdByAgentId: null, lifetimeHours: INVITATION_LIFETIME_HOURS, now, secretKey: deps.secretKey });
      await queueMail(trx, account.id, agent.email, 'invitation', { agentName: agent.name, accountName: account.name, invitedByName: null, invitedByOperator: true, email: agent.email, tokenId: issued.tokenId, expiresAt: issued.expiresAt.toISOString() }, now);
      link = { token: issued.token, expiresAt: issued.expiresAt };
    }
    return { agent, link };
  });
  if (!outcome) return fail('setup_already_done');
  if (outcome.link) deps.notifyMailQueued();
  return { ok: true, account, agent: outcome.agent, link: outcome.link };
}

function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return slug || 'helpdesk';
}
