import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import * as client from 'openid-client';
import type { TestApp } from './support/harness.js';
import { startPortal } from './support/portal.js';
import { authorizationRequest, authorizeWithSession, redeem, registerApp, RelyingPartyServer, relyingParty, type RegisteredApp } from './support/oidc.js';

/** A POST with exactly this request target (no client library normalises it), answering the status. */
function rawPost(origin: string, target: string, body: string): Promise<number> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.end(`POST ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
    let answer = '';
    socket.on('data', (chunk) => (answer += String(chunk)));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

/**
 * The rules an outside review attacked (issue 10): a locked agent gets no code, no token and
 * no userinfo; a stranger naming an app's (public) client id cannot use up its token budget; an
 * idle session ends its apps' tokens at the idle timeout, and an app in use keeps it alive.
 */
describe('the provider keeps the session rules', () => {
  let t: TestApp;
  let origin: string;
  let rp: RelyingPartyServer;
  let app: RegisteredApp;
  let config: client.Configuration;
  let owner: Awaited<ReturnType<TestApp['setup']>>;
  let counter = 0;

  before(async () => {
    ({ t, origin } = await startPortal());
    owner = await t.setup();
    rp = await RelyingPartyServer.start();
    app = await registerApp(t, rp, { name: 'osTicket', type: 'confidential', backchannel: false });
    config = await relyingParty(origin, app);
  });
  after(async () => {
    await rp.close();
    await t.close();
  });

  async function agentInApp() {
    counter += 1;
    const email = `rules${counter}@acme.test`;
    const password = `Juniper-Comet-${counter}-Anvil`;
    const agent = await t.addAgent(owner.ownerToken, { email, name: `Rules ${counter}`, roleId: owner.agentRoleId, password });
    const request = await authorizationRequest(config, rp.callback, { scope: 'openid email offline_access', prompt: 'consent' });
    const tokens = await redeem(config, request, await authorizeWithSession(origin, agent.token, request.url, rp.callback));
    return { ...agent, email, password, tokens };
  }

  test('a locked agent gets no code, no token and no userinfo, even with a live session; unlocked, the same session works again', async () => {
    const agent = await agentInApp();
    for (let i = 0; i < 5; i += 1) await t.request('POST', '/api/v1/auth/login', { body: { email: agent.email, password: 'wrong-wrong-wrong-1' } });
    assert.equal((await t.get(`/api/v1/agents/${agent.id}`, owner.ownerToken)).body.locked, true);

    const silent = await authorizationRequest(config, rp.callback, { prompt: 'none' });
    assert.equal(new URL(await authorizeWithSession(origin, agent.token, silent.url, rp.callback)).searchParams.get('error'), 'login_required');
    const request = await authorizationRequest(config, rp.callback);
    await assert.rejects(authorizeWithSession(origin, agent.token, request.url, rp.callback), /authorization stopped at .*\/interaction\/.*: 423 .*Signing in is locked/s);
    await assert.rejects(client.refreshTokenGrant(config, agent.tokens.refresh_token!), (e: Error & { error?: string }) => e.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(config, agent.tokens.access_token, agent.id));
    // a resource server asking about the tokens hears the same (the library's introspection alone would say active)
    assert.equal((await client.tokenIntrospection(config, agent.tokens.access_token)).active, false);
    assert.equal((await client.tokenIntrospection(config, agent.tokens.refresh_token!)).active, false);
    const signIns = await t.app.deskpass.deps.db.selectFrom('app_sign_ins').select('grant_id').where('agent_id', '=', agent.id).execute();
    assert.equal(signIns.length, 1, 'no new grant while locked');

    assert.equal((await t.post(`/api/v1/agents/${agent.id}/unlock`, undefined, owner.ownerToken)).status, 204);
    const again = await authorizationRequest(config, rp.callback);
    const tokens = await redeem(config, again, await authorizeWithSession(origin, agent.token, again.url, rp.callback));
    assert.equal(tokens.claims()!.sub, agent.id);
  });

  test("requests naming an app's client id from another address do not use up the app's token budget", async () => {
    // an app of its own: the budget counts every request of the window, this file's others too
    const own = await registerApp(t, rp, { name: 'Budgeted', type: 'confidential', backchannel: false });
    const ownConfig = await relyingParty(origin, own);
    const agent = await agentInApp();
    const request = await authorizationRequest(ownConfig, rp.callback, { scope: 'openid offline_access', prompt: 'consent' });
    const held = await redeem(ownConfig, request, await authorizeWithSession(origin, agent.token, request.url, rp.callback));
    assert.equal((await t.patch('/api/v1/account', { rateLimits: { tokenRequestsPerClient: 3 } }, owner.ownerToken)).status, 200);
    try {
      const stranger = '203.0.113.9';
      const answers: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const answer = await t.request('POST', '/oidc/token', {
          ip: stranger,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'guess', client_id: own.clientId, client_secret: 'guess' }).toString(),
        });
        answers.push(answer.status);
      }
      assert.deepEqual(answers, [401, 401, 401, 429, 429], 'the stranger is limited on their own address');
      // other spellings of the endpoint (the provider's router forgives case and a trailing
      // slash) are not forwarded past the guard; introspection and revocation share the budget
      for (const path of ['/oidc/Token', '/oidc/token/', '/oidc/TOKEN/', '/oidc/token/Introspection']) {
        const answer = await t.request('POST', path, {
          ip: stranger,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'guess', client_id: own.clientId, client_secret: 'guess' }).toString(),
        });
        assert.equal(answer.status, 404, path);
      }
      // request targets Fastify's and Koa's routers read differently (a fragment, absolute-form)
      for (const target of ['/oidc/Token#x', '/oidc/Token/introspection#', `${origin}/oidc/Token`, `${origin}/oidc/token/revocation/`, 'http://evil.example/oidc/Token']) {
        const status = await rawPost(origin, target, `client_id=${own.clientId}&client_secret=guess&grant_type=refresh_token&refresh_token=guess&token=guess`);
        assert.ok(status === 404 || status === 429 || status === 400, `${target}: ${status}`);
      }
      // (a percent-encoded spelling is decoded by Fastify onto the guarded route itself)
      for (const path of ['/oidc/token/introspection', '/oidc/token/revocation', '/oidc/%74oken']) {
        const answer = await t.request('POST', path, {
          ip: stranger,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ token: 'guess', grant_type: 'refresh_token', refresh_token: 'guess', client_id: own.clientId, client_secret: 'guess' }).toString(),
        });
        assert.equal(answer.status, 429, path);
      }
      // the help desk's own server, from its own address, still refreshes
      const refreshed = await client.refreshTokenGrant(ownConfig, held.refresh_token!);
      assert.ok(refreshed.access_token);
    } finally {
      assert.equal((await t.patch('/api/v1/account', { rateLimits: { tokenRequestsPerClient: 3000 } }, owner.ownerToken)).status, 200);
    }
  });

  test('an app in use keeps the session from going idle; left idle past the timeout, its tokens die before any sweep', async () => {
    const busy = await agentInApp();
    const idle = await agentInApp();
    const { sessionIdleHours } = (await t.get('/api/v1/account', owner.ownerToken)).body.settings;
    let busyRefresh = busy.tokens.refresh_token!;
    // the busy agent's help desk refreshes every hour; nobody touches Deskpass itself
    for (let hour = 0; hour <= sessionIdleHours; hour += 1) {
      t.clock.advanceHours(1);
      busyRefresh = (await client.refreshTokenGrant(config, busyRefresh)).refresh_token!;
    }
    await assert.rejects(client.refreshTokenGrant(config, idle.tokens.refresh_token!), (e: Error & { error?: string }) => e.error === 'invalid_grant');
    assert.equal((await t.get('/api/v1/me', idle.token)).status, 401, 'the idle session itself is over');
    assert.equal((await t.get('/api/v1/me', busy.token)).status, 200, 'the busy agent is still signed in to Deskpass');
  });
});
