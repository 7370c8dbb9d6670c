import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { OWNER } from './support/harness.js';
import { startPortal } from './support/portal.js';
import { authorizationRequest, authorizeWithSession, redeem, registerApp, RelyingPartyServer, relyingParty, type RegisteredApp } from './support/oidc.js';
import type { TestApp } from './support/harness.js';

/**
 * Deskpass as an OpenID Connect provider, through openid-client (a certified relying party
 * library) against the real server: the checks of the OpenID conformance suite's Basic OP and
 * Config OP plans that apply to this configuration (code flow, PKCE, public and confidential
 * clients, RS256), rebuilt as tests.
 */
describe('OpenID Connect provider', () => {
  let t: TestApp;
  let origin: string;
  let rp: RelyingPartyServer;
  let zammad: RegisteredApp;
  let osticket: RegisteredApp;
  let owner: { ownerId: string; ownerToken: string; adminRoleId: string; agentRoleId: string };

  before(async () => {
    ({ t, origin } = await startPortal());
    owner = await t.setup();
    rp = await RelyingPartyServer.start();
    zammad = await registerApp(t, rp, { name: 'Zammad' });
    osticket = await registerApp(t, rp, { name: 'osTicket', type: 'confidential' });
  });
  after(async () => {
    await rp.close();
    await t.close();
  });

  test('discovery names every endpoint under the issuer, code flow only, S256 only, RS256 only', async () => {
    const answer = await fetch(`${origin}/.well-known/openid-configuration`);
    assert.equal(answer.status, 200);
    const d = (await answer.json()) as Record<string, unknown>;
    assert.equal(d.issuer, origin);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint', 'revocation_endpoint', 'introspection_endpoint']) {
      assert.ok(String(d[key]).startsWith(`${origin}/oidc/`), `${key}: ${d[key]}`);
    }
    assert.deepEqual(d.response_types_supported, ['code']);
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(d.id_token_signing_alg_values_supported, ['RS256']);
    assert.deepEqual(d.token_endpoint_auth_methods_supported, ['none', 'client_secret_basic', 'client_secret_post']);
    assert.deepEqual(d.grant_types_supported, ['authorization_code', 'refresh_token']);
    assert.equal(d.backchannel_logout_supported, true);
    assert.equal(d.backchannel_logout_session_supported, true);
    assert.equal(d.registration_endpoint, undefined, 'no dynamic registration');
    assert.equal(d.frontchannel_logout_supported, undefined, 'no front-channel logout');
    assert.ok((d.scopes_supported as string[]).includes('groups'));
  });

  test('discovery ignores the Host header a client sends: every URL is the issuer', async () => {
    const answer = await t.request('GET', '/.well-known/openid-configuration', { headers: { host: 'evil.example' } });
    assert.equal(answer.status, 200);
    assert.ok(!answer.raw.includes('evil.example'));
  });

  test('code + PKCE for a public client: ID token validated, claims, sid is the Deskpass session, userinfo GET and POST', async () => {
    const config = await relyingParty(origin, zammad);
    const request = await authorizationRequest(config, rp.callback);
    const sessionToken = await t.login(OWNER.email, OWNER.password);
    const callback = await authorizeWithSession(origin, sessionToken, request.url, rp.callback);
    const tokens = await redeem(config, request, callback);
    const claims = tokens.claims()!;
    assert.equal(claims.iss, origin);
    assert.equal(claims.aud, zammad.clientId);
    assert.equal(claims.sub, owner.ownerId);
    assert.equal(claims.nonce, request.nonce);
    assert.equal(claims.email, OWNER.email);
    assert.equal(claims.email_verified, true);
    assert.equal(claims.name, OWNER.name);
    assert.deepEqual(claims.groups, ['Administrator']);
    assert.deepEqual(claims.amr, ['pwd']);
    assert.equal(typeof claims.auth_time, 'number');
    const session = await t.app.deskpass.deps.db.selectFrom('sessions').select('id').where('id', '=', String(claims.sid)).executeTakeFirst();
    assert.ok(session, 'sid names the Deskpass session');
    assert.ok(tokens.expires_in! <= 600, 'access tokens live at most 10 minutes');
    const viaGet = await client.fetchUserInfo(config, tokens.access_token, owner.ownerId);
    assert.equal(viaGet.email, OWNER.email);
    assert.deepEqual(viaGet.groups, ['Administrator']);
    const viaPost = await fetch(`${origin}/oidc/userinfo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: tokens.access_token }) });
    assert.equal(viaPost.status, 200);
    assert.equal(((await viaPost.json()) as { sub: string }).sub, owner.ownerId);
    const mine = await t.get('/api/v1/me/sessions', sessionToken);
    const current = mine.body.sessions.find((x: { current: boolean }) => x.current);
    assert.deepEqual(current.apps, [{ id: zammad.id, name: 'Zammad' }], 'My sessions names the apps signed in through each session');
    const audit = await t.get('/api/v1/audit-events?type=app.signed_in', owner.ownerToken);
    assert.equal(audit.body.events.length, 1, audit.raw);
    assert.equal(audit.body.events[0].actor.id, owner.ownerId);
  });

  test('confidential client, client_secret_basic and client_secret_post; a wrong secret is invalid_client', async () => {
    const sessionToken = await t.login(OWNER.email, OWNER.password);
    for (const auth of ['basic', 'post'] as const) {
      const config = await relyingParty(origin, osticket, auth);
      const request = await authorizationRequest(config, rp.callback);
      const tokens = await redeem(config, request, await authorizeWithSession(origin, sessionToken, request.url, rp.callback));
      assert.equal(tokens.claims()!.sub, owner.ownerId);
    }
    const wrong = await relyingParty(origin, { ...osticket, clientSecret: 'not-the-secret' }, 'basic');
    const request = await authorizationRequest(wrong, rp.callback);
    const callback = await authorizeWithSession(origin, sessionToken, request.url, rp.callback);
    await assert.rejects(redeem(wrong, request, callback), (error: Error & { error?: string; status?: number; cause?: unknown }) => {
      // openid-client surfaces the 401 as a WWW-Authenticate challenge naming the error
      const said = error.error ?? JSON.stringify(error.cause);
      return /invalid_client/.test(String(said));
    });
  });

  test('refresh tokens rotate: the new one works, the used one is refused', async () => {
    const config = await relyingParty(origin, zammad);
    const request = await authorizationRequest(config, rp.callback, { scope: 'openid email offline_access', prompt: 'consent' });
    const sessionToken = await t.login(OWNER.email, OWNER.password);
    const tokens = await redeem(config, request, await authorizeWithSession(origin, sessionToken, request.url, rp.callback));
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token);
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), (error: Error & { error?: string }) => error.error === 'invalid_grant');
  });

  test('the token endpoint is rate limited per client before the provider runs: a refused request consumes nothing', async () => {
    const limited = await registerApp(t, rp, { name: 'Limited', type: 'confidential' });
    const config = await relyingParty(origin, limited, 'basic');
    const sessionToken = await t.login(OWNER.email, OWNER.password);
    const first = await authorizationRequest(config, rp.callback);
    const second = await authorizationRequest(config, rp.callback);
    const firstCallback = await authorizeWithSession(origin, sessionToken, first.url, rp.callback);
    const secondCallback = await authorizeWithSession(origin, sessionToken, second.url, rp.callback);
    assert.equal((await t.patch('/api/v1/account', { rateLimits: { tokenRequestsPerClient: 1 } }, owner.ownerToken)).status, 200);
    try {
      await redeem(config, first, firstCallback);
      const code = new URL(secondCallback).searchParams.get('code')!;
      const basic = `Basic ${Buffer.from(`${limited.clientId}:${limited.clientSecret}`).toString('base64')}`;
      const refused = await fetch(`${origin}/oidc/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: rp.callback, code_verifier: second.verifier }),
      });
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
      assert.equal(((await refused.json()) as { error: string }).error, 'temporarily_unavailable');
      const stored = await t.app.deskpass.deps.db.selectFrom('oidc_payloads').select('consumed_at').where('model', '=', 'AuthorizationCode').where('id', '=', code).executeTakeFirst();
      assert.ok(stored && stored.consumed_at === null, 'the refused request did not reach the provider');
      // another client's budget is its own
      const fresh = await registerApp(t, rp, { name: 'Another' });
      const freshConfig = await relyingParty(origin, fresh);
      const other = await authorizationRequest(freshConfig, rp.callback);
      await redeem(freshConfig, other, await authorizeWithSession(origin, sessionToken, other.url, rp.callback));
    } finally {
      assert.equal((await t.patch('/api/v1/account', { rateLimits: { tokenRequestsPerClient: 3000 } }, owner.ownerToken)).status, 200);
    }
  });

  test('the authorization endpoint passes the one session gate: a required password change comes before any code', async () => {
    const { id } = await t.addAgent(owner.ownerToken, { email: 'gate.agent@acme.test', name: 'Gate Agent', roleId: owner.agentRoleId, password: 'Marble-Canyon-Falcon-64' });
    const oneTime = 'Velvet-Quarry-Nickel-85';
    t.secrets.add(oneTime);
    assert.equal((await t.put(`/api/v1/agents/${id}/password`, { password: oneTime, requireChangeAtNextLogin: true }, owner.ownerToken)).status, 204);
    const sessionToken = await t.login('gate.agent@acme.test', oneTime);
    const config = await relyingParty(origin, zammad);
    const request = await authorizationRequest(config, rp.callback);
    await assert.rejects(authorizeWithSession(origin, sessionToken, request.url, rp.callback), /authorization stopped at .*\/password-change-required\?next=%2Finteraction%2F/);
    const signIns = await t.app.deskpass.deps.db.selectFrom('app_sign_ins').select('session_id').where('agent_id', '=', id).execute();
    assert.deepEqual(signIns, [], 'no grant, no sign-in recorded');
    // prompt=none says so to the app instead
    const silent = await authorizationRequest(config, rp.callback, { prompt: 'none' });
    const answer = await authorizeWithSession(origin, sessionToken, silent.url, rp.callback);
    assert.equal(new URL(answer).searchParams.get('error'), 'login_required');
  });
});

