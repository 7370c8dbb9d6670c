import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER } from './support/harness.js';

/** The lockout, session and rate-limit numbers are account settings (PATCH /api/v1/account). */
let t: TestApp;
let agentRoleId: string;

async function ownerToken() {
  return t.login(OWNER.email, OWNER.password);
}

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

test('GET /account shows the lockout, session and rate-limit settings with their defaults', async () => {
  const account = await t.get('/api/v1/account', await ownerToken());
  const { lockoutThreshold, lockoutMinutes, sessionIdleHours, sessionAbsoluteHours, rateLimits } = account.body.settings;
  assert.deepEqual(
    { lockoutThreshold, lockoutMinutes, sessionIdleHours, sessionAbsoluteHours, rateLimits },
    { lockoutThreshold: 5, lockoutMinutes: 60, sessionIdleHours: 8, sessionAbsoluteHours: 168, rateLimits: { failedSignInsPerIp: 100, forgotPasswordPerEmail: 5, forgotPasswordPerIp: 30, resetLinkPerIp: 60, passwordProofsPerIp: 60, tokenRequestsPerClient: 3000 } },
  );
});

test('lockoutThreshold 3 and lockoutMinutes 10 lock an address after 3 failures for 10 minutes', async () => {
  assert.equal((await t.patch('/api/v1/account', { lockoutThreshold: 3, lockoutMinutes: 10 }, await ownerToken())).status, 200);
  const { id } = await t.addAgent(await ownerToken(), { email: 'lock3@acme.test', name: 'Lou Three', roleId: agentRoleId, password: 'Marigold-Tractor-Velvet-8' });
  assert.ok(id);
  for (let i = 0; i < 2; i += 1) assert.equal((await t.post('/api/v1/auth/login', { email: 'lock3@acme.test', password: `Wrong-${i}-Marigold` })).status, 401);
  const third = await t.post('/api/v1/auth/login', { email: 'lock3@acme.test', password: 'Wrong-3-Marigold' });
  assert.equal(third.status, 423);
  assert.ok(Number(third.headers['retry-after']) <= 600);
  t.clock.advanceSeconds(600);
  assert.equal((await t.post('/api/v1/auth/login', { email: 'lock3@acme.test', password: 'Marigold-Tractor-Velvet-8' })).status, 200);
  await t.patch('/api/v1/account', { lockoutThreshold: 5, lockoutMinutes: 60 }, await ownerToken());
});

test('sessionIdleHours 1 ends a session idle for an hour', async () => {
  assert.equal((await t.patch('/api/v1/account', { sessionIdleHours: 1 }, await ownerToken())).status, 200);
  const token = await ownerToken();
  t.clock.advanceSeconds(3600);
  assert.equal((await t.get('/api/v1/me', token)).status, 401);
  await t.patch('/api/v1/account', { sessionIdleHours: 8 }, await ownerToken());
});

test('rateLimits.forgotPasswordPerEmail 2 answers 429 at the third request for one address', async () => {
  assert.equal((await t.patch('/api/v1/account', { rateLimits: { forgotPasswordPerEmail: 2 } }, await ownerToken())).status, 200);
  const statuses = [];
  for (let i = 0; i < 3; i += 1) statuses.push((await t.post('/api/v1/auth/forgot-password', { email: 'twice@acme.test' })).status);
  assert.deepEqual(statuses, [202, 202, 429]);
});

test('settings outside their limits are refused with 400 invalid_request and change nothing', async () => {
  const token = await ownerToken();
  for (const body of [{ lockoutThreshold: 1 }, { lockoutMinutes: 0 }, { sessionIdleHours: 0 }, { sessionIdleHours: 200, sessionAbsoluteHours: 100 }, { rateLimits: { resetLinkPerIp: 0 } }, { rateLimits: { failedSignInsPerIp: 1.5 } }]) {
    const answer = await t.patch('/api/v1/account', body, token);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.equal(answer.body.error.code, 'invalid_request');
  }
  const account = await t.get('/api/v1/account', token);
  assert.equal(account.body.settings.lockoutThreshold, 5);
  assert.equal(account.body.settings.rateLimits.resetLinkPerIp, 60);
});
