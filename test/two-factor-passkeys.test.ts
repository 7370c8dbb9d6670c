// Passkeys (API.md "Second factor"): registration, a passkey alone as both factors, a passkey
// as the second step, re-authentication with one, removal. The passkeys are software
// authenticators (support/soft-passkey.ts) whose signatures @simplewebauthn/server verifies.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp } from './support/harness.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import { SoftPasskey } from './support/soft-passkey.js';
import {
  LOGIN,
  REAUTHENTICATE,
  SECOND_STEP,
  STATUS,
  addPasskey,
  amrOf as amrOfIn,
  auditOf,
  challengeFor,
  createAgent,
  createAgentWithTotp,
  passkeyAssertion,
  rowsOf,
  softPasskey,
} from './support/two-factor.js';

const FRESH_S = 10 * 60;

let t: TestApp;
let agentRoleId: string;

const newAgent = () => createAgent(t, agentRoleId);
const agentWithTotp = () => createAgentWithTotp(t, agentRoleId);
const amrOf = (token: string) => amrOfIn(t, token);

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

describe('passkeys', () => {
  const PASSKEYS = '/api/v1/me/passkeys';

  test('registration options: WebAuthn creation options for this RP, discoverable and user-verified, the agent\'s passkeys excluded; stale: 403', async () => {
    const agent = await newAgent();
    const options = await t.post(`${PASSKEYS}/registration-options`, undefined, agent.token);
    assert.equal(options.status, 200);
    assert.equal(options.body.rp.id, 'localhost');
    assert.equal(Buffer.from(options.body.user.id, 'base64url').toString('utf8'), agent.id);
    assert.equal(options.body.user.name, agent.email);
    assert.equal(options.body.authenticatorSelection.residentKey, 'required');
    assert.equal(options.body.authenticatorSelection.userVerification, 'required');
    assert.deepEqual(options.body.excludeCredentials, []);
    const passkey = softPasskey(t);
    assert.equal((await addPasskey(t, agent.token, passkey)).status, 201);
    const next = await t.post(`${PASSKEYS}/registration-options`, undefined, agent.token);
    assert.deepEqual(next.body.excludeCredentials.map((c: { id: string }) => c.id), [passkey.id]);
    t.clock.advanceSeconds(FRESH_S + 1);
    const stale = await t.post(`${PASSKEYS}/registration-options`, undefined, agent.token);
    assert.equal(stale.status, 403);
    assert.equal(stale.body.error.code, 'reauthentication_required');
  });

  test('the first passkey: 201 {id, name, createdAt, recoveryCodes}; listed in the status, audited, emailed by name; a second one brings no codes', async () => {
    const agent = await newAgent();
    const since = t.smtp.messages.length;
    const added = await addPasskey(t, agent.token, softPasskey(t), 'Work laptop');
    assert.equal(added.status, 201, added.raw);
    assert.deepEqual(Object.keys(added.body).sort(), ['createdAt', 'id', 'name', 'recoveryCodes']);
    assert.equal(added.body.name, 'Work laptop');
    assert.equal(added.body.recoveryCodes.length, 10);
    const status = await t.get(STATUS, agent.token);
    assert.equal(status.body.enabled, true);
    assert.equal(status.body.totp, null);
    assert.deepEqual(status.body.passkeys, [{ id: added.body.id, name: 'Work laptop', createdAt: added.body.createdAt, lastUsedAt: null }]);
    assert.equal(status.body.recoveryCodesRemaining, 10);
    assert.deepEqual((await auditOf(t, 'passkey.added', agent.id)).map((e) => e.details!.name), ['Work laptop']);
    assert.deepEqual((await auditOf(t, 'two_factor.enabled', agent.id)).map((e) => e.details), [{ method: 'passkey' }]);
    assert.match((await t.mailTo(agent.email, /passkey was added/i, since)).text, /named "Work laptop"/);
    const second = await addPasskey(t, agent.token, softPasskey(t), 'Phone');
    assert.equal(second.status, 201);
    assert.deepEqual(Object.keys(second.body).sort(), ['createdAt', 'id', 'name']);
    assert.equal((await auditOf(t, 'two_factor.enabled', agent.id)).length, 1);
  });

  test('a response that does not verify is 400 passkey_invalid and stores nothing: another origin, no user verification, a replayed ceremony', async () => {
    const agent = await newAgent();
    const before = await snapshotState(t);
    const foreign = new SoftPasskey('localhost', 'https://evil.example');
    const unverified = softPasskey(t);
    unverified.userVerified = false;
    for (const passkey of [foreign, unverified]) {
      const answer = await addPasskey(t, agent.token, passkey);
      assert.equal(answer.status, 400, answer.raw);
      assert.equal(answer.body.error.code, 'passkey_invalid');
    }
    // a good response, sent twice: the ceremony's challenge works once
    const options = await t.post(`${PASSKEYS}/registration-options`, undefined, agent.token);
    const response = softPasskey(t).register(options.body);
    assertStateUnchanged(before, await snapshotState(t), 'refused passkeys');
    assert.equal((await t.post(PASSKEYS, { name: 'Laptop', response }, agent.token)).status, 201);
    const replay = await t.post(PASSKEYS, { name: 'Laptop again', response }, agent.token);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error.code, 'passkey_invalid');
    assert.equal(await rowsOf(t, 'passkeys', agent.id), 1);
    // another agent's session cannot use this agent's ceremony
    const other = await newAgent();
    const theirs = await t.post(`${PASSKEYS}/registration-options`, undefined, agent.token);
    const stolen = await t.post(PASSKEYS, { name: 'Stolen', response: softPasskey(t).register(theirs.body) }, other.token);
    assert.equal(stolen.body.error.code, 'passkey_invalid');
    assert.equal(await rowsOf(t, 'passkeys', other.id), 0);
  });

  test('a passkey alone signs in (both factors): POST /auth/passkey/options then /auth/passkey → a session with amr hwk+mfa; its use is recorded', async () => {
    const agent = await newAgent();
    const passkey = softPasskey(t);
    assert.equal((await addPasskey(t, agent.token, passkey)).status, 201);
    const options = await t.post('/api/v1/auth/passkey/options', {});
    assert.equal(options.status, 200);
    assert.equal(options.body.userVerification, 'required');
    assert.equal(options.body.rpId, 'localhost');
    const response = passkey.assert(options.body);
    const signedIn = await t.post('/api/v1/auth/passkey', { response });
    assert.equal(signedIn.status, 200, signedIn.raw);
    assert.equal(signedIn.body.agent.id, agent.id);
    t.secrets.add(signedIn.body.token);
    assert.deepEqual(await amrOf(signedIn.body.token), ['hwk', 'mfa']);
    assert.equal((await t.get(STATUS, signedIn.body.token)).body.passkeys[0].lastUsedAt, t.clock.now().toISOString());
    // the same assertion again, an unknown credential, an old counter: 401 invalid_credentials, no session
    const sessions = await rowsOf(t, 'sessions', agent.id);
    assert.equal((await t.post('/api/v1/auth/passkey', { response })).body.error.code, 'invalid_credentials');
    assert.equal((await t.post('/api/v1/auth/passkey', { response: await passkeyAssertion(t, softPasskey(t)) })).body.error.code, 'invalid_credentials');
    assert.equal((await t.post('/api/v1/auth/passkey', { response: await passkeyAssertion(t, passkey, { counter: 1 }) })).body.error.code, 'invalid_credentials');
    assert.equal(await rowsOf(t, 'sessions', agent.id), sessions);
  });

  test('the second step takes a passkey (amr pwd+hwk+mfa); the methods offer it', async () => {
    const agent = await agentWithTotp();
    const passkey = softPasskey(t);
    assert.equal((await addPasskey(t, agent.token, passkey)).status, 201);
    const login = await t.post(LOGIN, { email: agent.email, password: agent.password });
    assert.deepEqual(login.body.methods, ['totp', 'passkey', 'recovery_code']);
    t.secrets.add(login.body.challenge);
    const answer = await t.post(SECOND_STEP, { challenge: login.body.challenge, passkey: await passkeyAssertion(t, passkey) });
    assert.equal(answer.status, 200, answer.raw);
    assert.deepEqual(await amrOf(answer.body.token), ['pwd', 'hwk', 'mfa']);
    // another agent's passkey is no proof of this agent
    const other = await newAgent();
    const theirs = softPasskey(t);
    assert.equal((await addPasskey(t, other.token, theirs)).status, 201);
    const challenge = await challengeFor(t, agent.email, agent.password);
    const refused = await t.post(SECOND_STEP, { challenge, passkey: await passkeyAssertion(t, theirs) });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'two_factor_code_incorrect');
  });

  test('re-authentication with a passkey alone: 204; a foreign one 400 passkey_invalid', async () => {
    const agent = await newAgent();
    const passkey = softPasskey(t);
    assert.equal((await addPasskey(t, agent.token, passkey)).status, 201);
    t.clock.advanceSeconds(FRESH_S + 1);
    const foreign = await t.post(REAUTHENTICATE, { passkey: await passkeyAssertion(t, softPasskey(t)) }, agent.token);
    assert.equal(foreign.status, 400);
    assert.equal(foreign.body.error.code, 'passkey_invalid');
    assert.equal((await t.post(REAUTHENTICATE, { passkey: await passkeyAssertion(t, passkey) }, agent.token)).status, 204);
    assert.equal((await t.post(`${PASSKEYS}/registration-options`, undefined, agent.token)).status, 200);
  });

  test('DELETE /me/passkeys/{id}: 204 when fresh (audited, emailed), 403 when stale, 404 for another agent\'s', async () => {
    const agent = await newAgent();
    const first = await addPasskey(t, agent.token, softPasskey(t), 'Laptop');
    const second = await addPasskey(t, agent.token, softPasskey(t), 'Phone');
    const other = await newAgent();
    const theirs = await addPasskey(t, other.token, softPasskey(t), 'Theirs');
    const foreign = await t.delete(`${PASSKEYS}/${theirs.body.id}`, agent.token);
    assert.equal(foreign.status, 404);
    assert.equal(await rowsOf(t, 'passkeys', other.id), 1);
    const since = t.smtp.messages.length;
    assert.equal((await t.delete(`${PASSKEYS}/${first.body.id}`, agent.token)).status, 204);
    assert.match((await t.mailTo(agent.email, /passkey was removed/i, since)).text, /"Laptop"/);
    assert.deepEqual((await auditOf(t, 'passkey.removed', agent.id)).map((e) => e.details), [{ passkeyId: first.body.id, name: 'Laptop', lastFactor: false }]);
    assert.equal((await t.get(STATUS, agent.token)).body.recoveryCodesRemaining, 10, 'another factor remains: the codes stay');
    t.clock.advanceSeconds(FRESH_S + 1);
    const stale = await t.delete(`${PASSKEYS}/${second.body.id}`, agent.token);
    assert.equal(stale.status, 403);
    assert.equal(stale.body.error.code, 'reauthentication_required');
    assert.equal(await rowsOf(t, 'passkeys', agent.id), 1);
  });
});
