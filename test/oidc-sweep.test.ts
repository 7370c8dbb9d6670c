import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { sweepExpiredRecords } from '../src/flows/maintenance.js';
import { kyselyAdapter } from '../src/oidc/adapter.js';
import { PROVIDER_TTL } from '../src/oidc/provider.js';
import { OWNER, type TestApp } from './support/harness.js';
import { startPortal } from './support/portal.js';
import { authorizationRequest, browse, CookieJar, redeem, registerApp, RelyingPartyServer, relyingParty, type RegisteredApp } from './support/oidc.js';

/**
 * The hourly sweep (sweepExpiredRecords) removes the provider's records past their expiry —
 * codes, access tokens, interactions — and keeps every live one (refresh tokens, grants,
 * provider sessions), so the table does not grow without end and nothing live is lost.
 */
describe('the sweep of expired provider records', () => {
  let t: TestApp;
  let origin: string;
  let rp: RelyingPartyServer;
  let zammad: RegisteredApp;
  let config: client.Configuration;

  before(async () => {
    ({ t, origin } = await startPortal({}));
    await t.setup();
    rp = await RelyingPartyServer.start();
    zammad = await registerApp(t, rp, { name: 'Zammad' });
    config = await relyingParty(origin, zammad);
  });
  after(async () => {
    await rp.close();
    await t.close();
  });

  const db = () => t.app.deskpass.deps.db;
  const rows = () => db().selectFrom('oidc_payloads').select(['model', 'id', 'expires_at', 'grant_id']).execute();
  const idsOf = (list: { model: string; id: string }[]) => new Set(list.map((r) => `${r.model}:${r.id}`));

  test('records issued by a real sign-in: the code and the access token go when expired; the refresh token, grant and session stay and still work', async () => {
    const sessionToken = await t.login(OWNER.email, OWNER.password);
    const request = await authorizationRequest(config, rp.callback, { scope: 'openid email offline_access', prompt: 'consent' });
    const landing = await browse(new CookieJar({ deskpass_session: sessionToken }), request.url.href, rp.callback);
    assert.equal(landing.kind, 'redirect');
    const tokens = await redeem(config, request, landing.url);
    // a sign-in abandoned at the portal's sign-in page leaves its interaction behind (a used one is destroyed)
    const abandoned = await authorizationRequest(config, rp.callback);
    assert.equal((await browse(new CookieJar(), abandoned.url.href, rp.callback)).kind, 'page');
    const issued = await rows();
    const byModel = (model: string) => issued.filter((r) => r.model === model);
    for (const model of ['AuthorizationCode', 'AccessToken', 'RefreshToken', 'Grant', 'Session', 'Interaction']) assert.ok(byModel(model).length >= 1, `a ${model} row`);

    // nothing has expired yet: the sweep removes nothing
    await sweepExpiredRecords(t.app.deskpass.deps);
    assert.deepEqual(idsOf(await rows()), idsOf(issued));

    // past the access token's 10 minutes (and the code's minute), within the interaction's hour
    t.clock.advanceSeconds(PROVIDER_TTL.AccessToken + 1);
    await sweepExpiredRecords(t.app.deskpass.deps);
    const left = await rows();
    const leftIds = idsOf(left);
    for (const r of [...byModel('AuthorizationCode'), ...byModel('AccessToken')]) assert.ok(!leftIds.has(`${r.model}:${r.id}`), `${r.model} swept`);
    for (const r of [...byModel('RefreshToken'), ...byModel('Grant'), ...byModel('Session'), ...byModel('Interaction')]) assert.ok(leftIds.has(`${r.model}:${r.id}`), `${r.model} kept`);
    for (const r of left) assert.ok(r.expires_at === null || new Date(r.expires_at) > t.clock.now(), `no expired row left: ${r.model}`);

    // the swept access token is dead; the kept refresh token works
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, String(tokens.claims()!.sub)));
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    assert.ok(refreshed.access_token);

    // past the interaction's hour (within the session's idle timeout of 8 hours)
    t.clock.advanceSeconds(PROVIDER_TTL.Interaction);
    await sweepExpiredRecords(t.app.deskpass.deps);
    const later = idsOf(await rows());
    for (const r of byModel('Interaction')) assert.ok(!later.has(`${r.model}:${r.id}`), 'Interaction swept');
    for (const r of [...byModel('Grant'), ...byModel('Session')]) assert.ok(later.has(`${r.model}:${r.id}`), `${r.model} still kept`);
  });

  test("a session past its idle timeout is ended for its app's tokens at once, not only at the next sweep", async () => {
    const sessionToken = await t.login(OWNER.email, OWNER.password);
    const request = await authorizationRequest(config, rp.callback, { scope: 'openid email offline_access', prompt: 'consent' });
    const landing = await browse(new CookieJar({ deskpass_session: sessionToken }), request.url.href, rp.callback);
    assert.equal(landing.kind, 'redirect');
    const tokens = await redeem(config, request, landing.url);
    const sub = String(tokens.claims()!.sub);
    const { sessionIdleHours } = (await t.get('/api/v1/account', sessionToken)).body.settings as { sessionIdleHours: number };
    // idle: neither the portal nor anything else used the session for longer than the timeout
    t.clock.advanceHours(sessionIdleHours);
    t.clock.advanceSeconds(1);
    const before = rp.logoutTokens.length;
    // (API.md: any end of the session, expiry included, kills the tokens issued through it)
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), (e: Error & { error?: string }) => e.error === 'invalid_grant');
    assert.equal((await t.get('/api/v1/me', sessionToken)).status, 401, 'the portal agrees: the session is over');
    // the app hears of it (queued when the portal saw the session idle, or by the sweep)
    await sweepExpiredRecords(t.app.deskpass.deps);
    await rp.waitForLogouts(before + 1);
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, sub));
  });

  test('at the boundary, in batches: expired at or before now goes, a millisecond later stays, rows without expiry stay', async () => {
    const Adapter = kyselyAdapter(db(), t.clock);
    const expired = Array.from({ length: 5 }, (_, i) => `sweep-expired-${i}`);
    for (const id of expired) await new Adapter('AccessToken').upsert(id, { jti: id, kind: 'AccessToken' } as never, 30);
    await new Adapter('AccessToken').upsert('sweep-boundary', { jti: 'sweep-boundary', kind: 'AccessToken' } as never, 60);
    await new Adapter('AccessToken').upsert('sweep-live', { jti: 'sweep-live', kind: 'AccessToken' } as never, 61);
    await new Adapter('ReplayDetection').upsert('sweep-forever', { jti: 'sweep-forever' } as never, 0);
    const live = new Adapter('AccessToken');
    assert.ok(await live.find('sweep-expired-0'));

    t.clock.advanceSeconds(60);
    // the adapter already refuses what expired, before any sweep
    assert.equal(await live.find('sweep-expired-0'), undefined);
    assert.equal(await live.find('sweep-boundary'), undefined, 'expires_at == now is expired');
    assert.ok(await live.find('sweep-live'));
    // a batch of 2: the sweep goes on until every expired row is gone
    await sweepExpiredRecords(t.app.deskpass.deps, 2);
    const left = await db().selectFrom('oidc_payloads').select('id').where('id', 'like', 'sweep-%').execute();
    assert.deepEqual(left.map((r) => r.id).sort(), ['sweep-forever', 'sweep-live']);
    assert.ok(await new Adapter('ReplayDetection').find('sweep-forever'));
    assert.ok(await live.find('sweep-live'));
  });
});
