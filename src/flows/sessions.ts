import { addMs, MS_PER_HOUR, MS_PER_MINUTE } from '../domain/clock.js';
import { REAUTHENTICATION_WINDOW_MS, type AccountSettings } from '../domain/account-settings.js';
import { fail, forbidden, type Failure, type Result } from '../domain/errors.js';
import type { Account, Agent, RequestContext, Session } from '../domain/models.js';
import { findAgentById } from '../store/agents.repo.js';
import { deleteAgentSessions, deleteSession, findSessionEnd, findSessionHolder, insertSession, listAgentSessions, touchSession, type SessionEndReason } from '../store/sessions.repo.js';
import type { Executor } from '../store/db.js';
import { hashToken, isWellFormedToken, newId, newRandomToken } from '../security/tokens.js';
import { checkActOnAgent, checkPermissions, toPrincipalPermissions } from './principal.js';
import { audit } from './consequences.js';
import { listAppsOfSessions } from '../store/app-sign-ins.repo.js';
import type { FlowDeps } from './deps.js';

export interface Authenticated {
  session: Session;
  agent: Agent;
  account: Account;
  /** the agent's sign-in lock as read with the session (so /me needs no second query); unset: not read */
  agentLockedUntil?: Date | null;
}

/** Starts a session in the caller's transaction; the token leaves only in the sign-in answer. */
export async function startSession(trx: Executor, account: Account, agent: Agent, context: RequestContext, now: Date, amr: Session['amr'] = ['pwd']): Promise<{ token: string; session: Session }> {
  const started = newSession(account, agent, context, now, amr);
  await insertSession(trx, started.session, hashToken(started.token));
  return started;
}

/** A new session and its token, not stored yet (startSession stores it; a sign-in's one-statement admission too). */
export function newSession(account: Account, agent: Agent, context: RequestContext, now: Date, amr: Session['amr']): { token: string; session: Session } {
  const token = newRandomToken();
  const session: Session = {
    id: newId(),
    accountId: account.id,
    agentId: agent.id,
    createdAt: now,
    lastSeenAt: now,
    authenticatedAt: now,
    expiresAt: addMs(now, account.settings.sessionAbsoluteHours * MS_PER_HOUR),
    ip: context.ip,
    userAgent: context.userAgent?.slice(0, 512) ?? null,
    amr,
  };
  return { token, session };
}

/** Is a session over: past its absolute lifetime, or idle past the account's timeout? (The one rule of both.) */
export function isSessionOver(session: Pick<Session, 'expiresAt' | 'lastSeenAt'>, settings: Pick<AccountSettings, 'sessionIdleHours'>, now: Date): boolean {
  return session.expiresAt <= now || addMs(session.lastSeenAt, settings.sessionIdleHours * MS_PER_HOUR) <= now;
}

/** The session was used (a request, an app's token): its last activity moves, one write a minute at most, not one per request. */
export async function noteActivity(db: Executor, sessionId: string, lastSeenAt: Date, now: Date): Promise<Date> {
  if (now.getTime() - lastSeenAt.getTime() <= MS_PER_MINUTE) return lastSeenAt;
  await touchSession(db, sessionId, now);
  return now;
}

/**
 * Who holds this session token, if anyone: the session must exist, be within its absolute
 * lifetime and idle timeout, and belong to an agent who is not deactivated.
 */
export async function authenticateSession(deps: FlowDeps, token: string): Promise<Authenticated | undefined> {
  if (!isWellFormedToken(token)) return undefined;
  const { db, clock, sessionHolders } = deps;
  const tokenHash = hashToken(token);
  const now = clock.now();
  // Session, account, agent, role and lock state in one statement (or none: the server's cache,
  // which no committed change outlives): this runs on every request.
  let found = sessionHolders ? await sessionHolders.find(tokenHash) : { holder: await findSessionHolder(db, tokenHash), cached: false };
  // A cached holder can be up to a minute behind on last_seen_at (another instance's touch does
  // not empty caches): a session is ended on the stored row only.
  if (found.cached && found.holder && isSessionOver(found.holder.session, found.holder.account.settings, now)) {
    sessionHolders!.forget(tokenHash);
    found = { holder: await findSessionHolder(db, tokenHash), cached: false };
  }
  const { holder } = found;
  if (!holder) return undefined;
  const { session, account, agent } = holder;
  if (isSessionOver(session, account.settings, now)) {
    await db.transaction().execute((trx) => deleteSession(trx, session.agentId, session.id, session.expiresAt <= now ? 'expired_absolute' : 'expired_idle', now));
    return undefined;
  }
  if (agent.status === 'deactivated') return undefined;
  const lastSeenAt = await noteActivity(db, session.id, session.lastSeenAt, now);
  if (lastSeenAt !== session.lastSeenAt) {
    sessionHolders?.forget(tokenHash);
    session.lastSeenAt = lastSeenAt;
  }
  return { session, agent, account, agentLockedUntil: holder.lockedUntil };
}

/** Signed in or re-authenticated within the last 10 minutes. */
export function isFresh(session: Session, now: Date): boolean {
  return now.getTime() - session.authenticatedAt.getTime() <= REAUTHENTICATION_WINDOW_MS;
}

export function isTemporaryPasswordExpired(agent: Agent, now: Date): boolean {
  return agent.passwordChangeRequired && agent.temporaryPasswordExpiresAt !== null && agent.temporaryPasswordExpiresAt <= now;
}

/** Ends this session: the agent signed out (or, `reason`, the gate ended it). */
export async function signOut(deps: FlowDeps, auth: Authenticated, reason: SessionEndReason = 'signed_out'): Promise<void> {
  const now = deps.clock.now();
  await deps.db.transaction().execute((trx) => deleteSession(trx, auth.agent.id, auth.session.id, reason, now));
}

export async function listOwnSessions(deps: FlowDeps, auth: Authenticated): Promise<{ sessions: (Session & { current: boolean; apps: { id: string; name: string }[] })[] }> {
  const now = deps.clock.now();
  // a session idle past the timeout is dead even before a request or the sweep deletes it
  const sessions = (await listAgentSessions(deps.db, auth.agent.id, now)).filter((s) => !isSessionOver(s, auth.account.settings, now));
  const apps = await listAppsOfSessions(deps.db, sessions.map((s) => s.id));
  return { sessions: sessions.map((s) => ({ ...s, current: s.id === auth.session.id, apps: apps.get(s.id) ?? [] })) };
}

/** Ends one of the agent's own sessions (another device). */
export async function endOwnSession(deps: FlowDeps, auth: Authenticated, sessionId: string, context: RequestContext): Promise<Result<object, 'not_found'>> {
  const now = deps.clock.now();
  const ended = await deps.db.transaction().execute(async (trx) => {
    const count = await deleteSession(trx, auth.agent.id, sessionId, 'signed_out_elsewhere', now);
    if (count === 0) return false;
    await audit(trx, { accountId: auth.account.id, type: 'session.revoked', actorAgentId: auth.agent.id, targetAgentId: auth.agent.id, context, details: { scope: 'one' }, at: now });
    return true;
  });
  return ended ? { ok: true } : fail('not_found');
}

/** The rules of acting on another agent's sessions: manage_agents, a target in this account and no stronger than the actor. */
async function authorizeSessionAdmin(deps: FlowDeps, actor: Agent, targetId: string): Promise<{ ok: true; target: Agent } | Failure<'forbidden' | 'not_found'>> {
  const permitted = checkPermissions(toPrincipalPermissions(actor), ['manage_agents']);
  if (!permitted.allowed) return forbidden(permitted.reason);
  const target = await findAgentById(deps.db, actor.accountId, targetId);
  if (!target) return fail('not_found');
  const decision = checkActOnAgent(toPrincipalPermissions(actor), toPrincipalPermissions(target));
  if (!decision.allowed) return forbidden(decision.reason);
  return { ok: true, target };
}

/** "Sign out everywhere" for another agent (needs manage_agents and a target no stronger than the actor). */
export async function revokeAgentSessions(deps: FlowDeps, actor: Agent, targetId: string, context: RequestContext): Promise<Result<object, 'forbidden' | 'not_found'>> {
  const authorized = await authorizeSessionAdmin(deps, actor, targetId);
  if (!authorized.ok) return authorized;
  const { target } = authorized;
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    const count = await deleteAgentSessions(trx, target.id, 'revoked_by_admin', now);
    await audit(trx, { accountId: actor.accountId, type: 'session.revoked', actorAgentId: actor.id, targetAgentId: target.id, context, details: { scope: 'all', count }, at: now });
  });
  return { ok: true };
}

/**
 * Why the session of this token ended, if it did in the last 7 days: asked by the portal when a
 * browser brings a dead session cookie, so only whoever holds that very token learns its fate.
 */
export async function whySessionEnded(deps: FlowDeps, token: string | undefined): Promise<SessionEndReason | null> {
  if (!token || !isWellFormedToken(token)) return null;
  const ended = await findSessionEnd(deps.db, hashToken(token));
  return ended?.reason ?? null;
}

/**
 * Signs another agent out of one session (Keycloak's per-session "Sign out"), under the rules of
 * "sign out everywhere"; the apps signed in through that session are logged out with it
 * (deleteSession ends their sign-ins in the same transaction). A session that is not this
 * agent's (or has ended) is 404, and nothing ends.
 */
export async function endAgentSession(deps: FlowDeps, actor: Agent, targetId: string, sessionId: string, context: RequestContext): Promise<Result<object, 'forbidden' | 'not_found'>> {
  const authorized = await authorizeSessionAdmin(deps, actor, targetId);
  if (!authorized.ok) return authorized;
  const { target } = authorized;
  const now = deps.clock.now();
  const ended = await deps.db.transaction().execute(async (trx) => {
    const count = await deleteSession(trx, target.id, sessionId, 'session_revoked_by_admin', now);
    if (count === 0) return false;
    await audit(trx, { accountId: actor.accountId, type: 'session.revoked', actorAgentId: actor.id, targetAgentId: target.id, context, details: { scope: 'one', sessionId }, at: now });
    return true;
  });
  return ended ? { ok: true } : fail('not_found');
}

/** Another agent's live sessions, newest activity first, with the apps signed in through each (for their page in Manage › Agents). */
export async function listSessionsOfAgent(deps: FlowDeps, account: Account, agentId: string): Promise<(Session & { apps: { id: string; name: string }[] })[]> {
  const now = deps.clock.now();
  const sessions = (await listAgentSessions(deps.db, agentId, now)).filter((s) => s.accountId === account.id && !isSessionOver(s, account.settings, now));
  const apps = await listAppsOfSessions(deps.db, sessions.map((s) => s.id));
  return sessions.map((s) => ({ ...s, apps: apps.get(s.id) ?? [] }));
}
