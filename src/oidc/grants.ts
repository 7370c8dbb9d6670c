import type { KoaContextWithOIDC } from 'oidc-provider';
import type { FlowDeps } from '../flows/deps.js';
import { isSessionOver, noteActivity, type Authenticated } from '../flows/sessions.js';
import { mustEnrollTwoFactor } from '../flows/session-gate.js';
import { audit } from '../flows/consequences.js';
import { findAppByClientId } from '../store/apps.repo.js';
import { findAppSignIn, recordAppSignIn, replaceAppSignInGrant } from '../store/app-sign-ins.repo.js';
import { findGrantSessionHolder, lockLiveSession, type SessionHolder } from '../store/sessions.repo.js';

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

/**
 * The Deskpass session a grant was issued through, with its agent, when an app may still use
 * the grant's tokens: the agent is active, not locked and not due to set up a required second
 * factor, and the session is within its absolute
 * lifetime and its idle timeout. An app using its tokens is the agent at work: the session's last
 * activity moves (noteActivity), as a portal request moves it, so an agent busy in the help desk
 * is not signed out for leaving the portal alone (Keycloak's SSO idle works the same way).
 */
export async function useGrantSession(deps: FlowDeps, grantId: string, agentId: string): Promise<SessionHolder | undefined> {
  const holder = await findGrantSessionHolder(deps.db, grantId);
  const now = deps.clock.now();
  if (!holder || holder.agent.id !== agentId || holder.agent.status !== 'active') return undefined;
  if (holder.lockedUntil && holder.lockedUntil > now) return undefined;
  if (isSessionOver(holder.session, holder.account.settings, now)) return undefined;
  // The account came to require a second factor this agent has not set up: like every other
  // door, the apps wait for the enrolment (the portal sends the agent there).
  if (mustEnrollTwoFactor(holder.account, holder.agent)) return undefined;
  await noteActivity(deps.db, holder.session.id, holder.session.lastSeenAt, now);
  return holder;
}
