import type { KoaContextWithOIDC } from 'oidc-provider';
import type { FlowDeps } from '../flows/deps.js';
import type { Authenticated } from '../flows/sessions.js';
import { audit } from '../flows/consequences.js';
import { findAppByClientId } from '../store/apps.repo.js';
import { findAppSignIn, recordAppSignIn, replaceAppSignInGrant } from '../store/app-sign-ins.repo.js';
import { lockLiveSession } from '../store/sessions.repo.js';
import { findAccountById } from '../store/accounts.repo.js';
import { addMs, MS_PER_HOUR } from '../domain/clock.js';

export class SessionEndedError extends Error {}

type Grant = InstanceType<KoaContextWithOIDC['oidc']['provider']['Grant']>;

/**
 * The grant an app holds through a Deskpass session: one per (session, app), created at the
 * app's first sign-in through the session (audited app.signed_in) and widened to the scopes
 * asked for. Its codes and tokens are revoked when the session ends (app-sign-ins.repo). The
 * provider session is pinned to the Deskpass session: the sid of every app is the Deskpass
 * session's id, and authorizations of an earlier session are dropped.
 */
export async function ensureAppGrant(deps: FlowDeps, ctx: KoaContextWithOIDC, auth: Authenticated): Promise<Grant | undefined> {
  const { provider, client, session } = ctx.oidc;
  if (!client || !session) return undefined;
  const found = await findAppByClientId(deps.db, client.clientId);
  if (!found) return undefined;
  const { app } = found;

  for (const [clientId, authorization] of Object.entries(session.authorizations ?? {})) {
    if (authorization.sid !== auth.session.id) delete session.authorizations![clientId];
  }
  session.sidFor(client.clientId, auth.session.id);

  const recorded = await findAppSignIn(deps.db, auth.session.id, app.id);
  let grant = recorded ? await provider.Grant.find(recorded.grantId) : undefined;
  if (!grant || grant.accountId !== auth.agent.id || grant.clientId !== client.clientId) {
    grant = new provider.Grant({ accountId: auth.agent.id, clientId: client.clientId });
  }
  const scopes = [...ctx.oidc.requestParamOIDCScopes].join(' ');
  if (scopes) grant.addOIDCScope(scopes);
  const grantId = await grant.save();

  const now = deps.clock.now();
  const live = await deps.db.transaction().execute(async (trx) => {
    // Held until commit: a session ending meanwhile either sees this sign-in, or this sees it gone.
    if (!(await lockLiveSession(trx, auth.session.id, now))) return false;
    if (!recorded) {
      if (await recordAppSignIn(trx, { sessionId: auth.session.id, appId: app.id, accountId: app.accountId, agentId: auth.agent.id, grantId }, now)) {
        await audit(trx, {
          accountId: app.accountId,
          type: 'app.signed_in',
          actorAgentId: auth.agent.id,
          targetAgentId: auth.agent.id,
          context: { method: 'oidc', ip: ctx.ip ?? null, userAgent: ctx.get('user-agent').slice(0, 512) || null },
          details: { appId: app.id, clientId: app.clientId, appName: app.name, sessionId: auth.session.id },
          at: now,
        });
      }
    } else if (recorded.grantId !== grantId) {
      await replaceAppSignInGrant(trx, auth.session.id, app.id, grantId);
    }
    return true;
  });
  if (!live) {
    await grant.destroy();
    return undefined;
  }
  return grant;
}

/** Is the Deskpass session (a token's sid) still there for this agent, within its absolute lifetime and idle timeout? */
export async function sessionIsLive(deps: FlowDeps, sessionId: string, agentId: string): Promise<boolean> {
  const row = await deps.db.selectFrom('sessions').select(['agent_id', 'account_id', 'expires_at', 'last_seen_at']).where('id', '=', sessionId).executeTakeFirst();
  if (!row || row.agent_id !== agentId) return false;
  const now = deps.clock.now();
  if (new Date(row.expires_at) <= now) return false;
  // idle past the account's timeout: over, as the portal says, even before the sweep removes it
  const account = await findAccountById(deps.db, row.account_id);
  return !!account && addMs(new Date(row.last_seen_at), account.settings.sessionIdleHours * MS_PER_HOUR) > now;
}
