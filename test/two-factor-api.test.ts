// The second factor through the API (API.md "Second factor"): every row of its tables, every
// rule and refusal, with the side effects read from the store and the SMTP capture (sessions,
// factors, recovery codes, audit events, emails), not only the status codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestApp, OWNER } from './support/harness.js';
import { DEFAULT_SETTINGS } from '../src/domain/account-settings.js';
import { UNKNOWN_DEVICES } from '../src/store/login-attempts.repo.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import {
  CONFIRM,
  LOGIN,
  REAUTHENTICATE,
  RECOVERY_CODE_FORMAT,
  RECOVERY_CODES,
  SECOND_STEP,
  STATUS,
  TOTP,
  amrOf as amrOfIn,
  auditOf,
  challengeFor,
  codeNow,
  createAgent,
  createAgentWithTotp,
  enrolTotp,
  nextCode,
  outboxCount as outboxCountIn,
  regenerateCodes,
  rowsOf,
  secondStepWithRecoveryCode,
  signInWithTotp,
} from './support/two-factor.js';

const THRESHOLD = DEFAULT_SETTINGS.lockoutThreshold;
const FRESH_S = 10 * 60;
const CHALLENGE_S = 5 * 60;

let t: TestApp;
let agentRoleId: string;

/** A fresh owner session: the clock moves in this file, so nobody keeps a token across tests. */
function ownerToken(): Promise<string> {
  return t.login(OWNER.email, OWNER.password);
}

const newAgent = (roleId = agentRoleId) => createAgent(t, roleId);
const agentWithTotp = (roleId = agentRoleId) => createAgentWithTotp(t, roleId);
const outboxCount = (recipient: string) => outboxCountIn(t, recipient);
const amrOf = (token: string) => amrOfIn(t, token);

/** Failures counted on the door of unknown devices (where these sign-ins come from). */
async function failedCount(email: string): Promise<number> {
  const rows = await t.app.deskpass.deps.db.selectFrom('login_attempts').select('failed_count').where('email_normalized', '=', email).where('client', '=', UNKNOWN_DEVICES).execute();
  return rows.reduce((sum, row) => sum + Number(row.failed_count), 0);
}

function setCookies(answer: { headers: Record<string, unknown> }): string[] {
  const raw = answer.headers['set-cookie'];
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
}

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

describe('GET /me/two-factor', () => {
  test('an agent without a factor: not enabled, not required, no authenticator, no passkeys, no codes', async () => {
    const agent = await newAgent();
    const status = await t.get(STATUS, agent.token);
    assert.equal(status.status, 200);
    assert.deepEqual(status.body, { enabled: false, required: false, totp: null, passkeys: [], recoveryCodesRemaining: 0 });
  });

  test('with an authenticator: enabled, confirmedAt the moment of confirmation, ten codes remaining, and no secret in the answer', async () => {
    const agent = await newAgent();
    const confirmedAt = t.clock.now().toISOString();
    const { secret } = await enrolTotp(t, agent.token);
    const status = await t.get(STATUS, agent.token);
    assert.deepEqual(status.body, { enabled: true, required: false, totp: { confirmedAt }, passkeys: [], recoveryCodesRemaining: 10 });
    assert.ok(!status.raw.includes(secret));
  });
});

describe('the authenticator app: enrolment', () => {
  test('POST /me/two-factor/totp answers a new base32 secret and its otpauth:// URI; nothing is active yet', async () => {
    const agent = await newAgent();
    const begun = await t.post(TOTP, undefined, agent.token);
    assert.equal(begun.status, 200);
    assert.deepEqual(Object.keys(begun.body).sort(), ['otpauthUri', 'secret']);
    assert.match(begun.body.secret, /^[A-Z2-7]{32}$/);
    t.secrets.add(begun.body.secret);
    const uri = new URL(begun.body.otpauthUri);
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.searchParams.get('secret'), begun.body.secret);
    assert.equal(uri.searchParams.get('issuer'), 'Acme Support (Deskpass)');
    assert.equal(decodeURIComponent(uri.pathname), `/Acme Support (Deskpass):${agent.email}`);
    // pending: stored (sealed), not confirmed; the agent has no factor and signs in with the password alone
    const rows = await t.app.deskpass.deps.db.selectFrom('two_factor_totp').select(['confirmed_at', 'sealed_secret']).where('agent_id', '=', agent.id).execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0].confirmed_at, null);
    assert.ok(!rows[0].sealed_secret.includes(begun.body.secret));
    assert.equal((await t.get(STATUS, agent.token)).body.enabled, false);
    assert.equal((await t.get('/api/v1/me', agent.token)).body.twoFactorEnabled, false);
    const login = await t.post(LOGIN, { email: agent.email, password: agent.password });
    assert.equal(typeof login.body.token, 'string', 'no second step for a pending authenticator');
  });

  test('a fresh session is needed: 200 at exactly 10 minutes after sign-in, 403 reauthentication_required a second later (nothing stored), 200 again after re-authenticating', async () => {
    const agent = await newAgent();
    t.clock.advanceSeconds(FRESH_S);
    const atTheEdge = await t.post(TOTP, undefined, agent.token);
    assert.equal(atTheEdge.status, 200, atTheEdge.raw);
    t.secrets.add(atTheEdge.body.secret);
    await t.app.deskpass.deps.db.deleteFrom('two_factor_totp').where('agent_id', '=', agent.id).execute();
    t.clock.advanceSeconds(1);
    const stale = await t.post(TOTP, undefined, agent.token);
    assert.equal(stale.status, 403);
    assert.equal(stale.body.error.code, 'reauthentication_required');
    assert.equal(await rowsOf(t, 'two_factor_totp', agent.id), 0, 'no secret was made');
    assert.equal((await t.post(REAUTHENTICATE, { password: agent.password }, agent.token)).status, 204);
    const again = await t.post(TOTP, undefined, agent.token);
    assert.equal(again.status, 200);
    t.secrets.add(again.body.secret);
  });

  test('a wrong code: 400 two_factor_code_incorrect, and nothing is active (no factor, no codes, no audit, no email)', async () => {
    const agent = await newAgent();
    const begun = await t.post(TOTP, undefined, agent.token);
    t.secrets.add(begun.body.secret);
    const right = codeNow(t, begun.body.secret);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const before = await snapshotState(t);
    for (const code of [wrong, 'abcdef', '12345']) {
      const answer = await t.post(CONFIRM, { code }, agent.token);
      assert.equal(answer.status, 400, `${code}: ${answer.raw}`);
      assert.equal(answer.body.error.code, 'two_factor_code_incorrect');
    }
    assertStateUnchanged(before, await snapshotState(t), 'a wrong confirmation code');
    assert.equal((await t.get(STATUS, agent.token)).body.enabled, false);
    assert.equal(await rowsOf(t, 'recovery_codes', agent.id), 0);
    assert.deepEqual(await auditOf(t, 'two_factor.enabled', agent.id), []);
    assert.equal(await outboxCount(agent.email), 0);
    // confirming with no pending secret at all is the same answer
    const other = await newAgent();
    const none = await t.post(CONFIRM, { code: right }, other.token);
    assert.equal(none.status, 400);
    assert.equal(none.body.error.code, 'two_factor_code_incorrect');
  });

  test('the first factor answers ten distinct recovery codes of 80 bits; the authenticator is active, audited and emailed', async () => {
    const agent = await newAgent();
    const since = t.smtp.messages.length;
    const { secret, recoveryCodes } = await enrolTotp(t, agent.token);
    assert.equal(recoveryCodes.length, 10);
    assert.equal(new Set(recoveryCodes).size, 10);
    // 16 letters of a 32-letter alphabet: 16 × 5 = 80 bits each (at least 64 asked)
    for (const code of recoveryCodes) assert.match(code, RECOVERY_CODE_FORMAT);
    const stored = await t.app.deskpass.deps.db.selectFrom('agents').select('two_factor_enabled').where('id', '=', agent.id).executeTakeFirstOrThrow();
    assert.equal(Number(stored.two_factor_enabled), 1);
    assert.equal(await rowsOf(t, 'recovery_codes', agent.id), 10);
    assert.equal((await t.get('/api/v1/me', agent.token)).body.twoFactorEnabled, true);
    assert.deepEqual((await auditOf(t, 'two_factor.enabled', agent.id)).map((e) => [e.actor_agent_id, e.details]), [[agent.id, { method: 'totp', replaced: false }]]);
    const mail = await t.mailTo(agent.email, /authenticator app was added/i, since);
    assert.ok(!mail.text.includes(secret) && recoveryCodes.every((code) => !mail.raw.includes(code)));
  });

  test('a second confirmation replaces the authenticator: 200 {}, no new codes, the old secret dead, the codes kept; emailed as a replacement', async () => {
    const agent = await agentWithTotp();
    const replacement = await t.post(TOTP, undefined, agent.token);
    assert.equal(replacement.status, 200);
    t.secrets.add(replacement.body.secret);
    assert.equal((await t.get(STATUS, agent.token)).body.totp !== null, true, 'the old one works until the new one is confirmed');
    const since = t.smtp.messages.length;
    const confirmed = await t.post(CONFIRM, { code: codeNow(t, replacement.body.secret) }, agent.token);
    assert.equal(confirmed.status, 200);
    assert.deepEqual(confirmed.body, {});
    assert.equal(await rowsOf(t, 'two_factor_totp', agent.id), 1);
    assert.equal((await t.get(STATUS, agent.token)).body.recoveryCodesRemaining, 10);
    await t.mailTo(agent.email, /authenticator app was replaced/i, since);
    assert.deepEqual((await auditOf(t, 'two_factor.enabled', agent.id)).map((e) => e.details), [{ method: 'totp', replaced: false }, { method: 'totp', replaced: true }]);
    // the old secret's codes are refused, the new one's accepted
    const challenge = await challengeFor(t, agent.email, agent.password);
    const old = await t.post(SECOND_STEP, { challenge, code: nextCode(t, agent.secret) });
    assert.equal(old.status, 401);
    assert.equal(old.body.error.code, 'two_factor_code_incorrect');
    assert.equal((await t.post(SECOND_STEP, { challenge, code: codeNow(t, replacement.body.secret) })).status, 200);
  });
});

describe('the authenticator app: removal', () => {
  test('DELETE /me/two-factor/totp: 204, the last factor goes with its recovery codes; signing in needs the password only; audited and emailed', async () => {
    const agent = await agentWithTotp();
    const since = t.smtp.messages.length;
    const removed = await t.delete(TOTP, agent.token);
    assert.equal(removed.status, 204);
    assert.deepEqual((await t.get(STATUS, agent.token)).body, { enabled: false, required: false, totp: null, passkeys: [], recoveryCodesRemaining: 0 });
    assert.equal(await rowsOf(t, 'two_factor_totp', agent.id), 0);
    assert.equal(await rowsOf(t, 'recovery_codes', agent.id), 0);
    assert.deepEqual((await auditOf(t, 'two_factor.disabled', agent.id)).map((e) => e.details), [{ method: 'totp', lastFactor: true }]);
    const mail = await t.mailTo(agent.email, /authenticator app was removed/i, since);
    assert.match(mail.text, /no longer has a second factor/);
    const login = await t.post(LOGIN, { email: agent.email, password: agent.password });
    assert.equal(typeof login.body.token, 'string');
    // nothing left to remove
    const again = await t.delete(TOTP, login.body.token);
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, 'not_found');
  });

  test('outside the 10-minute freshness: 403 reauthentication_required and nothing changes; re-authenticating needs the code too', async () => {
    const agent = await agentWithTotp();
    t.clock.advanceSeconds(FRESH_S + 1);
    const before = await snapshotState(t);
    const stale = await t.delete(TOTP, agent.token);
    assert.equal(stale.status, 403);
    assert.equal(stale.body.error.code, 'reauthentication_required');
    assertStateUnchanged(before, await snapshotState(t), 'a stale removal');
    const passwordOnly = await t.post(REAUTHENTICATE, { password: agent.password }, agent.token);
    assert.equal(passwordOnly.status, 400);
    assert.equal(passwordOnly.body.error.code, 'two_factor_code_required');
    assert.equal((await t.post(REAUTHENTICATE, { password: agent.password, code: nextCode(t, agent.secret) }, agent.token)).status, 204);
    assert.equal((await t.delete(TOTP, agent.token)).status, 204);
  });
});

describe('recovery codes', () => {
  test('POST /me/two-factor/recovery-codes: ten new codes, the old ones dead, the new ones work; audited and emailed', async () => {
    const agent = await agentWithTotp();
    const since = t.smtp.messages.length;
    const fresh = await regenerateCodes(t, agent.token);
    assert.equal(fresh.length, 10);
    assert.equal(new Set([...fresh, ...agent.recoveryCodes]).size, 20);
    for (const code of fresh) assert.match(code, RECOVERY_CODE_FORMAT);
    assert.equal(await rowsOf(t, 'recovery_codes', agent.id), 10);
    await t.mailTo(agent.email, /new recovery codes/i, since);
    assert.deepEqual((await auditOf(t, 'two_factor.recovery_codes_regenerated', agent.id)).map((e) => e.details), [{ count: 10 }]);
    const old = await secondStepWithRecoveryCode(t, agent.email, agent.password, agent.recoveryCodes[0]);
    assert.equal(old.status, 401);
    assert.equal(old.body.error.code, 'two_factor_code_incorrect');
    assert.equal((await secondStepWithRecoveryCode(t, agent.email, agent.password, fresh[0])).status, 200);
  });

  test('stale: 403 reauthentication_required, the old codes stay; an agent without a factor: 409 two_factor_not_enabled', async () => {
    const agent = await agentWithTotp();
    const plain = await newAgent();
    t.clock.advanceSeconds(FRESH_S + 1);
    assert.equal((await t.post(REAUTHENTICATE, { password: plain.password }, plain.token)).status, 204);
    const before = await snapshotState(t);
    const stale = await t.post(RECOVERY_CODES, undefined, agent.token);
    assert.equal(stale.status, 403);
    assert.equal(stale.body.error.code, 'reauthentication_required');
    const none = await t.post(RECOVERY_CODES, undefined, plain.token);
    assert.equal(none.status, 409);
    assert.equal(none.body.error.code, 'two_factor_not_enabled');
    assertStateUnchanged(before, await snapshotState(t), 'refused regenerations');
    assert.equal(await rowsOf(t, 'recovery_codes', plain.id), 0);
  });

  test('a recovery code works once, whatever its case and dashes; each use is emailed with the count left and audited', async () => {
    const agent = await agentWithTotp();
    const [first, second] = agent.recoveryCodes;
    let since = t.smtp.messages.length;
    const used = await secondStepWithRecoveryCode(t, agent.email, agent.password, first);
    assert.equal(used.status, 200, used.raw);
    assert.deepEqual(await amrOf(used.body.token), ['pwd', 'otp', 'mfa']);
    let mail = await t.mailTo(agent.email, /recovery code was used/i, since);
    assert.match(mail.text, /You have 9 recovery codes left\./);
    assert.ok(!mail.raw.includes(first) && !mail.raw.includes(first.replace(/-/g, '')));
    const again = await secondStepWithRecoveryCode(t, agent.email, agent.password, first);
    assert.equal(again.status, 401);
    assert.equal(again.body.error.code, 'two_factor_code_incorrect');
    since = t.smtp.messages.length;
    const typed = ` ${second.replace(/-/g, '').toUpperCase()} `;
    assert.equal((await secondStepWithRecoveryCode(t, agent.email, agent.password, typed)).status, 200);
    mail = await t.mailTo(agent.email, /recovery code was used/i, since);
    assert.match(mail.text, /You have 8 recovery codes left\./);
    assert.equal((await t.get(STATUS, used.body.token)).body.recoveryCodesRemaining, 8);
    assert.deepEqual((await auditOf(t, 'two_factor.recovery_code_used', agent.id)).map((e) => e.details), [{ remaining: 9 }, { remaining: 8 }]);
  });
});

describe('signing in with a second factor', () => {
  test('the right password answers {twoFactorRequired, challenge, methods, expiresAt}: no token, no cookie, no session, no login.succeeded', async () => {
    const agent = await agentWithTotp();
    const sessionsBefore = await rowsOf(t, 'sessions', agent.id);
    const successesBefore = (await auditOf(t, 'login.succeeded', agent.id)).length;
    const answer = await t.post(LOGIN, { email: agent.email, password: agent.password });
    assert.equal(answer.status, 200);
    assert.deepEqual(Object.keys(answer.body).sort(), ['challenge', 'expiresAt', 'methods', 'twoFactorRequired']);
    assert.equal(answer.body.twoFactorRequired, true);
    assert.match(answer.body.challenge, /^[A-Za-z0-9_-]{43}$/);
    t.secrets.add(answer.body.challenge);
    assert.deepEqual(answer.body.methods, ['totp', 'recovery_code']);
    assert.equal(answer.body.expiresAt, new Date(t.clock.now().getTime() + CHALLENGE_S * 1000).toISOString());
    assert.deepEqual(setCookies(answer), [], 'no session cookie, no device cookie');
    assert.equal(await rowsOf(t, 'sessions', agent.id), sessionsBefore);
    assert.equal((await auditOf(t, 'login.succeeded', agent.id)).length, successesBefore);
    // the challenge itself is no session
    assert.equal((await t.get('/api/v1/me', answer.body.challenge)).status, 401);
  });

  test('a wrong password is still 401 invalid_credentials, with no challenge', async () => {
    const agent = await agentWithTotp();
    const challenges = await rowsOf(t, 'two_factor_challenges', agent.id);
    const answer = await t.post(LOGIN, { email: agent.email, password: 'Not-The-Password-00' });
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error.code, 'invalid_credentials');
    assert.equal(answer.raw.includes('challenge'), false);
    assert.equal(await rowsOf(t, 'two_factor_challenges', agent.id), challenges);
  });

  test('the second step with the code answers as a login: token, cookie, one session with amr pwd+otp+mfa, audited with the method', async () => {
    const agent = await agentWithTotp();
    const sessionsBefore = await rowsOf(t, 'sessions', agent.id);
    const challenge = await challengeFor(t, agent.email, agent.password);
    const code = nextCode(t, agent.secret);
    const answer = await t.post(SECOND_STEP, { challenge, code: `${code.slice(0, 3)} ${code.slice(3)}` });
    assert.equal(answer.status, 200, answer.raw);
    assert.deepEqual(Object.keys(answer.body).sort(), ['agent', 'deviceToken', 'expiresAt', 'passwordChangeRequired', 'token']);
    assert.equal(answer.body.agent.id, agent.id);
    assert.equal(answer.body.agent.twoFactorEnabled, true);
    assert.equal(answer.body.passwordChangeRequired, false);
    assert.ok(setCookies(answer).some((c) => c.startsWith(`deskpass_session=${answer.body.token};`)));
    t.secrets.add(answer.body.token);
    assert.equal((await t.get('/api/v1/me', answer.body.token)).status, 200);
    assert.equal(await rowsOf(t, 'sessions', agent.id), sessionsBefore + 1);
    assert.deepEqual(await amrOf(answer.body.token), ['pwd', 'otp', 'mfa']);
    assert.equal((await auditOf(t, 'login.succeeded', agent.id)).at(-1)!.details!.secondFactor, 'totp');
  });

  test('a code is accepted once: the same code on a new challenge is refused, and a used challenge is dead', async () => {
    const agent = await agentWithTotp();
    const first = await challengeFor(t, agent.email, agent.password);
    const code = nextCode(t, agent.secret);
    assert.equal((await t.post(SECOND_STEP, { challenge: first, code })).status, 200);
    const second = await challengeFor(t, agent.email, agent.password);
    const sessions = await rowsOf(t, 'sessions', agent.id);
    const replay = await t.post(SECOND_STEP, { challenge: second, code });
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error.code, 'two_factor_code_incorrect');
    const used = await t.post(SECOND_STEP, { challenge: first, code: nextCode(t, agent.secret) });
    assert.equal(used.status, 401);
    assert.equal(used.body.error.code, 'two_factor_challenge_invalid');
    assert.equal(await rowsOf(t, 'sessions', agent.id), sessions);
    // the confirmation's own code was spent too: enrolment then an immediate sign-in with it is a replay
    const fresh = await newAgent();
    const begun = await t.post(TOTP, undefined, fresh.token);
    t.secrets.add(begun.body.secret);
    const confirmCode = codeNow(t, begun.body.secret);
    assert.equal((await t.post(CONFIRM, { code: confirmCode }, fresh.token)).status, 200);
    const afterConfirm = await t.post(SECOND_STEP, { challenge: await challengeFor(t, fresh.email, fresh.password), code: confirmCode });
    assert.equal(afterConfirm.body.error.code, 'two_factor_code_incorrect');
  });

  test('an unknown challenge, a malformed one, and one older than 5 minutes: 401 two_factor_challenge_invalid, and none counts toward the lockout', async () => {
    const agent = await agentWithTotp();
    const failures = await failedCount(agent.email);
    for (const challenge of [randomBytes(32).toString('base64url'), 'not a challenge', 'x'.repeat(200)]) {
      const answer = await t.post(SECOND_STEP, { challenge, code: codeNow(t, agent.secret) });
      assert.equal(answer.status, 401, challenge);
      assert.equal(answer.body.error.code, 'two_factor_challenge_invalid');
    }
    // one second short of 5 minutes it still works; at 5 minutes it is dead
    const early = await challengeFor(t, agent.email, agent.password);
    const late = await challengeFor(t, agent.email, agent.password);
    t.clock.advanceSeconds(CHALLENGE_S - 1);
    assert.equal((await t.post(SECOND_STEP, { challenge: early, code: codeNow(t, agent.secret) })).status, 200);
    t.clock.advanceSeconds(1);
    const expired = await t.post(SECOND_STEP, { challenge: late, code: nextCode(t, agent.secret) });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error.code, 'two_factor_challenge_invalid');
    assert.equal(await failedCount(agent.email), failures);
  });

  test('a challenge dies when the password changes under it (a reset link redeemed meanwhile)', async () => {
    const agent = await agentWithTotp();
    const challenge = await challengeFor(t, agent.email, agent.password);
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: agent.email })).status, 202);
    const link = t.linkToken(await t.mailTo(agent.email, /reset/i, since));
    assert.equal((await t.post('/api/v1/auth/reset-password', { token: link, newPassword: 'Saffron-Kettle-Orbit-64' })).status, 204);
    t.secrets.add('Saffron-Kettle-Orbit-64');
    const answer = await t.post(SECOND_STEP, { challenge, code: nextCode(t, agent.secret) });
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error.code, 'two_factor_challenge_invalid');
  });

  test('a body without a proof, or without a challenge, is 400 invalid_request and spends nothing', async () => {
    const agent = await agentWithTotp();
    const challenge = await challengeFor(t, agent.email, agent.password);
    for (const body of [{ challenge }, { challenge, code: '' }, { code: codeNow(t, agent.secret) }, { challenge, passkey: 'not a response' }]) {
      const answer = await t.post(SECOND_STEP, body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.error.code, 'invalid_request');
    }
    assert.equal((await t.post(SECOND_STEP, { challenge, code: nextCode(t, agent.secret) })).status, 200, 'the challenge is still good');
  });
});

describe('wrong codes and the lockout', () => {
  async function unlock(id: string) {
    assert.equal((await t.post(`/api/v1/agents/${id}/unlock`, undefined, await ownerToken())).status, 204);
  }

  test(`${THRESHOLD} wrong codes lock the address (423 account_locked, one lock, one email); the right code is then refused too`, async () => {
    const agent = await agentWithTotp();
    const since = t.smtp.messages.length;
    const challenge = await challengeFor(t, agent.email, agent.password);
    for (let i = 1; i < THRESHOLD; i += 1) {
      const answer = await t.post(SECOND_STEP, { challenge, code: '000000' });
      assert.equal(answer.status, 401);
      assert.equal(answer.body.error.code, 'two_factor_code_incorrect');
    }
    const locking = await t.post(SECOND_STEP, { challenge, code: '000000' });
    assert.equal(locking.status, 423);
    assert.equal(locking.body.error.code, 'account_locked');
    assert.ok(Number(locking.headers['retry-after']) > 0);
    const sessions = await rowsOf(t, 'sessions', agent.id);
    const right = await t.post(SECOND_STEP, { challenge, code: nextCode(t, agent.secret) });
    assert.equal(right.status, 423);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: agent.password })).status, 423, 'the password too');
    assert.equal(await rowsOf(t, 'sessions', agent.id), sessions);
    assert.equal((await auditOf(t, 'login.two_factor_failed', agent.id)).length, THRESHOLD);
    assert.deepEqual((await auditOf(t, 'login.two_factor_failed', agent.id)).map((e) => e.details!.reason), Array(THRESHOLD).fill('totp'));
    assert.equal((await auditOf(t, 'account.locked', agent.id)).length, 1);
    await t.mailTo(agent.email, /locked/i, since);
    await unlock(agent.id);
  });

  test('a right password between wrong codes does not reset their count: the lock comes at the threshold in all', async () => {
    const agent = await agentWithTotp();
    const half = Math.floor(THRESHOLD / 2);
    let challenge = await challengeFor(t, agent.email, agent.password);
    for (let i = 0; i < half; i += 1) assert.equal((await t.post(SECOND_STEP, { challenge, code: '000000' })).status, 401);
    assert.equal(await failedCount(agent.email), half);
    // knowing the password opens a new challenge, and the failures so far stay counted
    challenge = await challengeFor(t, agent.email, agent.password);
    assert.equal(await failedCount(agent.email), half);
    for (let i = half; i < THRESHOLD - 1; i += 1) assert.equal((await t.post(SECOND_STEP, { challenge, code: '111111' })).status, 401);
    const last = await t.post(SECOND_STEP, { challenge, code: '222222' });
    assert.equal(last.status, 423, last.raw);
    await unlock(agent.id);
  });

  test('wrong passwords and wrong codes count on one door, and a right code clears it', async () => {
    const agent = await agentWithTotp();
    assert.equal((await t.post(LOGIN, { email: agent.email, password: 'Not-The-Password-11' })).status, 401);
    const challenge = await challengeFor(t, agent.email, agent.password);
    assert.equal((await t.post(SECOND_STEP, { challenge, code: '000000' })).status, 401);
    assert.equal(await failedCount(agent.email), 2);
    assert.equal((await t.post(SECOND_STEP, { challenge, code: nextCode(t, agent.secret) })).status, 200);
    assert.equal(await failedCount(agent.email), 0);
  });

  test('a wrong recovery code counts too', async () => {
    const agent = await agentWithTotp();
    const challenge = await challengeFor(t, agent.email, agent.password);
    const answer = await t.post(SECOND_STEP, { challenge, recoveryCode: 'zzzz-zzzz-zzzz-zzzz' });
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error.code, 'two_factor_code_incorrect');
    assert.equal(await failedCount(agent.email), 1);
    assert.equal((await auditOf(t, 'login.two_factor_failed', agent.id)).at(-1)!.details!.reason, 'recovery_code');
  });
});

describe('re-authentication and the password change ask for the factor', () => {
  test('reauthenticate: 400 two_factor_code_required without a code (no attempt counted), 401 two_factor_code_incorrect with a wrong one, 204 with a code or a recovery code', async () => {
    const agent = await agentWithTotp();
    t.clock.advanceSeconds(FRESH_S + 1);
    const missing = await t.post(REAUTHENTICATE, { password: agent.password }, agent.token);
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 'two_factor_code_required');
    const wrong = await t.post(REAUTHENTICATE, { password: agent.password, code: '000000' }, agent.token);
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'two_factor_code_incorrect');
    const wrongPassword = await t.post(REAUTHENTICATE, { password: 'Not-The-Password-22', code: codeNow(t, agent.secret) }, agent.token);
    assert.equal(wrongPassword.status, 400);
    assert.equal(wrongPassword.body.error.code, 'current_password_incorrect');
    // none of these made the session fresh
    assert.equal((await t.post(TOTP, undefined, agent.token)).body.error.code, 'reauthentication_required');
    assert.equal((await t.post(REAUTHENTICATE, { password: agent.password, code: codeNow(t, agent.secret) }, agent.token)).status, 204, 'the code was not spent by the wrong password');
    t.clock.advanceSeconds(FRESH_S + 1);
    const since = t.smtp.messages.length;
    assert.equal((await t.post(REAUTHENTICATE, { password: agent.password, code: agent.recoveryCodes[3] }, agent.token)).status, 204);
    await t.mailTo(agent.email, /recovery code was used/i, since);
    const begun = await t.post(TOTP, undefined, agent.token);
    assert.equal(begun.status, 200);
    t.secrets.add(begun.body.secret);
  });

  test('reauthenticate: a code used once is refused the second time', async () => {
    const agent = await agentWithTotp();
    const code = nextCode(t, agent.secret);
    assert.equal((await t.post(REAUTHENTICATE, { password: agent.password, code }, agent.token)).status, 204);
    const replay = await t.post(REAUTHENTICATE, { password: agent.password, code }, agent.token);
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error.code, 'two_factor_code_incorrect');
  });

  test(`reauthenticate: wrong codes with the right password lock the session's door after ${THRESHOLD}; the right code is then refused`, async () => {
    const agent = await agentWithTotp();
    const answers: number[] = [];
    for (let i = 0; i < THRESHOLD + 2; i += 1) answers.push((await t.post(REAUTHENTICATE, { password: agent.password, code: String(100000 + i) }, agent.token)).status);
    assert.deepEqual(answers, [...Array(THRESHOLD - 1).fill(401), 423, 423, 423]);
    const right = await t.post(REAUTHENTICATE, { password: agent.password, code: nextCode(t, agent.secret) }, agent.token);
    assert.equal(right.status, 423);
  });

  test(`POST /me/password on a session older than 10 minutes: wrong codes with the right current password lock after ${THRESHOLD} too`, async () => {
    const agent = await agentWithTotp();
    t.clock.advanceSeconds(FRESH_S + 1);
    const answers: number[] = [];
    for (let i = 0; i < THRESHOLD + 1; i += 1) {
      answers.push((await t.post('/api/v1/me/password', { currentPassword: agent.password, newPassword: 'Walnut-Cascade-Ember-64', code: String(200000 + i) }, agent.token)).status);
    }
    assert.deepEqual(answers, [...Array(THRESHOLD - 1).fill(401), 423, 423]);
    t.secrets.add('Walnut-Cascade-Ember-64');
    assert.equal((await t.post(LOGIN, { email: agent.email, password: agent.password })).body.twoFactorRequired, true, 'the password did not change');
  });

  test('an agent without a factor re-authenticates with the password alone, as before', async () => {
    const agent = await newAgent();
    assert.equal((await t.post(REAUTHENTICATE, { password: agent.password }, agent.token)).status, 204);
  });

  test('POST /me/password: no code on a fresh session; older than 10 minutes, 400 two_factor_code_required (nothing changes), then 204 with the code', async () => {
    const agent = await agentWithTotp();
    const changed = 'Harbor-Thimble-Saffron-58';
    t.secrets.add(changed);
    assert.equal((await t.post('/api/v1/me/password', { currentPassword: agent.password, newPassword: changed }, agent.token)).status, 204);
    t.clock.advanceSeconds(FRESH_S + 1);
    const before = await snapshotState(t);
    const missing = await t.post('/api/v1/me/password', { currentPassword: changed, newPassword: 'Walnut-Cascade-Ember-64' }, agent.token);
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 'two_factor_code_required');
    const wrong = await t.post('/api/v1/me/password', { currentPassword: changed, newPassword: 'Walnut-Cascade-Ember-64', code: '000000' }, agent.token);
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'two_factor_code_incorrect');
    assertStateUnchanged(before, await snapshotState(t), 'a password change without the factor');
    t.secrets.add('Walnut-Cascade-Ember-64');
    assert.equal((await t.post('/api/v1/me/password', { currentPassword: changed, newPassword: 'Walnut-Cascade-Ember-64', code: nextCode(t, agent.secret) }, agent.token)).status, 204);
    // the factor stays after a password change
    assert.equal((await t.post(LOGIN, { email: agent.email, password: 'Walnut-Cascade-Ember-64' })).body.twoFactorRequired, true);
  });
});

describe('agent objects and the list', () => {
  test('twoFactorEnabled on /me, /agents/{id} and the list; ?twoFactor=off lists those without, ?twoFactor=on those with', async () => {
    const owner = await ownerToken();
    const withFactor = await agentWithTotp();
    const without = await newAgent();
    assert.equal((await t.get(`/api/v1/agents/${withFactor.id}`, owner)).body.twoFactorEnabled, true);
    assert.equal((await t.get(`/api/v1/agents/${without.id}`, owner)).body.twoFactorEnabled, false);
    const off = await t.get('/api/v1/agents?twoFactor=off&limit=200', owner);
    assert.equal(off.status, 200);
    const offIds = off.body.agents.map((a: { id: string }) => a.id);
    assert.ok(offIds.includes(without.id) && !offIds.includes(withFactor.id));
    assert.ok(off.body.agents.every((a: { twoFactorEnabled: boolean }) => a.twoFactorEnabled === false));
    const on = await t.get('/api/v1/agents?twoFactor=on&limit=200', owner);
    assert.ok(on.body.agents.some((a: { id: string }) => a.id === withFactor.id));
    assert.ok(on.body.agents.every((a: { twoFactorEnabled: boolean }) => a.twoFactorEnabled === true));
    // with a search too (both search paths)
    const searched = await t.get(`/api/v1/agents?twoFactor=off&search=${encodeURIComponent(without.email)}`, owner);
    assert.deepEqual(searched.body.agents.map((a: { id: string }) => a.id), [without.id]);
    const searchedOn = await t.get(`/api/v1/agents?twoFactor=on&search=${encodeURIComponent(without.email)}`, owner);
    assert.deepEqual(searchedOn.body.agents, []);
    const byName = await t.get(`/api/v1/agents?twoFactor=on&search=Toni`, owner);
    assert.ok(byName.body.agents.length > 0 && byName.body.agents.every((a: { twoFactorEnabled: boolean }) => a.twoFactorEnabled));
    assert.equal((await t.get('/api/v1/agents?twoFactor=maybe', owner)).status, 400);
    // nobody reads another agent's secret or codes: no such fields anywhere
    for (const raw of [off.raw, on.raw]) assert.doesNotMatch(raw, /secret|recoveryCode/i);
  });
});
