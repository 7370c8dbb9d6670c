import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../src/config.js';
import { TestApp } from './support/harness.js';

// TRUST_PROXY behind a reverse proxy: off, the peer is the client (every agent behind the proxy
// shares one address and its per-IP limits); set to the proxy's address, X-Forwarded-For names
// the client, so each client has its own per-IP limit and the audit log records its address.
// A client that is not the proxy cannot choose its address by sending the header.

const PROXY = '10.1.2.3';
const apps: TestApp[] = [];
after(async () => {
  for (const t of apps) await t.close();
});

/** Forgot-password requests from `forwardedFor` through a peer `peer` until the per-IP limit (30 per 15 minutes) answers 429; the count it took. */
async function failuresUntilLimited(t: TestApp, peer: string, forwardedFor: string, max = 60): Promise<number> {
  for (let i = 1; i <= max; i += 1) {
    const answer = await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: `nobody${i}-${forwardedFor}@acme.test` }, ip: peer, headers: { 'x-forwarded-for': forwardedFor } });
    if (answer.status === 429) return i;
  }
  return Infinity;
}

describe('TRUST_PROXY', () => {
  test('is refused as "true" and for what is not an address; takes addresses, CIDR ranges and hop counts', () => {
    const base = { SECRET_KEY: 'ab'.repeat(32) }; // no key file written under ./data
    assert.throws(() => loadConfig({ ...base, TRUST_PROXY: 'true' }), (e: Error) => e instanceof ConfigError && /would let any client choose its own address/.test(e.message));
    assert.throws(() => loadConfig({ ...base, TRUST_PROXY: 'proxy.internal' }), (e: Error) => e instanceof ConfigError && /"proxy.internal" is not an IP address or CIDR range/.test(e.message));
    assert.throws(() => loadConfig({ ...base, TRUST_PROXY: '10.0.0.0/33' }), ConfigError);
    for (const wide of ['0.0.0.0/0', '::/0', '127.0.0.1,0.0.0.0/0', '10.0.0.0/7']) {
      assert.throws(() => loadConfig({ ...base, TRUST_PROXY: wide }), (e: Error) => e instanceof ConfigError && /too wide/.test(e.message), wide);
    }
    for (const hops of ['0', '6', '99']) assert.throws(() => loadConfig({ ...base, TRUST_PROXY: hops }), (e: Error) => e instanceof ConfigError && /a hop count is 1–5/.test(e.message), hops);
    assert.deepEqual(loadConfig({ ...base, TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1' }).trustProxy, ['127.0.0.1', '10.0.0.0/8', '::1']);
    assert.equal(loadConfig({ ...base, TRUST_PROXY: '2' }).trustProxy, 2);
    assert.equal(loadConfig(base).trustProxy, undefined);
  });

  test('off: every client behind the proxy shares its address, and one limit', async () => {
    const t = await TestApp.start();
    apps.push(t);
    await t.setup();
    const first = await failuresUntilLimited(t, PROXY, '203.0.113.1');
    assert.equal(first, 31, 'the per-IP limit is reached');
    assert.equal(await failuresUntilLimited(t, PROXY, '203.0.113.2', 1), 1, 'another client behind the same proxy is limited at once');
  });

  test('set: each client has its own limit and its own address in the audit log; a client that is not the proxy cannot pick its address', async () => {
    const t = await TestApp.start({ trustProxy: [PROXY] });
    apps.push(t);
    await t.setup();
    const first = await failuresUntilLimited(t, PROXY, '203.0.113.1');
    assert.equal(first, 31, 'the 31st request of one client is limited');
    assert.equal(await failuresUntilLimited(t, PROXY, '203.0.113.2'), first, 'another client behind the proxy has a limit of its own');
    const failed = await t.request('POST', '/api/v1/auth/login', { body: { email: 'owner@acme.test', password: 'Wrong-Password-Guess-1' }, ip: PROXY, headers: { 'x-forwarded-for': '203.0.113.2' } });
    assert.equal(failed.status, 401);
    const events = await t.app.deskpass.deps.db.selectFrom('audit_events').select('ip').where('type', '=', 'login.failed').execute();
    assert.ok(events.some((e) => e.ip === '203.0.113.2'), 'the audit log has the client address');
    assert.ok(!events.some((e) => e.ip === PROXY), 'not the proxy');

    // A direct client (not the proxy) sending X-Forwarded-For is counted on its own address.
    const direct = '198.51.100.9';
    const limitedAt = await failuresUntilLimited(t, direct, '203.0.113.77');
    assert.equal(limitedAt, first);
    assert.equal(await failuresUntilLimited(t, direct, '203.0.113.78', 1), 1, 'a new forged address does not reset its limit');
  });
});
