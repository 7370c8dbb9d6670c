import type { Deliverer, OutboxWorkerOptions } from '../mail/outbox-worker.js';
import type { FlowDeps } from '../flows/deps.js';
import { audit } from '../flows/consequences.js';
import type { BackchannelLogoutPayload } from '../store/app-sign-ins.repo.js';
import type { ProviderHost } from './host.js';
import { sendBackchannelLogout } from './provider.js';

/**
 * Delivers a queued back-channel logout (store/app-sign-ins.repo queues one per app when a
 * session ends): the provider signs the logout token with its current key and POSTs it; an app
 * that does not answer 200/204 gets it again later (the outbox's backoff). Audited once it arrived.
 */
export function backchannelLogoutDeliverer(deps: Pick<FlowDeps, 'db' | 'clock'>, host: ProviderHost): Deliverer {
  return async (message) => {
    const payload = message.payload as unknown as BackchannelLogoutPayload;
    if ((await sendBackchannelLogout(host.provider, payload.clientId, payload.sub, payload.sid)) === 'gone') return 'skipped';
    await audit(deps.db, {
      accountId: message.accountId,
      type: 'app.logged_out',
      actorAgentId: null,
      targetAgentId: payload.sub,
      context: { method: 'oidc', ip: null, userAgent: null },
      details: { appId: payload.appId, clientId: payload.clientId, appName: payload.appName, sessionId: payload.sid, attempts: message.attempts + 1 },
      at: deps.clock.now(),
    });
    return 'sent';
  };
}

/**
 * How long a back-channel logout is retried before it is given up. The app's tokens from that
 * session are already dead (revoked with the session), so a logout that arrives later only
 * closes the app's own session: after an hour of an app not answering, that is left to its own
 * session lifetime, and the audit log says so.
 */
export const BACKCHANNEL_GIVE_UP_MS = 60 * 60_000;

export function backchannelLogoutGiveUp(deps: Pick<FlowDeps, 'clock'>): NonNullable<OutboxWorkerOptions['giveUp']>[string] {
  return {
    afterMs: BACKCHANNEL_GIVE_UP_MS,
    async record(trx, message, lastError, attempts) {
      const payload = message.payload as unknown as BackchannelLogoutPayload;
      await audit(trx, {
        accountId: message.accountId,
        type: 'app.logout_dropped',
        actorAgentId: null,
        targetAgentId: payload.sub,
        context: { method: 'oidc', ip: null, userAgent: null },
        details: { appId: payload.appId, clientId: payload.clientId, appName: payload.appName, sessionId: payload.sid, attempts, lastError: lastError.slice(0, 200), queuedAt: message.createdAt.toISOString() },
        at: deps.clock.now(),
      });
    },
  };
}
