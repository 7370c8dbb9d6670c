// The outside attack on the second factor (issue 11), its findings as tests: a pending authenticator
// belongs to the session that started it; a change to factors whose session ended meanwhile (an
// administrator's reset) does not land; wrong codes on re-authentication lock like wrong passwords,
// and the lock email says the password was known.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp } from './support/harness.js';
import { DEFAULT_SETTINGS } from '../src/domain/account-settings.js';
import { authenticateSession } from '../src/flows/sessions.js';
import { addPasskey, confirmTotpEnrolment, regenerateRecoveryCodes } from '../src/flows/two-factor.js';
import { registrationOptions } from '../src/flows/passkeys.js';
import { SoftAuthenticator } from './support/soft-authenticator.js';
import { CONFIRM, REAUTHENTICATE, STATUS, TOTP, codeNow, createAgent, createAgentWithTotp, nextCode, rowsOf } from './support/two-factor.js';

const CONTEXT = { method: 'api' as const, ip: '203.0.113.7', userAgent: 'attack-test' };

describe('the attack on the second factor, fixed at the root', () => {
  let t: TestApp;
  let agentRoleId: string;
  let adminRoleId: string;
  before(async () => {
    t = await TestApp.start();
    ({ agentRoleId, adminRoleId } = await t.setup());
  });
  after(async () => t?.close());

  test('a pending authenticator is seen and confirmed only by the session that started it, and only while it is fresh', async () => {
    const victim = await createAgent(t, agentRoleId);
    const other = await t.login(victim.email, victim.password); // another session of the same agent (a stolen one)
    const begun = await t.post(TOTP, {}, victim.token);
    assert.equal(begun.status, 200, begun.raw);
    // the other session, with the right code, cannot make it active (and so gets no recovery codes)
    const hijack = await t.post(CONFIRM, { code: codeNow(t, begun.body.secret) }, other);
    assert.equal(hijack.status, 400, hijack.raw);
    assert.equal(hijack.body.error.code, 'two_factor_code_incorrect');
    assert.equal((await t.get(STATUS, victim.token)).body.totp, null);
    // nor can the starting session once its sign-in is older than 10 minutes
    t.clock.advanceSeconds(10 * 60 + 1);
    const late = await t.post(CONFIRM, { code: codeNow(t, begun.body.secret) }, victim.token);
    assert.equal(late.status, 403, late.raw);
    assert.equal(late.body.error.code, 'reauthentication_required');
    assert.equal((await t.get(STATUS, victim.token)).body.enabled, false);
    assert.equal(await rowsOf(t, 'recovery_codes', victim.id), 0);
  });

  test('a passkey, an authenticator or new recovery codes whose session ended meanwhile (an administrator reset it) are refused and stored nowhere', async () => {
    const deps = t.app.deskpass.deps;
    const victim = await createAgentWithTotp(t, agentRoleId);
    const auth = (await authenticateSession(deps, victim.token))!;
    // the ceremony and the set-up start while the session is live…
    const authenticator = SoftAuthenticator.forSite(t.config.publicUrl);
    const response = authenticator.register(await registrationOptions(deps, auth.account, auth.agent, auth.session.id) as never);
    const begun = await t.post(TOTP, {}, victim.token);
    const code = nextCode(t, begun.body.secret);
    // …then an administrator resets the agent's factor, which ends the session
    const admin = await createAgentWithTotp(t, adminRoleId);
    const reset = await t.request('DELETE', `/api/v1/agents/${victim.id}/two-factor`, { token: admin.token });
    assert.equal(reset.status, 204, reset.raw);
    assert.equal(await rowsOf(t, 'sessions', victim.id), 0);
    // the requests admitted before the reset finish after it: none of them lands
    assert.equal((await addPasskey(deps, auth, { name: 'Late', response, context: CONTEXT })).ok, false);
    assert.equal((await confirmTotpEnrolment(deps, auth, code, CONTEXT)).ok, false);
    assert.equal((await regenerateRecoveryCodes(deps, auth, CONTEXT)).ok, false);
    assert.equal(await rowsOf(t, 'passkeys', victim.id), 0);
    assert.equal(await rowsOf(t, 'two_factor_totp', victim.id), 0);
    assert.equal(await rowsOf(t, 'recovery_codes', victim.id), 0);
    const row = await deps.db.selectFrom('agents').select('two_factor_enabled').where('id', '=', victim.id).executeTakeFirstOrThrow();
    assert.equal(row.two_factor_enabled, 0);
  });

  test('an agent with only an unconfirmed authenticator has no factor to reset: 409 two_factor_not_enabled, their sessions stay', async () => {
    const victim = await createAgent(t, agentRoleId);
    assert.equal((await t.post(TOTP, {}, victim.token)).status, 200);
    const admin = await createAgentWithTotp(t, adminRoleId);
    const sessions = await rowsOf(t, 'sessions', victim.id);
    const reset = await t.request('DELETE', `/api/v1/agents/${victim.id}/two-factor`, { token: admin.token });
    assert.equal(reset.status, 409, reset.raw);
    assert.equal(reset.body.error.code, 'two_factor_not_enabled');
    assert.equal(await rowsOf(t, 'sessions', victim.id), sessions);
  });

  test('the right password with wrong codes on re-authentication, one after another, locks the session at the threshold; then even the right code is refused', async () => {
    const victim = await createAgentWithTotp(t, agentRoleId);
    const threshold = DEFAULT_SETTINGS.lockoutThreshold;
    const answers: number[] = [];
    for (let i = 0; i < threshold + 2; i += 1) {
      answers.push((await t.post(REAUTHENTICATE, { password: victim.password, code: '000000' }, victim.token)).status);
    }
    assert.deepEqual(answers, [...Array(threshold - 1).fill(401), 423, 423, 423]);
    const right = await t.post(REAUTHENTICATE, { password: victim.password, code: nextCode(t, victim.secret) }, victim.token);
    assert.equal(right.status, 423, right.raw);
    // the lock email says what it means: whoever made these attempts knows the password and holds a session
    const mail = await t.mailTo(victim.email, /locked/i);
    assert.match(mail.text, /wrong codes/);
    assert.match(mail.text, /someone knows your password and has one of your sessions: change your password now/);
  });
});
