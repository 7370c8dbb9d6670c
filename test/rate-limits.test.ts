import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestApp, OWNER } from './support/harness.js';

const MINUTE_S = 60;

/** Each test speaks from its own client address, so per-IP counters never mix between tests. */
function freshIp(): string {
  const b = randomBytes(3);
  return `10.${b[0]}.${b[1]}.${b[2]}`;
}

let t: TestApp;
let agentRoleId: string;

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

function assertRateLimited(answer: { status: number; body: any; headers: Record<string, unknown> }, what: string) {
  assert.equal(answer.status, 429, what);
  assert.equal(answer.body.error.code, 'rate_limited', what);
  assert.ok(Number(answer.headers['retry-after']) > 0, `${what}: Retry-After`);
}

describe('forgot password', () => {
  test('5 requests per email address per hour, whatever the IP and whether or not an agent has the address; the 6th is 429 until the hour ends', async () => {
    for (const email of [OWNER.email, `ghost-${randomBytes(4).toString('hex')}@acme.test`]) {
      for (let i = 0; i < 5; i += 1) {
        const answer = await t.request('POST', '/api/v1/auth/forgot-password', { body: { email }, ip: freshIp() });
        assert.equal(answer.status, 202, `${email} request ${i + 1}`);
      }
      assertRateLimited(await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: email.toUpperCase() }, ip: freshIp() }), `${email} 6th`);
    }
    t.clock.advanceSeconds(60 * MINUTE_S);
    assert.equal((await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: OWNER.email }, ip: freshIp() })).status, 202);
  });

  test('30 requests per IP per 15 minutes across addresses; the 31st is 429, and another IP is unaffected', async () => {
    const ip = freshIp();
    for (let i = 0; i < 30; i += 1) {
      assert.equal((await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: `someone${i}-${ip}@acme.test` }, ip })).status, 202);
    }
    assertRateLimited(await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: `late-${ip}@acme.test` }, ip }), '31st from one IP');
    assert.equal((await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: `late-${ip}@acme.test` }, ip: freshIp() })).status, 202);
    t.clock.advanceSeconds(15 * MINUTE_S);
    assert.equal((await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: `later-${ip}@acme.test` }, ip })).status, 202);
  });
});

describe('sign-in', () => {
  test('100 failed sign-ins per IP per 15 minutes; then even a right password from that IP is 429, while other IPs sign in', async () => {
    const ip = freshIp();
    for (let i = 0; i < 100; i += 1) {
      // a different unknown address each time: the per-address lockout is not what is tested here
      const answer = await t.request('POST', '/api/v1/auth/login', { body: { email: `guess${i}@acme.test`, password: 'Wrong-Guess-Password-1' }, ip });
      assert.equal(answer.status, 401);
    }
    assertRateLimited(await t.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: OWNER.password }, ip }), 'right password from the blocked IP');
    assert.equal((await t.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: OWNER.password }, ip: freshIp() })).status, 200);
    t.clock.advanceSeconds(15 * MINUTE_S);
    assert.equal((await t.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: OWNER.password }, ip })).status, 200);
  });

  test('successful sign-ins do not count: an office behind one NAT address signs in 150 times', async () => {
    const ip = freshIp();
    for (let i = 0; i < 150; i += 1) {
      const answer = await t.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: OWNER.password }, ip });
      assert.equal(answer.status, 200, `sign-in ${i + 1}`);
    }
  });
});

describe('reset links and password proofs', () => {
  test('60 reset-link checks and redemptions per IP per 15 minutes; the 61st is 429', async () => {
    const ip = freshIp();
    const token = randomBytes(32).toString('base64url');
    for (let i = 0; i < 30; i += 1) {
      assert.equal((await t.request('GET', `/api/v1/auth/reset-password/${token}`, { ip })).status, 410);
      assert.equal((await t.request('POST', '/api/v1/auth/reset-password', { body: { token, newPassword: 'Whatever-Long-Password-9' }, ip })).status, 410);
    }
    assertRateLimited(await t.request('GET', `/api/v1/auth/reset-password/${token}`, { ip }), '61st check');
  });

  test('60 re-authentications and password changes per IP per 15 minutes', async () => {
    const ip = freshIp();
    const { token } = await t.addAgent(await t.login(OWNER.email, OWNER.password), { email: `proof-${ip}@acme.test`, name: 'Pat Prover', roleId: agentRoleId, password: 'Saffron-Kettle-Orbit-64' });
    for (let i = 0; i < 60; i += 1) {
      const answer = await t.request('POST', '/api/v1/auth/reauthenticate', { body: { password: 'Saffron-Kettle-Orbit-64' }, token, ip });
      assert.equal(answer.status, 204, `re-authentication ${i + 1}`);
    }
    assertRateLimited(await t.request('POST', '/api/v1/auth/reauthenticate', { body: { password: 'Saffron-Kettle-Orbit-64' }, token, ip }), '61st');
  });

  test('allowed requests carry no rate-limit headers that would differ between two addresses', async () => {
    const answer = await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: 'headers@acme.test' }, ip: freshIp() });
    assert.equal(answer.status, 202);
    for (const header of Object.keys(answer.headers)) assert.ok(!header.startsWith('x-ratelimit'), header);
  });
});

describe('RATE_LIMITS=off', () => {
  test('turns every request limit off (load tests only), and the server warns at start', async () => {
    const off = await TestApp.start({ rateLimits: false });
    try {
      await off.setup();
      const ip = freshIp();
      for (let i = 0; i < 40; i += 1) {
        assert.equal((await off.request('POST', '/api/v1/auth/forgot-password', { body: { email: 'same@acme.test' }, ip })).status, 202);
      }
      assert.ok(off.logs.some((line) => line.includes('RATE_LIMITS=off')));
    } finally {
      await off.close();
    }
  });
});
