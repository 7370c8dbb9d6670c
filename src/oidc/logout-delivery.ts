import type { Deliverer } from '../mail/outbox-worker.js';
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
