import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER } from './support/harness.js';
import { createArgon2Hasher } from '../src/security/password-hasher.js';

const LOGIN = '/api/v1/auth/login';
const HOUR_S = 3600;

let t: TestApp;
let agentRoleId: string;
let counter = 0;

/** A fresh owner session: the clock moves in this file, so nobody keeps a token across tests. */
function ownerToken(): Promise<string> {
  return t.login(OWNER.email, OWNER.password);
}

/** A new active agent with a unique address, signed in once. */
async function newAgent(password = 'Quartz-Harbor-Meadow-31'): Promise<{ id: string; email: string; password: string; token: string }> {
  counter += 1;
  const email = `agent${counter}@acme.test`;
  const { id, token } = await t.addAgent(await ownerToken(), { email, name: `Robin Vale ${counter}`, roleId: agentRoleId, password });
  return { id, email, password, token };
}

function cookieHeader(answer: { headers: Record<string, unknown> }): string {
  const raw = answer.headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : [String(raw)];
  const cookie = all.find((c) => c.startsWith('deskpass_session='));
  assert.ok(cookie, 'a deskpass_session cookie is set');
  return cookie;
}

function hashFieldsIn(value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => [
    ...(/hash/i.test(key) ? [`${path}${key}`] : []),
    ...hashFieldsIn(inner, `${path}${key}.`),
  ]);
}

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

describe('signing in', () => {
  test('a successful login answers token, expiresAt, the agent without any hash, passwordChangeRequired and a device token', async () => {
    const agent = await newAgent();
    const answer = await t.post(LOGIN, { email: agent.email, password: agent.password });
    assert.equal(answer.status, 200);
    // deviceToken: the client's proof of a successful sign-in, for the lockout's device doors (issue 8)
    assert.deepEqual(Object.keys(answer.body).sort(), ['agent', 'deviceToken', 'expiresAt', 'passwordChangeRequired', 'token']);
    assert.match(answer.body.token, /^[A-Za-z0-9_-]{43,}$/);
    assert.match(answer.body.deviceToken, /^d1\.[A-Za-z0-9_-]{22}\.\d+\.[A-Za-z0-9_-]{43}$/);
    assert.equal(new Date(answer.body.expiresAt).toISOString(), answer.body.expiresAt);
    assert.equal(answer.body.passwordChangeRequired, false);
    assert.equal(answer.body.agent.id, agent.id);
    assert.equal(answer.body.agent.email, agent.email);
    assert.equal(answer.body.agent.status, 'active');
    assert.equal(answer.body.agent.passwordChangeRequired, false);
    assert.deepEqual(hashFieldsIn(answer.body), []);
    assert.doesNotMatch(answer.raw, /\$argon2/);
    assert.equal(answer.headers['cache-control'], 'no-store');
  });

  test('login sets the deskpass_session cookie HttpOnly, SameSite=Lax, Path=/ with the session token', async () => {
    const agent = await newAgent();
    const answer = await t.post(LOGIN, { email: agent.email, password: agent.password });
    assert.equal(answer.status, 200);
    const cookie = cookieHeader(answer);
    const [pair, ...attributes] = cookie.split(';').map((s) => s.trim());
    assert.equal(pair, `deskpass_session=${answer.body.token}`);
    const lower = attributes.map((a) => a.toLowerCase());
    assert.ok(lower.includes('httponly'), cookie);
    assert.ok(lower.includes('samesite=lax'), cookie);
    assert.ok(lower.includes('path=/'), cookie);
    // http PUBLIC_URL: no Secure flag, so the cookie works on the plain-http test origin
    assert.ok(!lower.includes('secure'), cookie);
  });

  test('the session token authenticates GET /api/v1/me both as a Bearer header and as the cookie', async () => {
    const agent = await newAgent();
    const viaBearer = await t.get('/api/v1/me', agent.token);
    assert.equal(viaBearer.status, 200);
    assert.equal(viaBearer.body.id, agent.id);
    assert.deepEqual(hashFieldsIn(viaBearer.body), []);
    const viaCookie = await t.request('GET', '/api/v1/me', { headers: { cookie: `deskpass_session=${agent.token}` } });
    assert.equal(viaCookie.status, 200);
    assert.equal(viaCookie.body.id, agent.id);
    const none = await t.get('/api/v1/me');
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'unauthenticated');
  });

  test('email is matched case-insensitively and trimmed at sign-in', async () => {
    const agent = await newAgent();
    const upper = await t.post(LOGIN, { email: agent.email.toUpperCase(), password: agent.password });
    assert.equal(upper.status, 200);
    assert.equal(upper.body.agent.id, agent.id);
    const mixed = await t.post(LOGIN, { email: `  ${agent.email.replace('agent', 'AgEnT')} `, password: agent.password });
    assert.equal(mixed.status, 200);
    assert.equal(mixed.body.agent.id, agent.id);
  });

  test('every login opens a new session with a new token', async () => {
    const agent = await newAgent();
    const tokens = new Set<string>([agent.token]);
    for (let i = 0; i < 3; i += 1) tokens.add(await t.login(agent.email, agent.password));
    assert.equal(tokens.size, 4);
    for (const token of tokens) assert.equal((await t.get('/api/v1/me', token)).status, 200);
    const sessions = await t.get('/api/v1/me/sessions', agent.token);
    assert.equal(sessions.body.sessions.length, 4);
  });
});

describe('logout', () => {
  test('logout answers 204 and the token is dead afterwards (401 unauthenticated)', async () => {
    const agent = await newAgent();
    const other = await t.login(agent.email, agent.password);
    const out = await t.post('/api/v1/auth/logout', undefined, agent.token);
    assert.equal(out.status, 204);
    const me = await t.get('/api/v1/me', agent.token);
    assert.equal(me.status, 401);
    assert.equal(me.body.error.code, 'unauthenticated');
    const again = await t.post('/api/v1/auth/logout', undefined, agent.token);
    assert.equal(again.status, 401);
    // only that session ended
    assert.equal((await t.get('/api/v1/me', other)).status, 200);
  });

  test('logout through the cookie ends the session and clears the cookie', async () => {
    const agent = await newAgent();
    const out = await t.request('POST', '/api/v1/auth/logout', { headers: { cookie: `deskpass_session=${agent.token}` } });
    assert.equal(out.status, 204);
    const cleared = cookieHeader(out);
    assert.match(cleared, /^deskpass_session=;/);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 401);
  });
});

describe('wrong credentials', () => {
  test('unknown email, wrong password, deactivated agent and invited agent without password get one identical 401 invalid_credentials, each after one argon2 verification', async () => {
    const active = await newAgent();
    const deactivated = await newAgent();
    const admin = await ownerToken();
    const patched = await t.patch(`/api/v1/agents/${deactivated.id}`, { status: 'deactivated' }, admin);
    assert.equal(patched.status, 200);
    const invitedEmail = `invited${++counter}@acme.test`;
    const invited = await t.post('/api/v1/agents', { email: invitedEmail, name: 'Ines Waiting', roleId: agentRoleId }, admin);
    assert.equal(invited.status, 201);
    assert.equal(invited.body.status, 'invited');

    const attempts = [
      { email: `nobody${++counter}@acme.test`, password: 'Quartz-Harbor-Meadow-31' },
      { email: active.email, password: 'Wrong-Harbor-Meadow-31' },
      { email: deactivated.email, password: deactivated.password },
      { email: invitedEmail, password: 'Quartz-Harbor-Meadow-31' },
    ];
    const answers = [];
    for (const attempt of attempts) {
      const before = { ...t.hasher.calls };
      const answer = await t.post(LOGIN, attempt);
      const verifications = t.hasher.calls.verify - before.verify;
      assert.equal(verifications, 1, `${attempt.email}: one verification`);
      assert.equal(t.hasher.calls.hash, before.hash, `${attempt.email}: no hashing`);
      assert.equal(answer.headers['set-cookie'], undefined);
      assert.equal(answer.headers['retry-after'], undefined);
      answers.push(answer);
    }
    for (const answer of answers) {
      assert.equal(answer.status, 401);
      assert.equal(answer.body.error.code, 'invalid_credentials');
      assert.deepEqual(answer.body, answers[0].body);
      assert.equal(answer.raw, answers[0].raw);
    }
  });
});

describe('lockout', () => {
  async function fail(email: string, times: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < times; i += 1) statuses.push((await t.post(LOGIN, { email, password: `Wrong-Guess-Number-${i}0` })).status);
    return statuses;
  }

  test('5 consecutive failures lock the address: 423 account_locked with Retry-After for the right and the wrong password', async () => {
    const agent = await newAgent();
    assert.deepEqual(await fail(agent.email, 4), [401, 401, 401, 401]);
    const fifth = await t.post(LOGIN, { email: agent.email, password: 'Wrong-Guess-Number-50' });
    assert.equal(fifth.status, 423);
    assert.equal(fifth.body.error.code, 'account_locked');

    const right = await t.post(LOGIN, { email: agent.email, password: agent.password });
    assert.equal(right.status, 423);
    assert.equal(right.body.error.code, 'account_locked');
    assert.equal(right.headers['set-cookie'], undefined);
    const retryAfter = Number(right.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= HOUR_S, `Retry-After ${right.headers['retry-after']}`);

    const wrong = await t.post(LOGIN, { email: agent.email, password: 'Wrong-Guess-Number-60' });
    assert.equal(wrong.status, 423);
    assert.deepEqual(wrong.body, right.body);
    assert.ok(Number(wrong.headers['retry-after']) > 0);

    // the case of the address does not dodge the lock
    const upper = await t.post(LOGIN, { email: agent.email.toUpperCase(), password: agent.password });
    assert.equal(upper.status, 423);

    // the lock shows in Manage › Agents
    const view = await t.get(`/api/v1/agents/${agent.id}`, await ownerToken());
    assert.equal(view.body.locked, true);
  });

  test('an unknown address locks the same way, with the same 423 body and Retry-After', async () => {
    const known = await newAgent();
    await fail(known.email, 5);
    const knownLocked = await t.post(LOGIN, { email: known.email, password: known.password });

    const unknown = `ghost${++counter}@acme.test`;
    assert.deepEqual(await fail(unknown, 4), [401, 401, 401, 401]);
    const fifth = await t.post(LOGIN, { email: unknown, password: 'Wrong-Guess-Number-50' });
    assert.equal(fifth.status, 423);
    const later = await t.post(LOGIN, { email: unknown, password: 'Quartz-Harbor-Meadow-31' });
    assert.equal(later.status, 423);
    assert.equal(later.body.error.code, 'account_locked');
    assert.deepEqual(later.body, knownLocked.body);
    assert.equal(later.headers['retry-after'], knownLocked.headers['retry-after']);
  });

  test('a successful login resets the failure counter, so failures must be consecutive to lock', async () => {
    const agent = await newAgent();
    assert.deepEqual(await fail(agent.email, 4), [401, 401, 401, 401]);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: agent.password })).status, 200);
    assert.deepEqual(await fail(agent.email, 4), [401, 401, 401, 401]);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: agent.password })).status, 200);
  });

  test('a lock lifts once Retry-After has passed, and the right password then signs in', async () => {
    const agent = await newAgent();
    await fail(agent.email, 5);
    const locked = await t.post(LOGIN, { email: agent.email, password: agent.password });
    assert.equal(locked.status, 423);
    const retryAfter = Number(locked.headers['retry-after']);
    t.clock.advanceSeconds(retryAfter - 1);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: agent.password })).status, 423);
    t.clock.advanceSeconds(1);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: agent.password })).status, 200);
  });
});

describe('re-authentication', () => {
  test('POST /auth/reauthenticate answers 204 for the right password and 400 current_password_incorrect for a wrong one', async () => {
    const agent = await newAgent();
    const wrong = await t.post('/api/v1/auth/reauthenticate', { password: 'Not-My-Password-123' }, agent.token);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error.code, 'current_password_incorrect');
    const right = await t.post('/api/v1/auth/reauthenticate', { password: agent.password }, agent.token);
    assert.equal(right.status, 204);
    assert.equal(right.raw, '');
    const anonymous = await t.post('/api/v1/auth/reauthenticate', { password: agent.password });
    assert.equal(anonymous.status, 401);
  });

  test('re-authenticating makes a stale session fresh again for 10 minutes', async () => {
    const target = await newAgent();
    const admin = await ownerToken();
    t.clock.advanceSeconds(10 * 60 + 1);
    const stale = await t.post(`/api/v1/agents/${target.id}/password-reset-email`, undefined, admin);
    assert.equal(stale.status, 403);
    assert.equal(stale.body.error.code, 'reauthentication_required');
    assert.equal((await t.post('/api/v1/auth/reauthenticate', { password: OWNER.password }, admin)).status, 204);
    const fresh = await t.post(`/api/v1/agents/${target.id}/password-reset-email`, undefined, admin);
    assert.equal(fresh.status, 202);
    t.clock.advanceSeconds(10 * 60 + 1);
    assert.equal((await t.post(`/api/v1/agents/${target.id}/password-reset-email`, undefined, admin)).body.error.code, 'reauthentication_required');
  });
});

describe('own sessions', () => {
  test('GET /me/sessions lists the agent\'s sessions with exactly one marked current', async () => {
    const agent = await newAgent();
    const second = await t.login(agent.email, agent.password);
    const list = await t.get('/api/v1/me/sessions', agent.token);
    assert.equal(list.status, 200);
    assert.equal(list.body.sessions.length, 2);
    const current = list.body.sessions.filter((s: { current: boolean }) => s.current);
    assert.equal(current.length, 1);
    for (const session of list.body.sessions) {
      for (const field of ['id', 'current', 'createdAt', 'lastSeenAt', 'ip', 'userAgent']) assert.ok(field in session, field);
    }
    assert.deepEqual(hashFieldsIn(list.body), []);
    assert.ok(!list.raw.includes(agent.token) && !list.raw.includes(second));
    const fromSecond = await t.get('/api/v1/me/sessions', second);
    const currentOfSecond = fromSecond.body.sessions.find((s: { current: boolean }) => s.current);
    assert.notEqual(currentOfSecond.id, current[0].id);
  });

  test('DELETE /me/sessions/{id} ends another of the agent\'s sessions and leaves the current one', async () => {
    const agent = await newAgent();
    const second = await t.login(agent.email, agent.password);
    const list = await t.get('/api/v1/me/sessions', second);
    const secondId = list.body.sessions.find((s: { current: boolean }) => s.current).id;
    const ended = await t.delete(`/api/v1/me/sessions/${secondId}`, agent.token);
    assert.equal(ended.status, 204);
    assert.equal((await t.get('/api/v1/me', second)).status, 401);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 200);
    const after = await t.get('/api/v1/me/sessions', agent.token);
    assert.equal(after.body.sessions.length, 1);
    assert.equal((await t.delete(`/api/v1/me/sessions/${secondId}`, agent.token)).status, 404);
  });

  test('DELETE /me/sessions/{id} answers 404 for another agent\'s session and leaves it alive', async () => {
    const alice = await newAgent();
    const bob = await newAgent();
    const bobSessions = await t.get('/api/v1/me/sessions', bob.token);
    const bobSessionId = bobSessions.body.sessions[0].id;
    const attempt = await t.delete(`/api/v1/me/sessions/${bobSessionId}`, alice.token);
    assert.equal(attempt.status, 404);
    assert.equal(attempt.body.error.code, 'not_found');
    assert.equal((await t.get('/api/v1/me', bob.token)).status, 200);
    // not even the Account Administrator ends someone else's session through /me
    const owner = await ownerToken();
    assert.equal((await t.delete(`/api/v1/me/sessions/${bobSessionId}`, owner)).status, 404);
    assert.equal((await t.get('/api/v1/me', bob.token)).status, 200);
  });
});

describe('session lifetime', () => {
  test('a session dies after 8 h without use (idle timeout), and every use restarts the 8 h', async () => {
    const agent = await newAgent();
    t.clock.advanceSeconds(8 * HOUR_S - 1);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 200);
    t.clock.advanceSeconds(8 * HOUR_S - 1);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 200);
    t.clock.advanceSeconds(8 * HOUR_S + 1);
    const dead = await t.get('/api/v1/me', agent.token);
    assert.equal(dead.status, 401);
    assert.equal(dead.body.error.code, 'unauthenticated');
    // it stays dead when the clock lines up again
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 401);
  });

  test('a session that died of idleness is no longer listed in GET /me/sessions', async () => {
    const agent = await newAgent();
    const idle = await t.login(agent.email, agent.password);
    t.clock.advanceSeconds(7 * HOUR_S);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 200);
    t.clock.advanceSeconds(HOUR_S + 1);
    // `idle` was last seen 8 h + 1 s ago; agent.token 1 h + 1 s ago
    const list = await t.get('/api/v1/me/sessions', agent.token);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.sessions.map((s: { current: boolean }) => s.current), [true]);
    assert.equal((await t.get('/api/v1/me', idle)).status, 401);
  });

  test('a session dies 7 days after login however active it is (absolute lifetime), as its expiresAt says', async () => {
    const agent = await newAgent();
    const loginAt = t.clock.now().getTime();
    const answer = await t.post(LOGIN, { email: agent.email, password: agent.password });
    const token = answer.body.token as string;
    t.secrets.add(token);
    assert.equal(new Date(answer.body.expiresAt).getTime(), loginAt + 7 * 24 * HOUR_S * 1000);
    // used every 7 hours, never idle for 8
    for (let hours = 7; hours < 7 * 24; hours += 7) {
      t.clock.advanceSeconds(7 * HOUR_S);
      assert.equal((await t.get('/api/v1/me', token)).status, 200, `after ${hours} h`);
    }
    t.clock.set(new Date(loginAt + 7 * 24 * HOUR_S * 1000 - 1000));
    assert.equal((await t.get('/api/v1/me', token)).status, 200, '7 days − 1 s');
    t.clock.advanceSeconds(2);
    const dead = await t.get('/api/v1/me', token);
    assert.equal(dead.status, 401, '7 days + 1 s');
    assert.equal(dead.body.error.code, 'unauthenticated');
  });
});

describe('hash upgrade', () => {
  test('a stored hash with weaker argon2 parameters is replaced by a stronger one at the next successful login', async () => {
    const agent = await newAgent();
    const { db } = t.app.deskpass.deps;
    const weak = await createArgon2Hasher({ memoryKiB: 128, iterations: 1, parallelism: 1 }).hash(agent.password);
    assert.match(weak, /^\$argon2id\$v=19\$m=128,/);
    await db.updateTable('agents').set({ password_hash: weak }).where('id', '=', agent.id).execute();

    // a failed login does not rewrite the hash
    assert.equal((await t.post(LOGIN, { email: agent.email, password: 'Wrong-Harbor-Meadow-31' })).status, 401);
    const stillWeak = await db.selectFrom('agents').select('password_hash').where('id', '=', agent.id).executeTakeFirstOrThrow();
    assert.equal(stillWeak.password_hash, weak);

    assert.equal((await t.post(LOGIN, { email: agent.email, password: agent.password })).status, 200);
    const upgraded = await db.selectFrom('agents').select('password_hash').where('id', '=', agent.id).executeTakeFirstOrThrow();
    assert.match(upgraded.password_hash ?? '', /^\$argon2id\$v=19\$m=256,t=1,p=1\$/);
    assert.notEqual(upgraded.password_hash, weak);
    // the upgraded hash still takes the same password, and nothing else
    assert.equal((await t.post(LOGIN, { email: agent.email, password: agent.password })).status, 200);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: 'Wrong-Harbor-Meadow-31' })).status, 401);
  });

  test('a hash at the configured strength is left alone at login', async () => {
    const agent = await newAgent();
    const { db } = t.app.deskpass.deps;
    const before = await db.selectFrom('agents').select('password_hash').where('id', '=', agent.id).executeTakeFirstOrThrow();
    const hashesBefore = t.hasher.calls.hash;
    assert.equal((await t.post(LOGIN, { email: agent.email, password: agent.password })).status, 200);
    const after = await db.selectFrom('agents').select('password_hash').where('id', '=', agent.id).executeTakeFirstOrThrow();
    assert.equal(after.password_hash, before.password_hash);
    assert.equal(t.hasher.calls.hash, hashesBefore);
  });
});
