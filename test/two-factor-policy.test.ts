// The account's second-factor policy (API.md "Second factor", "Required factor"): who must have
// a factor, the enrolment session of an agent who must and has none (walked over every API
// route, as session-gate-walk does for the required password change), the required change
// first, and the last factor kept.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestApp, OWNER } from './support/harness.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import type { RouteRecord } from '../src/app.js';
import {
  REAUTHENTICATE,
  STATUS,
  TOTP,
  addPasskey,
  auditOf,
  createAgent,
  createAgentWithTotp,
  enrolTotp,
  passkeyAssertion,
  rowsOf,
  signInWithTotp,
  softPasskey,
} from './support/two-factor.js';

/** What an agent in an enrolment session may still do: read themselves and their factors, add one, prove themselves again, sign out. */
const ALLOWED_WHILE_ENROLLING = [
  'DELETE /api/v1/me/passkeys/:id',
  'DELETE /api/v1/me/two-factor/totp',
  'GET /api/v1/me',
  'GET /api/v1/me/two-factor',
  'POST /api/v1/auth/logout',
  'POST /api/v1/auth/reauthenticate',
  'POST /api/v1/me/passkeys',
  'POST /api/v1/me/passkeys/registration-options',
  'POST /api/v1/me/two-factor/recovery-codes',
  'POST /api/v1/me/two-factor/totp',
  'POST /api/v1/me/two-factor/totp/confirm',
];

let t: TestApp;
let adminRoleId: string;
let agentRoleId: string;
let ownerSecret: string;

/** The owner has a factor in this file (they set the policy): both steps each time. */
function ownerToken(): Promise<string> {
  return signInWithTotp(t, OWNER.email, OWNER.password, ownerSecret);
}

async function setPolicy(policy: 'optional' | 'required_for_admins' | 'required'): Promise<void> {
  const answer = await t.patch('/api/v1/account', { twoFactorPolicy: policy }, await ownerToken());
  assert.equal(answer.status, 200, answer.raw);
  assert.equal(answer.body.settings.twoFactorPolicy, policy);
}

function concreteUrl(route: RouteRecord, ids: { agentId: string; roleId: string }): string {
  return route.url
    .replace(':id', route.url.includes('/roles/') ? ids.roleId : ids.agentId)
    .replace(':token', randomBytes(32).toString('base64url'))
    .replace('*', 'anything');
}

before(async () => {
  t = await TestApp.start();
  let ownerTokenAtSetup: string;
  ({ adminRoleId, agentRoleId, ownerToken: ownerTokenAtSetup } = await t.setup());
  ({ secret: ownerSecret } = await enrolTotp(t, ownerTokenAtSetup));
});
after(async () => {
  await t.close();
});

describe('PATCH /api/v1/account {twoFactorPolicy}', () => {
  test('the default is optional; an unknown value is 400 invalid_request', async () => {
    const owner = await ownerToken();
    assert.equal((await t.get('/api/v1/account', owner)).body.settings.twoFactorPolicy, 'optional');
    const bad = await t.patch('/api/v1/account', { twoFactorPolicy: 'always' }, owner);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_request');
  });

  test('an actor who has no factor cannot make one required of themselves: 409 two_factor_not_enabled, the policy unchanged', async () => {
    const admin = await createAgent(t, adminRoleId, await ownerToken());
    for (const policy of ['required', 'required_for_admins']) {
      const answer = await t.patch('/api/v1/account', { twoFactorPolicy: policy }, admin.token);
      assert.equal(answer.status, 409, answer.raw);
      assert.equal(answer.body.error.code, 'two_factor_not_enabled');
    }
    assert.equal((await t.patch('/api/v1/account', { twoFactorPolicy: 'optional' }, admin.token)).status, 200);
    assert.equal((await t.get('/api/v1/account', admin.token)).body.settings.twoFactorPolicy, 'optional');
  });

  test('"required" in GET /me/two-factor follows the policy: admins are agents whose role holds any permission', async () => {
    const owner = await ownerToken();
    const plain = await createAgentWithTotp(t, agentRoleId, owner);
    const admin = await createAgentWithTotp(t, adminRoleId, owner);
    const required = async () => [(await t.get(STATUS, plain.token)).body.required, (await t.get(STATUS, admin.token)).body.required];
    assert.deepEqual(await required(), [false, false]);
    await setPolicy('required_for_admins');
    assert.deepEqual(await required(), [false, true]);
    await setPolicy('required');
    assert.deepEqual(await required(), [true, true]);
    await setPolicy('optional');
  });
});

describe('the enrolment session', () => {
  test('under "required", an agent without a factor gets a session in which every API route but the enrolment ones answers 403 two_factor_enrollment_required, and nothing changes', async () => {
    const owner = await ownerToken();
    const admin = await createAgent(t, adminRoleId, owner);
    await setPolicy('required');
    try {
      const login = await t.post('/api/v1/auth/login', { email: admin.email, password: admin.password });
      assert.equal(login.status, 200, login.raw);
      const token: string = login.body.token;
      t.secrets.add(token);
      const gated = t.app.deskpass.routes.filter((r) => r.config.gate === 'api' && r.method !== 'HEAD');
      const allowed = gated.filter((r) => r.config.allowedDuringTwoFactorEnrollment).map((r) => `${r.method} ${r.url}`);
      assert.deepEqual(allowed.sort(), ALLOWED_WHILE_ENROLLING);
      const ids = { agentId: (await t.get('/api/v1/me', owner)).body.id, roleId: adminRoleId };
      const before = await snapshotState(t);
      for (const route of gated.filter((r) => !r.config.allowedDuringTwoFactorEnrollment)) {
        const answer = await t.request(route.method, concreteUrl(route, ids), { token, ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { body: {} }) });
        assert.equal(answer.status, 403, `${route.method} ${route.url}: ${answer.raw}`);
        assert.equal(answer.body.error.code, 'two_factor_enrollment_required', `${route.method} ${route.url}`);
      }
      assertStateUnchanged(before, await snapshotState(t), 'routes refused while enrolling');
      // what is allowed works
      assert.equal((await t.get('/api/v1/me', token)).status, 200);
      assert.deepEqual((await t.get(STATUS, token)).body, { enabled: false, required: true, totp: null, passkeys: [], recoveryCodesRemaining: 0 });
      assert.equal((await t.post(REAUTHENTICATE, { password: admin.password }, token)).status, 204);
      // a confirmed factor ends the enrolment: the same session goes on
      await enrolTotp(t, token);
      assert.equal((await t.get('/api/v1/agents', token)).status, 200);
      assert.equal((await t.get('/api/v1/me/sessions', token)).status, 200);
    } finally {
      await setPolicy('optional');
    }
  });

  test('a passkey ends the enrolment too, and an enrolment session can sign out', async () => {
    const owner = await ownerToken();
    const first = await createAgent(t, agentRoleId, owner);
    const second = await createAgent(t, agentRoleId, owner);
    await setPolicy('required');
    try {
      const token = await t.login(first.email, first.password);
      assert.equal((await t.get('/api/v1/me/sessions', token)).body.error.code, 'two_factor_enrollment_required');
      const added = await addPasskey(t, token, softPasskey(t));
      assert.equal(added.status, 201, added.raw);
      assert.equal(added.body.recoveryCodes.length, 10);
      assert.equal((await t.get('/api/v1/me/sessions', token)).status, 200);
      const other = await t.login(second.email, second.password);
      assert.equal((await t.post('/api/v1/auth/logout', undefined, other)).status, 204);
      assert.equal((await t.get('/api/v1/me', other)).status, 401);
    } finally {
      await setPolicy('optional');
    }
  });

  test('"required_for_admins": an Administrator without a factor enrols; an agent whose role has no permission does not', async () => {
    const owner = await ownerToken();
    const admin = await createAgent(t, adminRoleId, owner);
    const plain = await createAgent(t, agentRoleId, owner);
    await setPolicy('required_for_admins');
    try {
      const adminToken = await t.login(admin.email, admin.password);
      assert.equal((await t.get('/api/v1/me/sessions', adminToken)).body.error.code, 'two_factor_enrollment_required');
      const plainToken = await t.login(plain.email, plain.password);
      assert.equal((await t.get('/api/v1/me/sessions', plainToken)).status, 200);
    } finally {
      await setPolicy('optional');
    }
  });

  test('the required password change comes first: a one-time password, then the enrolment', async () => {
    const owner = await ownerToken();
    const agent = await createAgent(t, agentRoleId, owner);
    const oneTime = 'Tangerine-Oxbow-Lattice-47';
    t.secrets.add(oneTime);
    assert.equal((await t.put(`/api/v1/agents/${agent.id}/password`, { password: oneTime, requireChangeAtNextLogin: true }, owner)).status, 204);
    await setPolicy('required');
    try {
      const login = await t.post('/api/v1/auth/login', { email: agent.email, password: oneTime });
      assert.equal(login.body.passwordChangeRequired, true);
      const token: string = login.body.token;
      t.secrets.add(token);
      for (const [method, url] of [['GET', STATUS], ['POST', TOTP], ['GET', '/api/v1/me/sessions']]) {
        const answer = await t.request(method, url, { token });
        assert.equal(answer.status, 403, `${method} ${url}`);
        assert.equal(answer.body.error.code, 'password_change_required', `${method} ${url}`);
      }
      assert.equal(await rowsOf(t, 'two_factor_totp', agent.id), 0);
      const changed = 'Nebula-Cranberry-Harp-92';
      t.secrets.add(changed);
      assert.equal((await t.post('/api/v1/me/password', { currentPassword: oneTime, newPassword: changed }, token)).status, 204);
      assert.equal((await t.get('/api/v1/me/sessions', token)).body.error.code, 'two_factor_enrollment_required');
      assert.equal((await t.get(STATUS, token)).status, 200);
    } finally {
      await setPolicy('optional');
    }
  });
});

describe('the last factor stays while one is required', () => {
  test('DELETE of the only authenticator or the only passkey: 409 two_factor_required, nothing removed; with two factors one may go', async () => {
    const owner = await ownerToken();
    const agent = await createAgentWithTotp(t, agentRoleId, owner);
    const passkeyOnly = await createAgent(t, agentRoleId, owner);
    const passkey = softPasskey(t);
    const added = await addPasskey(t, passkeyOnly.token, passkey);
    assert.equal(added.status, 201);
    await setPolicy('required');
    try {
      const token = await signInWithTotp(t, agent.email, agent.password, agent.secret);
      const signedIn = await t.post('/api/v1/auth/passkey', { response: await passkeyAssertion(t, passkey) });
      assert.equal(signedIn.status, 200, signedIn.raw);
      t.secrets.add(signedIn.body.token);
      const before = await snapshotState(t);
      const totp = await t.delete(TOTP, token);
      assert.equal(totp.status, 409);
      assert.equal(totp.body.error.code, 'two_factor_required');
      const key = await t.delete(`/api/v1/me/passkeys/${added.body.id}`, signedIn.body.token);
      assert.equal(key.status, 409);
      assert.equal(key.body.error.code, 'two_factor_required');
      assertStateUnchanged(before, await snapshotState(t), 'refused removals');
      assert.deepEqual(await auditOf(t, 'two_factor.disabled', agent.id), []);
      assert.deepEqual(await auditOf(t, 'passkey.removed', passkeyOnly.id), []);
      // with a passkey besides the authenticator, the authenticator may go (and the codes stay)
      assert.equal((await addPasskey(t, token, softPasskey(t))).status, 201);
      assert.equal((await t.delete(TOTP, token)).status, 204);
      assert.equal(await rowsOf(t, 'recovery_codes', agent.id), 10);
      assert.equal((await t.get('/api/v1/me/sessions', token)).status, 200, 'no enrolment: a factor remains');
    } finally {
      await setPolicy('optional');
    }
  });
});
