import type Provider from 'oidc-provider';
import type { FlowDeps } from '../flows/deps.js';
import { admitSession } from '../flows/session-gate.js';
import { deleteSession } from '../store/sessions.repo.js';

/**
 * RP-initiated logout ends the Deskpass session (API.md): once the provider has accepted the
 * confirmation (its xsrf check passed and it answered with the redirect), the browser's Deskpass
 * session and the one the provider session carried end, which logs every other app out through
 * the outbox, and the portal cookie is cleared.
 */
export function installSessionEndOnLogout(provider: Provider, deps: FlowDeps, cookieName: string, secure: boolean): void {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route !== 'end_session_confirm' || ctx.status !== 303) return;
    // only a confirmed sign-out (logout=yes) ends the session; without it the library signs the
    // agent out of the asking app alone, and the Deskpass session stays
    if (!ctx.oidc.params?.logout) return;
    // the library asks (its confirmation page) only when the provider session has an account;
    // without one it auto-submits logout=yes unasked: then the portal's session is not ended
    // (RP-Initiated Logout §2: the OP must ask; else any page could sign agents out)
    if (!ctx.oidc.session?.accountId) return;
    const ended = new Map<string, string>();
    const token = ctx.cookies.get(cookieName, { signed: false });
    const outcome = await admitSession(deps, token, { allowedDuringPasswordChange: true, allowedWhenTemporaryPasswordExpired: true });
    if (outcome.ok) ended.set(outcome.auth.session.id, outcome.auth.agent.id);
    const accountId = ctx.oidc.session?.accountId;
    for (const authorization of Object.values(ctx.oidc.session?.authorizations ?? {}) as { sid?: string }[]) {
      if (authorization.sid && accountId) ended.set(authorization.sid, accountId);
    }
    const now = deps.clock.now();
    await deps.db.transaction().execute(async (trx) => {
      for (const [sessionId, agentId] of ended) await deleteSession(trx, agentId, sessionId, 'signed_out_from_app', now);
    });
    if (token) ctx.cookies.set(cookieName, null, { path: '/', httpOnly: true, sameSite: 'lax', secure, signed: false, overwrite: true });
  });
}
