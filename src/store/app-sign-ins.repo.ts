import type { Executor } from './db.js';
import { iso } from './convert.js';
import { enqueueMail } from './outbox.repo.js';

/** The outbox template of a back-channel logout: the "recipient" is the app's logout URI. */
export const BACKCHANNEL_LOGOUT = 'backchannel_logout';

export interface BackchannelLogoutPayload {
  appId: string;
  clientId: string;
  appName: string;
  /** the agent (the ID token's sub) */
  sub: string;
  /** the Deskpass session that ended (the ID token's sid) */
  sid: string;
}

/** Records that an app signed in through a Deskpass session under a grant; true when it is the first time. */
export async function recordAppSignIn(
  db: Executor,
  signIn: { sessionId: string; appId: string; accountId: string; agentId: string; grantId: string },
  now: Date,
): Promise<boolean> {
  const result = await db
    .insertInto('app_sign_ins')
    .values({ session_id: signIn.sessionId, app_id: signIn.appId, account_id: signIn.accountId, agent_id: signIn.agentId, grant_id: signIn.grantId, created_at: iso(now) })
    .onConflict((oc) => oc.columns(['session_id', 'app_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
}

export async function findAppSignIn(db: Executor, sessionId: string, appId: string): Promise<{ grantId: string } | undefined> {
  const row = await db.selectFrom('app_sign_ins').select('grant_id').where('session_id', '=', sessionId).where('app_id', '=', appId).executeTakeFirst();
  return row && { grantId: row.grant_id };
}

/** Moves a sign-in to a new grant (the old grant's codes and tokens are revoked by the caller). */
export async function replaceAppSignInGrant(db: Executor, sessionId: string, appId: string, grantId: string): Promise<void> {
  await db.updateTable('app_sign_ins').set({ grant_id: grantId }).where('session_id', '=', sessionId).where('app_id', '=', appId).execute();
}

/** Everything the provider issued under these grants dies: codes, access and refresh tokens, the grants. */
export async function revokeGrants(db: Executor, grantIds: readonly string[]): Promise<void> {
  if (grantIds.length === 0) return;
  await db.deleteFrom('oidc_payloads').where('grant_id', 'in', grantIds).execute();
  await db.deleteFrom('oidc_payloads').where('model', '=', 'Grant').where('id', 'in', grantIds).execute();
}

/**
 * The apps' side of Deskpass sessions ending, in the caller's transaction (the one that ends
 * them): every app that signed in through one of them and registered a back-channel logout URI
 * is queued a logout (delivered by the outbox, retried until it arrives); every grant issued
 * through them is revoked with its codes and tokens; the provider sessions they carried die.
 * Called by every path that deletes sessions (store/sessions.repo), so none can skip it.
 */
export async function endAppSignIns(db: Executor, sessionIds: readonly string[], now: Date): Promise<number> {
  if (sessionIds.length === 0) return 0;
  const signIns = await db
    .selectFrom('app_sign_ins as s')
    .innerJoin('apps as a', 'a.id', 's.app_id')
    .select(['s.session_id', 's.app_id', 's.account_id', 's.agent_id', 's.grant_id', 'a.client_id', 'a.name', 'a.backchannel_logout_uri'])
    .where('s.session_id', 'in', sessionIds)
    .execute();
  for (const signIn of signIns) {
    if (!signIn.backchannel_logout_uri) continue;
    const payload: BackchannelLogoutPayload = { appId: signIn.app_id, clientId: signIn.client_id, appName: signIn.name, sub: signIn.agent_id, sid: signIn.session_id };
    await enqueueMail(db, { accountId: signIn.account_id, recipient: signIn.backchannel_logout_uri, template: BACKCHANNEL_LOGOUT, payload: { ...payload } }, now);
  }
  await revokeGrants(db, signIns.map((s) => s.grant_id));
  await db.deleteFrom('oidc_payloads').where('model', '=', 'Session').where('deskpass_session_id', 'in', sessionIds).execute();
  await db.deleteFrom('app_sign_ins').where('session_id', 'in', sessionIds).execute();
  return signIns.filter((s) => s.backchannel_logout_uri).length;
}

/** An app removed: its sign-ins end and every grant it holds is revoked (no logout is sent to an app that is gone). */
export async function revokeAppSignIns(db: Executor, appId: string): Promise<void> {
  const rows = await db.selectFrom('app_sign_ins').select('grant_id').where('app_id', '=', appId).execute();
  await revokeGrants(db, rows.map((r) => r.grant_id));
  await db.deleteFrom('app_sign_ins').where('app_id', '=', appId).execute();
}

/** The apps each of these sessions is signed in to, by session id. */
export async function listAppsOfSessions(db: Executor, sessionIds: readonly string[]): Promise<Map<string, { id: string; name: string }[]>> {
  const bySession = new Map<string, { id: string; name: string }[]>(sessionIds.map((id) => [id, []]));
  if (sessionIds.length === 0) return bySession;
  const rows = await db
    .selectFrom('app_sign_ins as s')
    .innerJoin('apps as a', 'a.id', 's.app_id')
    .select(['s.session_id', 'a.id', 'a.name'])
    .where('s.session_id', 'in', sessionIds)
    .orderBy('a.name')
    .execute();
  for (const row of rows) bySession.get(row.session_id)?.push({ id: row.id, name: row.name });
  return bySession;
}
