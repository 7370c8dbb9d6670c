import { INVALID_EMAIL, isValidEmail } from '../domain/email.js';
import { INVITATION_LIFETIME_HOURS } from '../domain/account-settings.js';
import { fail, forbidden, type Result } from '../domain/errors.js';
import { normalizeEmail, type Account, type Agent, type AgentStatus, type RequestContext, type Role } from '../domain/models.js';
import { findAgentByEmail, findAgentById, insertAgent, lockAgentForChange, listAgents as listAgentRows, renameFields, updateAgent, type AgentListQuery } from '../store/agents.repo.js';
import { findRoleById } from '../store/roles.repo.js';
import { revokeAgentResetTokens } from '../store/reset-tokens.repo.js';
import { deleteAgentSessions } from '../store/sessions.repo.js';
import { clearLoginAttempts, lockedAddresses } from '../store/login-attempts.repo.js';
import { newId } from '../security/tokens.js';
import { isUniqueViolation } from '../store/dialect.js';
import { audit, issueResetLink, queueMail, retireOthersPasswordOnGrowth } from './consequences.js';
import type { FlowDeps } from './deps.js';
import { checkActOnAgent, checkAssignRole, checkPermissions, toPrincipalPermissions } from './principal.js';

/** An agent as Manage › Agents shows them: with the lock state, which lives beside the agent. */
export interface AgentView extends Agent {
  locked: boolean;
}

async function withLockState(deps: FlowDeps, agents: Agent[]): Promise<AgentView[]> {
  const locked = await lockedAddresses(deps.db, agents[0]?.accountId ?? '', agents.map((a) => normalizeEmail(a.email)), deps.clock.now());
  return agents.map((a) => ({ ...a, locked: locked.has(normalizeEmail(a.email)) }));
}

export async function viewAgent(deps: FlowDeps, agent: Agent): Promise<AgentView> {
  return (await withLockState(deps, [agent]))[0];
}

/** The signed-in agent (/me): the lock state came with the session lookup, when it did. */
export async function viewSignedInAgent(deps: FlowDeps, auth: { agent: Agent; agentLockedUntil?: Date | null }): Promise<AgentView> {
  if (auth.agentLockedUntil === undefined) return viewAgent(deps, auth.agent);
  return { ...auth.agent, locked: auth.agentLockedUntil !== null && auth.agentLockedUntil > deps.clock.now() };
}

function requireManageAgents(actor: Agent) {
  const decision = checkPermissions(toPrincipalPermissions(actor), ['manage_agents']);
  return decision.allowed ? null : forbidden(decision.reason);
}

/** A page of the account's agents: search (folded, inside names and emails), status filter, cursors both ways, and the count when asked. */
export async function listAgents(deps: FlowDeps, actor: Agent, query: AgentListQuery): Promise<Result<{ agents: AgentView[]; nextCursor: string | null; prevCursor: string | null; count?: { n: number; more: boolean } }>> {
  const refused = requireManageAgents(actor);
  if (refused) return refused;
  const page = await listAgentRows(deps.db, actor.accountId, query, deps.clock.now());
  if (page === 'invalid_cursor') return fail('invalid_request', [{ field: query.cursor ? 'cursor' : 'before', message: 'Unknown cursor' }]);
  return { ok: true, agents: await withLockState(deps, page.agents), nextCursor: page.nextCursor, prevCursor: page.prevCursor, count: page.count };
}

export async function getAgent(deps: FlowDeps, actor: Agent, id: string): Promise<Result<{ agent: AgentView }>> {
  const refused = requireManageAgents(actor);
  if (refused) return refused;
  const agent = await findAgentById(deps.db, actor.accountId, id);
  if (!agent) return fail('not_found');
  return { ok: true, agent: await viewAgent(deps, agent) };
}

/** Adds an agent and emails them an invitation link (7 days) to set a first password. */
export async function createAgent(
  deps: FlowDeps,
  actor: Agent,
  account: Account,
  input: { email: string; name: string; roleId: string; context: RequestContext },
): Promise<Result<{ agent: AgentView }>> {
  const refused = requireManageAgents(actor);
  if (refused) return refused;
  if (!isValidEmail(input.email)) return fail('invalid_request', [{ field: 'email', message: INVALID_EMAIL }]);
  const role = await findRoleById(deps.db, account.id, input.roleId);
  if (!role) return fail('invalid_request', [{ field: 'roleId', message: 'No such role' }]);
  const grant = checkPermissions(toPrincipalPermissions(actor), role.permissions);
  if (!grant.allowed) return forbidden('cannot_grant_permissions');
  if (await findAgentByEmail(deps.db, account.id, input.email)) return fail('email_taken');

  const id = newId();
  // Two concurrent creations of one address both pass the check above; the unique index then
  // refuses the second, which is the same 409.
  const created = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    if (await findAgentByEmail(trx, account.id, input.email)) return null;
    await insertAgent(trx, { id, accountId: account.id, email: input.email, name: input.name, roleId: role.id, isAccountAdministrator: false, status: 'invited', passwordHash: null, now });
    const agent = (await findAgentById(trx, account.id, id))!;
    await sendInvitation(trx, deps, account, actor, agent, now);
    await audit(trx, { accountId: account.id, type: 'agent.created', actorAgentId: actor.id, targetAgentId: id, context: input.context, details: { roleId: role.id }, at: now });
    return agent;
  }).catch((error: unknown) => {
    if (isUniqueViolation(error)) return null;
    throw error;
  });
  if (!created) return fail('email_taken');
  deps.notifyMailQueued();
  return { ok: true, agent: await viewAgent(deps, created) };
}

/** Issues an invitation link (7 days; older links die) and queues its email, in the caller's transaction. */
export async function sendInvitation(trx: Parameters<typeof issueResetLink>[0], deps: FlowDeps, account: Account, actor: Agent | null, agent: Agent, now: Date): Promise<Date> {
  const link = await issueResetLink(trx, { agent, purpose: 'invitation', createdByAgentId: actor?.id ?? null, lifetimeHours: INVITATION_LIFETIME_HOURS, now, secretKey: deps.secretKey });
  await queueMail(trx, account.id, agent.email, 'invitation', {
    agentName: agent.name,
    accountName: account.name,
    // who and in which role, as they are now: a later rename does not rewrite this email
    invitedByName: actor?.name ?? null,
    invitedByRole: actor?.role.name ?? null,
    email: agent.email,
    tokenId: link.tokenId,
    expiresAt: link.expiresAt.toISOString(),
  }, now);
  return link.expiresAt;
}

/** A new invitation link; the old one dies. Only while the agent has no password yet. */
export async function resendInvitation(deps: FlowDeps, actor: Agent, account: Account, targetId: string, context: RequestContext): Promise<Result<{ expiresAt: Date }>> {
  const refused = requireManageAgents(actor);
  if (refused) return refused;
  const target = await findAgentById(deps.db, account.id, targetId);
  if (!target) return fail('not_found');
  const decision = checkActOnAgent(toPrincipalPermissions(actor), toPrincipalPermissions(target));
  if (!decision.allowed) return forbidden(decision.reason);
  if (target.status === 'deactivated') return fail('agent_deactivated');
  if (target.passwordHash || target.status !== 'invited') return fail('invitation_not_pending');
  const expiresAt = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    const expires = await sendInvitation(trx, deps, account, actor, target, now);
    await audit(trx, { accountId: account.id, type: 'agent.invitation_sent', actorAgentId: actor.id, targetAgentId: target.id, context, at: now });
    return expires;
  });
  deps.notifyMailQueued();
  return { ok: true, expiresAt };
}

export interface AgentChanges {
  name?: string;
  roleId?: string;
  status?: 'active' | 'deactivated';
}

/** Rename, change role, deactivate or reactivate; deactivating ends sessions and links. */
export async function updateAgentProfile(deps: FlowDeps, actor: Agent, account: Account, targetId: string, changes: AgentChanges, context: RequestContext): Promise<Result<{ agent: AgentView }>> {
  const refused = requireManageAgents(actor);
  if (refused) return refused;
  const target = await findAgentById(deps.db, account.id, targetId);
  if (!target) return fail('not_found');
  const actorP = toPrincipalPermissions(actor);
  const targetP = toPrincipalPermissions(target);

  let newRole: Role | undefined;
  if (changes.roleId !== undefined && changes.roleId !== target.role.id) {
    newRole = await findRoleById(deps.db, account.id, changes.roleId);
    if (!newRole) return fail('invalid_request', [{ field: 'roleId', message: 'No such role' }]);
    const decision = checkAssignRole(actorP, targetP, newRole.permissions);
    if (!decision.allowed) return forbidden(decision.reason);
  } else if (changes.roleId !== undefined && actor.id === target.id) {
    // Giving oneself the role one already has changes nothing, but the rule is simple to state: never.
    return forbidden('cannot_change_own_role');
  }
  if (changes.status !== undefined && changes.status !== statusKind(target.status)) {
    if (actor.id === target.id) return forbidden('cannot_change_own_status');
  }
  const decision = checkActOnAgent(actorP, targetP);
  if (!decision.allowed) return forbidden(decision.reason);

  const changed: string[] = [];
  let mailQueued = false;
  await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    if (changes.name !== undefined && changes.name.trim() !== target.name) {
      await updateAgent(trx, account.id, target.id, renameFields(changes.name), now);
      changed.push('name');
    }
    if (newRole) {
      // The row as it is now (and held on PostgreSQL): an admin's password set that committed
      // meanwhile must be seen and retired, not missed in a snapshot from before it.
      const current = (await lockAgentForChange(trx, account.id, target.id)) ?? target;
      await updateAgent(trx, account.id, target.id, { role_id: newRole.id }, now);
      changed.push('role');
      // The role is in every app's groups claim: the agent signs in again, everywhere, under the new one.
      await deleteAgentSessions(trx, target.id, 'role_changed', now);
      if (await retireOthersPasswordOnGrowth(trx, { account, agent: current, actor, before: current.role.permissions, after: newRole.permissions, now, secretKey: deps.secretKey, context })) mailQueued = true;
    }
    if (changes.status !== undefined && changes.status !== statusKind(target.status)) {
      const status: AgentStatus = changes.status === 'deactivated' ? 'deactivated' : target.passwordHash ? 'active' : 'invited';
      await updateAgent(trx, account.id, target.id, { status }, now);
      if (status === 'deactivated') {
        await deleteAgentSessions(trx, target.id, 'deactivated', now);
        await revokeAgentResetTokens(trx, target.id, now);
      }
      changed.push('status');
    }
    if (changed.length > 0) {
      await audit(trx, { accountId: account.id, type: 'agent.updated', actorAgentId: actor.id, targetAgentId: target.id, context, details: { changed, ...(changed.includes('status') ? { status: changes.status } : {}), ...(changed.includes('role') ? { roleId: changes.roleId } : {}) }, at: now });
    }
  });
  if (mailQueued) deps.notifyMailQueued();
  const updated = (await findAgentById(deps.db, account.id, target.id))!;
  return { ok: true, agent: await viewAgent(deps, updated) };
}

function statusKind(status: AgentStatus): 'active' | 'deactivated' {
  return status === 'deactivated' ? 'deactivated' : 'active';
}

/** Clears a sign-in lockout. */
export async function unlockAgent(deps: FlowDeps, actor: Agent, account: Account, targetId: string, context: RequestContext): Promise<Result> {
  const refused = requireManageAgents(actor);
  if (refused) return refused;
  const target = await findAgentById(deps.db, account.id, targetId);
  if (!target) return fail('not_found');
  const decision = checkActOnAgent(toPrincipalPermissions(actor), toPrincipalPermissions(target));
  if (!decision.allowed) return forbidden(decision.reason);
  await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    await clearLoginAttempts(trx, account.id, normalizeEmail(target.email));
    await audit(trx, { accountId: account.id, type: 'agent.unlocked', actorAgentId: actor.id, targetAgentId: target.id, context, at: now });
  });
  return { ok: true };
}

