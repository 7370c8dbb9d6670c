import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { OWNER, TestApp } from './support/harness.js';
import { rotateSigningKey } from '../src/oidc/keys.js';
import {
  authorizationRequest,
  Balancer,
  browse,
  CookieJar,
  eventually,
  formAction,
  inputValue,
  jarFetch,
  postForm,
  redeem,
  redirectParams,
  registerApp,
  RelyingPartyServer,
  relyingParty,
  verifyLogoutToken,
  type RegisteredApp,
  continuedTo,
} from './support/oidc.js';

/**
 * Two Deskpass instances on ONE store (the suite's PostgreSQL schema, or one SQLite file),
 * sharing SECRET_KEY and one PUBLIC_URL behind a load balancer the test switches: the provider
 * is as stateless as the rest — codes, tokens, grants, sessions, signing keys and the logout
 * outbox all live in the shared store.
 */
describe('the OpenID Connect provider on two instances of one store', () => {
  let balancer: Balancer;
  let a: TestApp;
  let b: TestApp;
  let aOrigin: string;
  let bOrigin: string;
  let rp: RelyingPartyServer;
  let zammad: RegisteredApp;
  let osticket: RegisteredApp;
  let config: client.Configuration;
  let confidential: client.Configuration;
  let ownerTokenOnB: string;
  let agentRoleId: string;
  let counter = 0;

  async function listen(t: TestApp): Promise<string> {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    return `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  }

  before(async () => {
    balancer = await Balancer.start();
    a = await TestApp.start({ publicUrl: balancer.origin });
    // B: the same store, the same SECRET_KEY and PUBLIC_URL; its mail goes to A's capture, so
    // whichever worker sends an invitation, the test sees it
    b = await TestApp.start({ publicUrl: balancer.origin, databaseUrl: a.config.databaseUrl, secretKey: a.config.secretKey, smtpUrl: a.smtp.url });
    b.clock.set(a.clock.now());
    aOrigin = await listen(a);
    bOrigin = await listen(b);
    balancer.target = aOrigin;
    ({ agentRoleId } = await a.setup());
    ownerTokenOnB = await b.login(OWNER.email, OWNER.password);
    rp = await RelyingPartyServer.start();
    zammad = await registerApp(a, rp, { name: 'Zammad' });
    osticket = await registerApp(a, rp, { name: 'osTicket', type: 'confidential' });
    config = await relyingParty(balancer.origin, zammad);
    confidential = await relyingParty(balancer.origin, osticket, 'post');
  });
  after(async () => {
    await rp?.close();
    // B first, without dropping the store A still uses; then A drops it
    await b?.app.close();
    await b?.smtp.stop();
    if (b) rmSync(b.dir, { recursive: true, force: true });
    await a?.close();
    await balancer?.close();
  });

  async function newAgent(): Promise<{ id: string; token: string }> {
    counter += 1;
    const email = `multi${counter}@acme.test`;
    return a.addAgent(await a.login(OWNER.email, OWNER.password), { email, name: `Morgan Multi ${counter}`, roleId: agentRoleId, password: `Cobalt-Willow-${counter}-Ember` });
  }

  /** Authorizes on `on`, redeems on `redeemOn`: the tokens and the browser's jar. */
  async function signIn(cfg: client.Configuration, sessionToken: string, on: string, redeemOn: string, extra: Record<string, string> = {}) {
    const request = await authorizationRequest(cfg, rp.callback, extra);
    const jar = new CookieJar({ deskpass_session: sessionToken });
    balancer.target = on;
    const landing = await browse(jar, request.url.href, rp.callback);
    assert.equal(landing.kind, 'redirect', landing.kind === 'page' ? landing.body.slice(0, 300) : '');
    balancer.target = redeemOn;
    const tokens = await redeem(cfg, request, landing.url);
    return { tokens, jar, sid: String(tokens.claims()!.sid) };
  }

  async function jwksOf(origin: string): Promise<JSONWebKeySet> {
    const answer = await fetch(`${origin}/oidc/jwks`);
    assert.equal(answer.status, 200);
    return (await answer.json()) as JSONWebKeySet;
  }

  test('a code issued by A is redeemed on B; userinfo and refresh on B; the rotated refresh token on A', async () => {
    const agent = await newAgent();
    const since = balancer.log.length;
    const { tokens } = await signIn(config, agent.token, aOrigin, bOrigin, { scope: 'openid email offline_access', prompt: 'consent' });
    assert.deepEqual([...new Set(balancer.served('/oidc/auth', since))], [aOrigin], 'A issued the code');
    assert.deepEqual(balancer.served('/oidc/token', since), [bOrigin], 'B redeemed it');
    assert.equal(tokens.claims()!.sub, agent.id);
    assert.equal(tokens.claims()!.iss, balancer.origin);

    balancer.target = bOrigin;
    assert.equal((await client.fetchUserInfo(config, tokens.access_token, agent.id)).sub, agent.id);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token);
    // the used refresh token is refused on A too, and the new one works there
    balancer.target = aOrigin;
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), (e: Error & { error?: string }) => e.error === 'invalid_grant');
    // (reuse of a rotated refresh token revokes the grant: sign in again for the next step)
    const again = await signIn(confidential, agent.token, bOrigin, aOrigin, { scope: 'openid email offline_access', prompt: 'consent' });
    balancer.target = aOrigin;
    const onA = await client.refreshTokenGrant(confidential, again.tokens.refresh_token!);
    assert.equal(onA.claims()!.sub, agent.id);
    balancer.target = bOrigin;
    assert.equal((await client.fetchUserInfo(confidential, onA.access_token, agent.id)).sub, agent.id);
  });

  test('every hop of one sign-in on the other instance: authorization on A, the interaction page on B, the resume on A, the code on B', async () => {
    const agent = await newAgent();
    const request = await authorizationRequest(config, rp.callback, { max_age: '60' });
    const jar = new CookieJar({ deskpass_session: agent.token });
    // the session is older than max_age: the interaction page asks for the password
    a.clock.advanceSeconds(120);
    b.clock.set(a.clock.now());
    const backends = [aOrigin, bOrigin];
    let next = request.url.href;
    let hop = 0;
    const since = balancer.log.length;
    let page: string | undefined;
    for (; hop < 10 && !next.startsWith(rp.callback); hop += 1) {
      balancer.target = backends[hop % 2]!;
      const answer = await jarFetch(jar, next);
      const location = answer.headers.get('location');
      if (!location) {
        page = await answer.text();
        assert.equal(answer.status, 200, page.slice(0, 300));
        assert.match(page, /type="password"/);
        // the form goes back to the other instance
        balancer.target = backends[(hop + 1) % 2]!;
        const action = formAction(page, next, /\/confirm$/);
        const confirmed = await postForm(jar, action, { _csrf: inputValue(page, '_csrf'), password: `Cobalt-Willow-${counter}-Ember` });
        next = await continuedTo(confirmed, action);
        hop += 1;
        continue;
      }
      next = new URL(location, next).href;
    }
    assert.ok(page, 'the password was asked for');
    assert.deepEqual(new Set(balancer.log.slice(since).map((e) => e.backend)), new Set([aOrigin, bOrigin]), 'both instances served the sign-in');
    balancer.target = bOrigin;
    const tokens = await redeem(config, request, next);
    assert.equal(tokens.claims()!.sub, agent.id);
    assert.equal(tokens.claims()!.auth_time, Math.floor(a.clock.now().getTime() / 1000));
  });

  test('"sign out everywhere" through B reaches the app signed in on A exactly once (both workers poll one outbox)', async () => {
    const agent = await newAgent();
    const { tokens, sid } = await signIn(confidential, agent.token, aOrigin, aOrigin, { scope: 'openid email offline_access', prompt: 'consent' });
    const before = rp.logoutTokens.length;
    b.clock.set(a.clock.now());
    const revoked = await b.post(`/api/v1/agents/${agent.id}/sessions/revoke`, undefined, ownerTokenOnB);
    assert.equal(revoked.status, 204, revoked.raw);
    const [token] = (await rp.waitForLogouts(before + 1)).slice(before);
    const claims = await verifyLogoutToken(balancer.origin, osticket.clientId, token!);
    assert.equal(claims.sub, agent.id);
    assert.equal(claims.sid, sid);

    // the row is marked sent; then both workers look again and find nothing: exactly one token
    const db = a.app.deskpass.deps.db;
    await eventually(
      () => db.selectFrom('mail_outbox').select('status').where('template', '=', 'backchannel_logout').orderBy('id', 'desc').executeTakeFirstOrThrow(),
      (row) => row.status === 'sent',
      'the logout row marked sent',
    );
    await Promise.all([a.app.deskpass.mailWorker.runOnce(), b.app.deskpass.mailWorker.runOnce()]);
    assert.equal(rp.logoutTokens.length, before + 1, 'one logout token, not one per instance');
    const audits = await db.selectFrom('audit_events').select('id').where('type', '=', 'app.logged_out').where('target_agent_id', '=', agent.id).execute();
    assert.equal(audits.length, 1);

    // what the app held is dead on both instances
    for (const origin of [aOrigin, bOrigin]) {
      balancer.target = origin;
      await assert.rejects(client.refreshTokenGrant(confidential, tokens.refresh_token!), (e: Error & { error?: string }) => e.error === 'invalid_grant');
      await assert.rejects(client.fetchUserInfo(confidential, tokens.access_token, agent.id));
    }
    assert.equal(await db.selectFrom('app_sign_ins').select('app_id').where('session_id', '=', sid).executeTakeFirst(), undefined);
  });

  test('keys: one JWKS on both; after a rotation new ID tokens carry the new kid, the old kid stays published and old ID tokens still verify', async () => {
    const agent = await newAgent();
    const jwksA = await jwksOf(aOrigin);
    assert.deepEqual(await jwksOf(bOrigin), jwksA, 'both instances serve the same JWKS');
    const old = await signIn(confidential, agent.token, aOrigin, bOrigin, { scope: 'openid email offline_access', prompt: 'consent' });
    const oldKid = decodeProtectedHeader(old.tokens.id_token!).kid!;
    assert.ok(jwksA.keys.some((k) => k.kid === oldKid));

    const { kid: newKid, retired } = await rotateSigningKey(a.app.deskpass.deps.db, a.config.secretKey, a.clock.now());
    assert.ok(retired.includes(oldKid));
    assert.equal(await a.app.deskpass.oidc.refreshKeys(), true);
    assert.equal(await b.app.deskpass.oidc.refreshKeys(), true);
    assert.equal(await b.app.deskpass.oidc.refreshKeys(), false, 'nothing new the second time');

    const rotatedA = await jwksOf(aOrigin);
    assert.deepEqual(await jwksOf(bOrigin), rotatedA, 'still one JWKS');
    const kids = rotatedA.keys.map((k) => k.kid);
    assert.ok(kids.includes(newKid), 'the new kid is published');
    assert.ok(kids.includes(oldKid), 'the old kid is still published');

    for (const [on, redeemOn] of [[aOrigin, bOrigin], [bOrigin, aOrigin]] as const) {
      const fresh = await signIn(config, agent.token, on, redeemOn);
      assert.equal(decodeProtectedHeader(fresh.tokens.id_token!).kid, newKid, `signed on ${redeemOn} with the new key`);
      await jwtVerify(fresh.tokens.id_token!, createLocalJWKSet(rotatedA), { issuer: balancer.origin, audience: zammad.clientId });
    }
    // the browser's provider session from before the rotation still holds (cookie keys come from SECRET_KEY, not the signing keys)
    const silent = await authorizationRequest(confidential, rp.callback, { prompt: 'none' });
    balancer.target = bOrigin;
    const silentLanding = await browse(old.jar, silent.url.href, rp.callback);
    assert.equal(silentLanding.kind, 'redirect');
    assert.equal(redirectParams(silentLanding.url).get('error'), null, silentLanding.url);
    // the ID token signed before the rotation verifies against the JWKS published now
    const { payload } = await jwtVerify(old.tokens.id_token!, createLocalJWKSet(await jwksOf(bOrigin)), { issuer: balancer.origin, audience: osticket.clientId });
    assert.equal(payload.sub, agent.id);
    // tokens issued before the rotation still work on both
    balancer.target = bOrigin;
    const refreshed = await client.refreshTokenGrant(confidential, old.tokens.refresh_token!);
    assert.equal(decodeProtectedHeader(refreshed.id_token!).kid, newKid);
    // and the logout token for that session is signed with the new key, verified through the JWKS
    const before = rp.logoutTokens.length;
    assert.equal((await a.post('/api/v1/auth/logout', undefined, agent.token)).status, 204);
    // (both apps signed in through this session: one token each)
    const arrived = (await rp.waitForLogouts(before + 2)).slice(before);
    for (const token of arrived) assert.equal(decodeProtectedHeader(token).kid, newKid);
    const audiences = arrived.map((token) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).aud as string);
    assert.deepEqual([...audiences].sort(), [zammad.clientId, osticket.clientId].sort());
    const forOsticket = arrived[audiences.indexOf(osticket.clientId)]!;
    assert.equal((await verifyLogoutToken(balancer.origin, osticket.clientId, forOsticket)).sid, old.sid);
  });
});
