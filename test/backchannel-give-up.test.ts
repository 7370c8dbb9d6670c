import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as client from 'openid-client';
import type { TestApp } from './support/harness.js';
import { startPortal } from './support/portal.js';
import { BACKCHANNEL_GIVE_UP_MS } from '../src/oidc/logout-delivery.js';
import { authorizationRequest, authorizeWithSession, redeem, registerApp, RelyingPartyServer, relyingParty, type RegisteredApp } from './support/oidc.js';

// A help desk's back-channel logout endpoint is down: the logout token is retried with backoff
// for an hour, then given up with an audit entry (the app's tokens died with the session
// already), and nothing else waits on it: the agent's email and another app's logout go out.

describe('a relying party whose back-channel endpoint is down', () => {
  let t: TestApp;
  let origin: string;
  let down: RelyingPartyServer;
  let up: RelyingPartyServer;
  let downApp: RegisteredApp;
  let upApp: RegisteredApp;
  let ownerToken: string;
  let agentRoleId: string;

  before(async () => {
    ({ t, origin } = await startPortal());
    ({ ownerToken, agentRoleId } = await t.setup());
    down = await RelyingPartyServer.start();
    up = await RelyingPartyServer.start();
    downApp = await registerApp(t, down, { name: 'Zammad' });
    upApp = await registerApp(t, up, { name: 'osTicket' });
  });
  after(async () => {
    await down.close();
    await up.close();
    await t.close();
  });

  async function signInTo(config: client.Configuration, rp: RelyingPartyServer, sessionToken: string): Promise<void> {
    const request = await authorizationRequest(config, rp.callback, { scope: 'openid email', prompt: 'consent' });
    await redeem(config, request, await authorizeWithSession(origin, sessionToken, request.url, rp.callback));
  }

  const row = () =>
    t.app.deskpass.deps.db.selectFrom('mail_outbox').select(['id', 'status', 'attempts', 'last_error', 'payload']).where('template', '=', 'backchannel_logout').where('recipient', '=', down.logoutUri).orderBy('id', 'desc').executeTakeFirstOrThrow();

  test('retried with backoff for an hour, then given up with an audit entry; the other app and the mail are not held up', async () => {
    const agent = await t.addAgent(ownerToken, { email: 'ana@acme.test', name: 'Ana Agent', roleId: agentRoleId, password: 'Granite-Orchid-7-Lantern' });
    await signInTo(await relyingParty(origin, downApp), down, agent.token);
    await signInTo(await relyingParty(origin, upApp), up, agent.token);
    down.logoutStatus = 503;

    const since = t.smtp.messages.length;
    const otherBefore = up.logoutTokens.length;
    assert.equal((await t.post('/api/v1/auth/logout', undefined, agent.token)).status, 204);
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: 'ana@acme.test' })).status, 202);
    // nothing waits on the dead endpoint: the other app's logout and the notice arrive
    await up.waitForLogouts(otherBefore + 1);
    await t.mailTo('ana@acme.test', /reset/i, since);

    // An hour and more of a receiver answering 503, the worker woken every 5 minutes.
    for (let minute = 0; minute <= 65; minute += 5) {
      t.clock.advanceMs(5 * 60_000);
      await t.app.deskpass.mailWorker.runOnce();
    }
    const given = await row();
    assert.equal(given.status, 'dropped', 'given up after its hour');
    assert.ok(given.attempts >= 6, `retried first: ${given.attempts} attempts`);
    assert.match(String(given.last_error), /503|status/i);
    assert.equal(given.payload, null, 'nothing of the token is kept');
    assert.equal(down.logoutTokens.length, 0, 'it never arrived');

    const audits = await t.app.deskpass.deps.db.selectFrom('audit_events').select(['details']).where('type', '=', 'app.logout_dropped').where('target_agent_id', '=', agent.id).execute();
    assert.equal(audits.length, 1, 'one audit entry');
    const details = JSON.parse(String(audits[0]!.details)) as { clientId: string; attempts: number; lastError: string };
    assert.equal(details.clientId, downApp.clientId);
    assert.equal(details.attempts, given.attempts);
    assert.match(details.lastError, /503|status/i);

    // Given up is final: the receiver coming back gets nothing more, and nothing is retried.
    down.logoutStatus = 200;
    t.clock.advanceMs(BACKCHANNEL_GIVE_UP_MS);
    await t.app.deskpass.mailWorker.runOnce();
    assert.equal(down.logoutTokens.length, 0);
    assert.equal((await row()).attempts, given.attempts);
  });
});
