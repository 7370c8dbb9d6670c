import { UNKNOWN_DEVICES } from './login-attempts.repo.js';
import type { Account, Agent, Session } from '../domain/models.js';
import { sql, type CompiledQuery, type InferResult } from 'kysely';
import { changesOf, type Db, type Executor } from './db.js';
import { ChangeBoundCache, type ChangeBoundCacheOptions } from './change-bound-cache.js';
import { dialectOf } from './dialect.js';
import type { SessionEndReason, SessionRow } from './schema.js';
export type { SessionEndReason } from './schema.js';
import { deepFreeze, iso } from './convert.js';
import { endAppSignIns } from './app-sign-ins.repo.js';
import { toAccount } from './accounts.repo.js';
import { toAgent, type AgentWithRoleRow } from './agents.repo.js';
import { compiledOnce } from './compiled-once.js';
import { addressScope, agentScope } from './change-scopes.js';

function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    accountId: row.account_id,
    agentId: row.agent_id,
    createdAt: new Date(row.created_at),
    lastSeenAt: new Date(row.last_seen_at),
    authenticatedAt: new Date(row.authenticated_at),
    expiresAt: new Date(row.expires_at),
    ip: row.ip,
    userAgent: row.user_agent,
    amr: row.amr ? (JSON.parse(row.amr) as Session['amr']) : ['pwd'],
  };
}

// Every sign-in sends it (compiled once: compiled-once.ts).
const sessionInsert = compiledOnce((db, row: SessionRow) =>
  db.insertInto('sessions').values({
    id: row.id,
    account_id: row.account_id,
    agent_id: row.agent_id,
    token_hash: row.token_hash,
    created_at: row.created_at,
    last_seen_at: row.last_seen_at,
    authenticated_at: row.authenticated_at,
    expires_at: row.expires_at,
    ip: row.ip,
    user_agent: row.user_agent,
    amr: row.amr,
  }),
);

export async function insertSession(db: Executor, session: Session, tokenHash: string): Promise<void> {
  await sessionInsert(db, sessionRowOf(session, tokenHash));
}

/** The row a new session is stored as (insertSession, and a sign-in's one-statement admission). */
export function sessionRowOf(session: Session, tokenHash: string): SessionRow {
  return {
    id: session.id,
    account_id: session.accountId,
    agent_id: session.agentId,
    token_hash: tokenHash,
    created_at: iso(session.createdAt),
    last_seen_at: iso(session.lastSeenAt),
    authenticated_at: iso(session.authenticatedAt),
    expires_at: iso(session.expiresAt),
    ip: session.ip,
    user_agent: session.userAgent,
    amr: JSON.stringify(session.amr),
  };
}

/** A session with everything a request needs about who holds it, from one statement. */
export interface SessionHolder {
  session: Session;
  account: Account;
  agent: Agent;
  /** the agent's sign-in lock, which lives beside the agent (login_attempts) */
  lockedUntil: Date | null;
}

/**
 * The session of a token hash with its account, agent, role and lock state: one indexed join,
 * where looking each up in turn cost four round trips on every authenticated request.
 */
export async function findSessionHolder(db: Executor, tokenHash: string): Promise<SessionHolder | undefined> {
  const row = await findSessionHolderRow(db, tokenHash);
  return row && toSessionHolder(row);
}

async function findSessionHolderRow(db: Executor, tokenHash: string): Promise<SessionHolderRow | undefined> {
  const { rows } = await db.executeQuery<SessionHolderRow>({ ...sessionHolderQuery(db), parameters: [tokenHash] });
  return rows[0];
}

/** findSessionHolder through a cache that no committed change outlives (change-bound-cache.ts). */
export interface SessionHolderLookup {
  find(tokenHash: string): Promise<{ holder: SessionHolder | undefined; cached: boolean }>;
  /** read this token's holder from the store next time */
  forget(tokenHash: string): void;
  readonly stats: { hits: number; misses: number; size: number };
}

export function cachedSessionHolders(db: Db, options?: Omit<ChangeBoundCacheOptions, 'scopesOf'>): SessionHolderLookup {
  // Kept converted and frozen (no request can change what another reads; a write to one throws),
  // and each request gets its own copy of the session, whose last-seen time it moves. A holder is
  // forgotten by the scoped changes (change-scopes.ts) of its agent's row and of the lock it
  // joins (the agent's address), named from the row's own keys, and kept through everyone else's.
  const cache = new ChangeBoundCache<{ holder: SessionHolder; scopes: readonly string[] }>(changesOf(db), { ...options, scopesOf: (kept) => kept.scopes });
  const load = async (tokenHash: string) => {
    const row = await findSessionHolderRow(db, tokenHash);
    return row && { holder: deepFreeze(toSessionHolder(row)), scopes: [agentScope(row.id), addressScope(row.account_id, row.email_normalized)] };
  };
  return {
    async find(tokenHash) {
      const { row: kept, cached } = await cache.find(tokenHash, () => load(tokenHash));
      const holder = kept?.holder;
      return { holder: holder && { ...holder, session: { ...holder.session } }, cached };
    },
    forget: (tokenHash) => cache.forget(tokenHash),
    get stats() {
      return { hits: cache.hits, misses: cache.misses, size: cache.size };
    },
  };
}

/**
 * The session an app's grant was issued through (app_sign_ins), with the same account, agent,
 * role and lock state as findSessionHolder: one statement on every token, userinfo and
 * introspection request of an app.
 */
export async function findGrantSessionHolder(db: Executor, grantId: string): Promise<SessionHolder | undefined> {
  const row = await selectSessionHolder(db).innerJoin('app_sign_ins as asi', 'asi.session_id', 's.id').where('asi.grant_id', '=', grantId).executeTakeFirst();
  return row && toSessionHolder(row);
}

function toSessionHolder(row: SessionHolderRow): SessionHolder {
  return {
    session: toSession({
      id: row.s_id, account_id: row.s_account_id, agent_id: row.s_agent_id, token_hash: row.s_token_hash, created_at: row.s_created_at,
      last_seen_at: row.s_last_seen_at, authenticated_at: row.s_authenticated_at, expires_at: row.s_expires_at, ip: row.s_ip, user_agent: row.s_user_agent, amr: row.s_amr,
    }),
    account: toAccount({ id: row.s_account_id, name: row.acc_name, slug: row.acc_slug, plan: row.acc_plan, settings: row.acc_settings, created_at: row.acc_created_at }),
    agent: toAgent(row as unknown as AgentWithRoleRow),
    lockedUntil: row.la_locked_until ? new Date(row.la_locked_until) : null,
  };
}

function selectSessionHolder(db: Executor) {
  return db
    .selectFrom('sessions as s')
    .innerJoin('accounts as acc', 'acc.id', 's.account_id')
    .innerJoin('agents', (join) => join.onRef('agents.id', '=', 's.agent_id').onRef('agents.account_id', '=', 's.account_id'))
    .innerJoin('roles as r', 'r.id', 'agents.role_id')
    .leftJoin('login_attempts as la', (join) => join.onRef('la.account_id', '=', 'agents.account_id').onRef('la.email_normalized', '=', 'agents.email_normalized').on('la.client', '=', sql.lit(UNKNOWN_DEVICES))) // a literal: this query is compiled once and run with the token hash alone
    .selectAll('agents')
    .select([
      's.id as s_id', 's.account_id as s_account_id', 's.agent_id as s_agent_id', 's.token_hash as s_token_hash', 's.created_at as s_created_at',
      's.last_seen_at as s_last_seen_at', 's.authenticated_at as s_authenticated_at', 's.expires_at as s_expires_at', 's.ip as s_ip', 's.user_agent as s_user_agent', 's.amr as s_amr',
      'acc.name as acc_name', 'acc.slug as acc_slug', 'acc.plan as acc_plan', 'acc.settings as acc_settings', 'acc.created_at as acc_created_at',
      'r.id as r_id', 'r.account_id as r_account_id', 'r.name as r_name', 'r.permissions as r_permissions', 'r.built_in as r_built_in',
      'la.locked_until as la_locked_until',
    ]);
}

function buildSessionHolderQuery(db: Executor, tokenHash: string) {
  return selectSessionHolder(db).where('s.token_hash', '=', tokenHash);
}

type SessionHolderRow = InferResult<ReturnType<typeof buildSessionHolderQuery>>[number];

// Composing this join in Kysely (parsing 30 column references, building and compiling the tree)
// cost more CPU than SQLite takes to run it, on every authenticated request. Its SQL depends only
// on the dialect, so it is compiled once per dialect and run with the request's token hash.
const sessionHolderQueries = new Map<string, CompiledQuery>();

function sessionHolderQuery(db: Executor): CompiledQuery {
  const dialect = dialectOf(db);
  let compiled = sessionHolderQueries.get(dialect);
  if (!compiled) {
    compiled = buildSessionHolderQuery(db, '').compile();
    sessionHolderQueries.set(dialect, compiled);
  }
  return compiled;
}

export async function touchSession(db: Executor, id: string, now: Date): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at: iso(now) }).where('id', '=', id).execute();
}

export async function markSessionAuthenticated(db: Executor, id: string, now: Date): Promise<void> {
  await db.updateTable('sessions').set({ authenticated_at: iso(now), last_seen_at: iso(now) }).where('id', '=', id).execute();
}

export async function listAgentSessions(db: Executor, agentId: string, now: Date): Promise<Session[]> {
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where('agent_id', '=', agentId)
    .where('expires_at', '>', iso(now))
    .orderBy('last_seen_at', 'desc')
    .execute();
  return rows.map(toSession);
}

type EndedRow = { id: string; token_hash: string; account_id: string; agent_id: string };
const ENDED_COLUMNS = ['id', 'token_hash', 'account_id', 'agent_id'] as const;

/**
 * Every way a session ends goes through here (one, all of an agent's, the sweeps), so that the
 * apps signed in through it are logged out and their grants revoked in the same transaction
 * (see endAppSignIns), and why it ended is kept for the browser that held it (session_ends).
 * Pass the caller's transaction when the end is part of a change.
 */
async function endSessions(db: Executor, rows: readonly EndedRow[], reason: SessionEndReason, now: Date): Promise<number> {
  if (rows.length === 0) return 0;
  await endAppSignIns(db, rows.map((r) => r.id), now);
  await db
    .insertInto('session_ends')
    .values(rows.map((r) => ({ token_hash: r.token_hash, account_id: r.account_id, agent_id: r.agent_id, reason, ended_at: iso(now) })))
    .onConflict((oc) => oc.column('token_hash').doNothing())
    .execute();
  return rows.length;
}

export async function deleteSession(db: Executor, agentId: string, id: string, reason: SessionEndReason, now: Date): Promise<number> {
  const rows = await db.deleteFrom('sessions').where('agent_id', '=', agentId).where('id', '=', id).returning(ENDED_COLUMNS).execute();
  return endSessions(db, rows, reason, now);
}

/** Ends the agent's sessions, all or all but one (a self-change keeps the current session). */
export async function deleteAgentSessions(db: Executor, agentId: string, reason: SessionEndReason, now: Date, exceptId?: string): Promise<number> {
  let q = db.deleteFrom('sessions').where('agent_id', '=', agentId);
  if (exceptId) q = q.where('id', '!=', exceptId);
  const rows = await q.returning(ENDED_COLUMNS).execute();
  return endSessions(db, rows, reason, now);
}

export async function sweepSessions(db: Executor, now: Date, batchSize = 1000): Promise<number> {
  const ids = await db.selectFrom('sessions').select('id').where('expires_at', '<=', iso(now)).limit(batchSize).execute();
  if (ids.length === 0) return 0;
  const rows = await db.deleteFrom('sessions').where('id', 'in', ids.map((r) => r.id)).returning(ENDED_COLUMNS).execute();
  await endSessions(db, rows, 'expired_absolute', now);
  return ids.length;
}

export async function sweepIdleSessions(db: Executor, accountId: string, idleSince: Date, now: Date, batchSize = 1000): Promise<number> {
  const ids = await db.selectFrom('sessions').select('id').where('account_id', '=', accountId).where('last_seen_at', '<=', iso(idleSince)).limit(batchSize).execute();
  if (ids.length === 0) return 0;
  const rows = await db.deleteFrom('sessions').where('id', 'in', ids.map((r) => r.id)).returning(ENDED_COLUMNS).execute();
  await endSessions(db, rows, 'expired_idle', now);
  return ids.length;
}

/** Why the session of this token hash ended, when it ended in the last 7 days (the sweep forgets older ends). */
export async function findSessionEnd(db: Executor, tokenHash: string): Promise<{ reason: SessionEndReason; endedAt: Date } | undefined> {
  const row = await db.selectFrom('session_ends').select(['reason', 'ended_at']).where('token_hash', '=', tokenHash).executeTakeFirst();
  return row && { reason: row.reason, endedAt: new Date(row.ended_at) };
}

export async function sweepSessionEnds(db: Executor, endedBefore: Date, batchSize = 1000): Promise<number> {
  const rows = await db.selectFrom('session_ends').select('token_hash').where('ended_at', '<', iso(endedBefore)).limit(batchSize).execute();
  if (rows.length === 0) return 0;
  await db.deleteFrom('session_ends').where('token_hash', 'in', rows.map((r) => r.token_hash)).execute();
  return rows.length;
}

/**
 * The session row, locked until the caller's transaction ends (PostgreSQL: FOR UPDATE; SQLite
 * has one writer at a time), when it is still live; false when it has ended.
 */
export async function lockLiveSession(db: Executor, id: string, now: Date): Promise<boolean> {
  let q = db.selectFrom('sessions').select('id').where('id', '=', id).where('expires_at', '>', iso(now));
  if (dialectOf(db) === 'postgres') q = q.forUpdate();
  return !!(await q.executeTakeFirst());
}
