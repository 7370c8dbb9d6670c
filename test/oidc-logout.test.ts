import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { sweepExpiredRecords } from '../src/flows/maintenance.js';
import type { TestApp } from './support/harness.js';
import { startPortal } from './support/portal.js';
import { authorizationRequest, authorizeWithSession, redeem, registerApp, RelyingPartyServer, relyingParty, verifyLogoutToken, type RegisteredApp } from './support/oidc.js';

/**
 * "A reset, a deactivation or 'sign out everywhere' ends the agent's sessions in every connected
 * help desk, at once": for every way a Deskpass session ends, the app signed in through it gets
 * an OIDC Back-Channel Logout token (verified as a relying party must), and the refresh and
 * access tokens issued through it die with it, in the same transaction.
 */
describe('every end of a Deskpass session logs its apps out', () => {
  let t: TestApp;
  let origin: string;
  let rp: RelyingPartyServer;
  let app: RegisteredApp;
  let config: client.Configuration;
  let ownerToken: string;
  let agentRoleId: string;
  let adminRoleId: string;
  let counter = 0;

  before(async () => {
    ({ t, origin } = await startPortal());
    ({ ownerToken, agentRoleId, adminRoleId } = await t.setup());
    rp = await RelyingPartyServer.start();
    app = await registerApp(t, rp, { name: 'Zammad' });
    config = await relyingParty(origin, app);
  });
  after(async () => {
    await rp.close();
    await t.close();
  });

  async function newAgent(): Promise<{ id: string; email: string; password: string; token: string }> {
    counter += 1;
    const email = `agent${counter}@acme.test`;
    const password = `Granite-Orchid-${counter}-Lantern`;
    const { id, token } = await t.addAgent(ownerToken, { email, name: `Agent ${counter}`, roleId: agentRoleId, password });
    return { id, email, password, token };
  }

  /** The agent opens the app with the session `sessionToken`: tokens the app holds, and the sid. */
  async function signInToApp(sessionToken: string) {
    const request = await authorizationRequest(config, rp.callback, { scope: 'openid email offline_access', prompt: 'consent' });
    const tokens = await redeem(config, request, await authorizeWithSession(origin, sessionToken, request.url, rp.callback));
    assert.ok(tokens.refresh_token);
    return { tokens, sid: String(tokens.claims()!.sid) };
  }

  /** The app got exactly one logout for this session, verified, and what it held is dead. */
  async function assertLoggedOut(agentId: string, held: Awaited<ReturnType<typeof signInToApp>>, before: number) {
    const [token] = (await rp.waitForLogouts(before + 1)).slice(before);
    const claims = await verifyLogoutToken(origin, app.clientId, token!);
    assert.equal(claims.sub, agentId);
    assert.equal(claims.sid, held.sid);
    await assert.rejects(client.refreshTokenGrant(config, held.tokens.refresh_token!), (e: Error & { error?: string }) => e.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(config, held.tokens.access_token, agentId));
    const row = await t.app.deskpass.deps.db.selectFrom('app_sign_ins').select('session_id').where('session_id', '=', held.sid).executeTakeFirst();
    assert.equal(row, undefined);
  }

  test('signing out (POST /auth/logout)', async () => {
    const agent = await newAgent();
    const held = await signInToApp(agent.token);
    const before = rp.logoutTokens.length;
    assert.equal((await t.post('/api/v1/auth/logout', undefined, agent.token)).status, 204);
    await assertLoggedOut(agent.id, held, before);
  });

  test('ending one session from My sessions (DELETE /me/sessions/{id})', async () => {
    const agent = await newAgent();
    const other = await t.login(agent.email, agent.password);
    const held = await signInToApp(other);
    const before = rp.logoutTokens.length;
    assert.equal((await t.delete(`/api/v1/me/sessions/${held.sid}`, agent.token)).status, 204);
    await assertLoggedOut(agent.id, held, before);
  });

  test('"sign out everywhere" by an administrator', async () => {
    const agent = await newAgent();
    const held = await signInToApp(agent.token);
    const before = rp.logoutTokens.length;
    assert.equal((await t.post(`/api/v1/agents/${agent.id}/sessions/revoke`, undefined, ownerToken)).status, 204);
    await assertLoggedOut(agent.id, held, before);
  });

  test("the agent's own password change ends the other sessions' apps", async () => {
    const agent = await newAgent();
    const other = await t.login(agent.email, agent.password);
    const held = await signInToApp(other);
    const before = rp.logoutTokens.length;
    const changed = await t.post('/api/v1/me/password', { currentPassword: agent.password, newPassword: 'Copper-Meadow-Violin-88' }, agent.token);
    assert.equal(changed.status, 204, changed.raw);
    await assertLoggedOut(agent.id, held, before);
  });

  test('a redeemed reset link', async () => {
    const agent = await newAgent();
    const held = await signInToApp(agent.token);
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: agent.email })).status, 202);
    const link = t.linkToken(await t.mailTo(agent.email, /reset/i, since));
    const before = rp.logoutTokens.length;
    assert.equal((await t.post('/api/v1/auth/reset-password', { token: link, newPassword: 'Walnut-Harbor-Signal-31' })).status, 204);
    await assertLoggedOut(agent.id, held, before);
  });

  for (const requireChangeAtNextLogin of [false, true]) {
    test(`an administrator sets the password${requireChangeAtNextLogin ? ' as a one-time password' : ''}`, async () => {
      const agent = await newAgent();
      const held = await signInToApp(agent.token);
      const before = rp.logoutTokens.length;
      const set = await t.put(`/api/v1/agents/${agent.id}/password`, { password: 'Saffron-Glacier-Piano-54', requireChangeAtNextLogin }, ownerToken);
      assert.equal(set.status, 204, set.raw);
      await assertLoggedOut(agent.id, held, before);
    });
  }

  test('deactivation; a deactivated agent then gets no code', async () => {
    const agent = await newAgent();
    const held = await signInToApp(agent.token);
    const before = rp.logoutTokens.length;
    assert.equal((await t.patch(`/api/v1/agents/${agent.id}`, { status: 'deactivated' }, ownerToken)).status, 200);
    await assertLoggedOut(agent.id, held, before);
    const request = await authorizationRequest(config, rp.callback);
    await assert.rejects(authorizeWithSession(origin, agent.token, request.url, rp.callback), /authorization stopped at .*\/login/);
  });

  test('a role change (the groups claim changes)', async () => {
    const agent = await newAgent();
    const held = await signInToApp(agent.token);
    const before = rp.logoutTokens.length;
    assert.equal((await t.patch(`/api/v1/agents/${agent.id}`, { roleId: adminRoleId }, ownerToken)).status, 200);
    await assertLoggedOut(agent.id, held, before);
  });

  test('an app without a back-channel logout URI: its ID token still names the session, and its tokens die with it', async () => {
    const quiet = await registerApp(t, rp, { name: 'osTicket', type: 'confidential', backchannel: false });
    const quietConfig = await relyingParty(origin, quiet);
    const agent = await newAgent();
    const request = await authorizationRequest(quietConfig, rp.callback, { scope: 'openid email offline_access', prompt: 'consent' });
    const tokens = await redeem(quietConfig, request, await authorizeWithSession(origin, agent.token, request.url, rp.callback));
    assert.ok(tokens.claims()!.sid);
    const before = rp.logoutTokens.length;
    assert.equal((await t.post('/api/v1/auth/logout', undefined, agent.token)).status, 204);
    await assert.rejects(client.refreshTokenGrant(quietConfig, tokens.refresh_token!), (e: Error & { error?: string }) => e.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(quietConfig, tokens.access_token, agent.id));
    const queued = await t.app.deskpass.deps.db.selectFrom('mail_outbox').select('id').where('template', '=', 'backchannel_logout').where('payload', 'like', `%${quiet.clientId}%`).execute();
    assert.equal(queued.length, 0, 'nothing to send to an app without a logout URI');
    assert.equal(rp.logoutTokens.length, before);
  });

  test('absolute lifetime, at the next sweep', async () => {
    const agent = await newAgent();
    const held = await signInToApp(agent.token);
    // the session reached its absolute lifetime (however active it was)
    await t.app.deskpass.deps.db.updateTable('sessions').set({ expires_at: t.clock.now().toISOString() }).where('id', '=', held.sid).execute();
    const before = rp.logoutTokens.length;
    await sweepExpiredRecords(t.app.deskpass.deps);
    await assertLoggedOut(agent.id, held, before);
  });

  test('idle timeout, at the next sweep (last: it ages every session)', async () => {
    const agent = await newAgent();
    const held = await signInToApp(agent.token);
    const { sessionIdleHours } = (await t.get('/api/v1/account', ownerToken)).body.settings;
    t.clock.advanceHours(sessionIdleHours + 1);
    const before = rp.logoutTokens.length;
    await sweepExpiredRecords(t.app.deskpass.deps);
    await assertLoggedOut(agent.id, held, before);
  });
});
