import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestApp, OWNER } from './support/harness.js';
import type { CapturedMail } from './support/smtp-capture.js';

const FORGOT = '/api/v1/auth/forgot-password';
const RESET = '/api/v1/auth/reset-password';
const HOUR_MS = 3_600_000;

let t: TestApp;
let agentRoleId: string;
let counter = 0;

interface TestAgent {
  id: string;
  email: string;
  name: string;
  password: string;
  token: string;
}

/** A fresh owner session: the clock moves in this file, so nobody keeps a token across tests. */
function ownerToken(): Promise<string> {
  return t.login(OWNER.email, OWNER.password);
}

async function newAgent(password = 'Quartz-Harbor-Meadow-31'): Promise<TestAgent> {
  counter += 1;
  const email = `member${counter}@acme.test`;
  const name = `Noor Hadley ${counter}`;
  const since = t.smtp.messages.length;
  const { id, token } = await t.addAgent(await ownerToken(), { email, name, roleId: agentRoleId, password });
  // setting the first password sends a notice; let it arrive so it is not mistaken for a later one
  await t.mailTo(email, /was changed|password is set/i, since);
  return { id, email, name, password, token };
}

/** Asks for a reset link the way an agent does, and returns the emailed token and when it was asked. */
async function forgot(email: string): Promise<{ token: string; issuedAt: Date; mail: CapturedMail }> {
  const since = t.smtp.messages.length;
  const issuedAt = t.clock.now();
  const answer = await t.post(FORGOT, { email });
  assert.equal(answer.status, 202);
  const mail = await t.mailTo(email, /reset your password/i, since);
  return { token: t.linkToken(mail), issuedAt, mail };
}

function redeem(token: string, newPassword: string) {
  // deliberately weak test inputs ('password') are words that appear in URLs; only search for real ones
  if (newPassword.length >= 16) t.secrets.add(newPassword);
  return t.post(RESET, { token, newPassword });
}

function assertDead(answer: { status: number; body: any }, reason: string, what = ''): void {
  assert.equal(answer.status, 410, what);
  assert.equal(answer.body.error.code, 'reset_link_invalid', what);
  assert.equal(answer.body.error.details?.[0]?.reason, reason, what);
}

async function loginStatus(email: string, password: string): Promise<number> {
  return (await t.post('/api/v1/auth/login', { email, password })).status;
}

const quietly = () => new Promise((resolve) => setTimeout(resolve, 700));

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

describe('forgot password', () => {
  test('forgot password answers the same 202 body for a real, an unknown and a deactivated email, and only the real one gets mail', async () => {
    const real = await newAgent();
    const gone = await newAgent();
    assert.equal((await t.patch(`/api/v1/agents/${gone.id}`, { status: 'deactivated' }, await ownerToken())).status, 200);
    const unknown = `nobody${++counter}@acme.test`;
    const since = t.smtp.messages.length;

    const answers = [];
    for (const email of [unknown, gone.email, real.email]) answers.push(await t.post(FORGOT, { email }));
    for (const answer of answers) {
      assert.equal(answer.status, 202);
      assert.equal(typeof answer.body.message, 'string');
      assert.equal(answer.raw, answers[0].raw);
    }
    await t.mailTo(real.email, /reset your password/i, since);
    await quietly();
    const later = t.smtp.messages.slice(since);
    assert.deepEqual(later.filter((m) => m.to.includes(unknown)), []);
    assert.deepEqual(later.filter((m) => m.to.includes(gone.email)), []);
    assert.equal(later.filter((m) => m.to.includes(real.email)).length, 1);
  });

  test('the emailed link is {PUBLIC_URL}/reset-password/{token}, and GET on it answers the email and an expiresAt 48 h after issue', async () => {
    const agent = await newAgent();
    const { token, issuedAt, mail } = await forgot(agent.email);
    assert.ok(mail.text.includes(`${t.config.publicUrl}/reset-password/${token}`));
    assert.ok(mail.html.includes(`${t.config.publicUrl}/reset-password/${token}`));
    const link = await t.get(`${RESET}/${token}`);
    assert.equal(link.status, 200);
    assert.deepEqual(Object.keys(link.body).sort(), ['email', 'expiresAt']);
    assert.equal(link.body.email, agent.email);
    assert.equal(link.body.expiresAt, new Date(issuedAt.getTime() + 48 * HOUR_MS).toISOString());
  });

  test('forgot password sends nothing to an invited agent who has no password yet: their way in is the invitation', async () => {
    const since = t.smtp.messages.length;
    const email = `invitee${++counter}@acme.test`;
    const created = await t.post('/api/v1/agents', { email, name: 'Ines Invitee', roleId: agentRoleId }, await ownerToken());
    assert.equal(created.status, 201);
    const invitation = await t.mailTo(email, /invit/i, since);
    const answer = await t.post(FORGOT, { email });
    assert.equal(answer.status, 202);
    await quietly();
    assert.equal(t.smtp.messages.slice(since).filter((m) => m.to.includes(email)).length, 1);
    // and the invitation link is still alive
    assert.equal((await t.get(`${RESET}/${t.linkToken(invitation)}`)).status, 200);
  });

  test('forgot password matches the address case-insensitively', async () => {
    const agent = await newAgent();
    const since = t.smtp.messages.length;
    assert.equal((await t.post(FORGOT, { email: agent.email.toUpperCase() })).status, 202);
    const mail = await t.mailTo(agent.email, /reset your password/i, since);
    assert.equal((await t.get(`${RESET}/${t.linkToken(mail)}`)).status, 200);
  });
});

describe('redeeming a link', () => {
  test('redeeming a link answers 204; the new password signs in and the old one no longer does', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    const answer = await redeem(token, 'Copper-Lantern-Orchid-58');
    assert.equal(answer.status, 204);
    assert.equal(await loginStatus(agent.email, 'Copper-Lantern-Orchid-58'), 200);
    const old = await t.post('/api/v1/auth/login', { email: agent.email, password: agent.password });
    assert.equal(old.status, 401);
    assert.equal(old.body.error.code, 'invalid_credentials');
  });

  test('a reset link works once under a race of ten', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    const passwords = Array.from({ length: 10 }, (_, i) => `Racing-Comet-Willow-${i}${i}`);
    const answers = await Promise.all(passwords.map((password) => redeem(token, password)));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [204, 410, 410, 410, 410, 410, 410, 410, 410, 410]);
    for (const answer of answers.filter((a) => a.status === 410)) assertDead(answer, 'used');
    const winner = passwords[answers.findIndex((a) => a.status === 204)];
    assert.equal(await loginStatus(agent.email, winner), 200);
    assert.equal(await loginStatus(agent.email, passwords.find((p) => p !== winner)!), 401);
  });

  test('a reset link works once under a race of ten with the same new password', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    const answers = await Promise.all(Array.from({ length: 10 }, () => redeem(token, 'Twin-Comet-Willow-88')));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [204, 410, 410, 410, 410, 410, 410, 410, 410, 410]);
    for (const answer of answers.filter((a) => a.status === 410)) assertDead(answer, 'used');
  });

  test('a reset link is valid at 48 h − 1 s and dead at 48 h + 1 s', async () => {
    const agent = await newAgent();
    const { token, issuedAt } = await forgot(agent.email);
    t.clock.set(new Date(issuedAt.getTime() + 48 * HOUR_MS - 1000));
    assert.equal((await t.get(`${RESET}/${token}`)).status, 200, '48 h − 1 s');
    t.clock.set(new Date(issuedAt.getTime() + 48 * HOUR_MS + 1000));
    assertDead(await t.get(`${RESET}/${token}`), 'expired', 'GET at 48 h + 1 s');
    assertDead(await redeem(token, 'Copper-Lantern-Orchid-58'), 'expired', 'POST at 48 h + 1 s');
    assert.equal(await loginStatus(agent.email, agent.password), 200);
  });

  test('a link redeemed at 48 h − 1 s still works', async () => {
    const agent = await newAgent();
    const { token, issuedAt } = await forgot(agent.email);
    t.clock.set(new Date(issuedAt.getTime() + 48 * HOUR_MS - 1000));
    assert.equal((await redeem(token, 'Copper-Lantern-Orchid-58')).status, 204);
  });

  test('a used link is dead with reason "used"', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    assert.equal((await redeem(token, 'Copper-Lantern-Orchid-58')).status, 204);
    assertDead(await t.get(`${RESET}/${token}`), 'used', 'GET');
    assertDead(await redeem(token, 'Another-Lantern-Orchid-59'), 'used', 'POST');
    assert.equal(await loginStatus(agent.email, 'Another-Lantern-Orchid-59'), 401);
  });

  test('a newer link revokes the older one (reason "revoked"); the newer one works', async () => {
    const agent = await newAgent();
    const first = await forgot(agent.email);
    const second = await forgot(agent.email);
    assert.notEqual(first.token, second.token);
    assertDead(await t.get(`${RESET}/${first.token}`), 'revoked', 'GET older');
    assertDead(await redeem(first.token, 'Copper-Lantern-Orchid-58'), 'revoked', 'POST older');
    assert.equal((await redeem(second.token, 'Copper-Lantern-Orchid-58')).status, 204);
  });

  test('a random, truncated, padded or case-flipped token is dead with reason "unknown"', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    const flipped = [...token].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');
    assert.notEqual(flipped, token);
    const forgeries = {
      random: randomBytes(32).toString('base64url'),
      truncated: token.slice(0, -1),
      padded: `${token}A`,
      'case-flipped': flipped,
      'one character changed': `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
    };
    for (const [what, forged] of Object.entries(forgeries)) {
      assertDead(await t.get(`${RESET}/${forged}`), 'unknown', `GET ${what}`);
      assertDead(await redeem(forged, 'Copper-Lantern-Orchid-58'), 'unknown', `POST ${what}`);
    }
    // the real one is untouched by the forgeries
    assert.equal((await t.get(`${RESET}/${token}`)).status, 200);
    assert.equal(await loginStatus(agent.email, agent.password), 200);
  });

  test('a deactivated agent\'s link is dead', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    assert.equal((await t.patch(`/api/v1/agents/${agent.id}`, { status: 'deactivated' }, await ownerToken())).status, 200);
    const inspected = await t.get(`${RESET}/${token}`);
    assert.equal(inspected.status, 410);
    assert.equal(inspected.body.error.code, 'reset_link_invalid');
    const redeemed = await redeem(token, 'Copper-Lantern-Orchid-58');
    assert.equal(redeemed.status, 410);
    assert.equal(redeemed.body.error.code, 'reset_link_invalid');
    // reactivating does not bring the old link back
    assert.equal((await t.patch(`/api/v1/agents/${agent.id}`, { status: 'active' }, await ownerToken())).status, 200);
    assert.equal((await t.get(`${RESET}/${token}`)).status, 410);
    assert.equal(await loginStatus(agent.email, agent.password), 200);
  });
});

describe('any password change revokes every link and every session', () => {
  test('a self-change kills outstanding links and ends every session but the current one', async () => {
    const agent = await newAgent();
    const other = await t.login(agent.email, agent.password);
    const { token } = await forgot(agent.email);
    const changed = await t.post('/api/v1/me/password', { currentPassword: agent.password, newPassword: 'Copper-Lantern-Orchid-58' }, agent.token);
    assert.equal(changed.status, 204);
    assert.equal((await t.get('/api/v1/me', agent.token)).status, 200, 'the session that made the change lives on');
    assert.equal((await t.get('/api/v1/me', other)).status, 401, 'the other session ended');
    assertDead(await t.get(`${RESET}/${token}`), 'revoked', 'the outstanding link');
    const sessions = await t.get('/api/v1/me/sessions', agent.token);
    assert.equal(sessions.body.sessions.length, 1);
    assert.equal(sessions.body.sessions[0].current, true);
  });

  test('a reset ends all of the agent\'s sessions', async () => {
    const agent = await newAgent();
    const other = await t.login(agent.email, agent.password);
    const { token } = await forgot(agent.email);
    assert.equal((await redeem(token, 'Copper-Lantern-Orchid-58')).status, 204);
    for (const session of [agent.token, other]) {
      const me = await t.get('/api/v1/me', session);
      assert.equal(me.status, 401);
      assert.equal(me.body.error.code, 'unauthenticated');
    }
  });

  test('an admin-sent link dies when the agent changes the password', async () => {
    const agent = await newAgent();
    const since = t.smtp.messages.length;
    const sent = await t.post(`/api/v1/agents/${agent.id}/password-reset-email`, undefined, await ownerToken());
    assert.equal(sent.status, 202);
    const token = t.linkToken(await t.mailTo(agent.email, /reset your password/i, since));
    assert.equal((await t.get(`${RESET}/${token}`)).status, 200);
    assert.equal((await t.post('/api/v1/me/password', { currentPassword: agent.password, newPassword: 'Copper-Lantern-Orchid-58' }, agent.token)).status, 204);
    assertDead(await t.get(`${RESET}/${token}`), 'revoked');
  });

  test('a reset clears a lockout on the address', async () => {
    const agent = await newAgent();
    for (let i = 0; i < 5; i += 1) await t.post('/api/v1/auth/login', { email: agent.email, password: `Wrong-Guess-Number-${i}0` });
    assert.equal(await loginStatus(agent.email, agent.password), 423);
    const { token } = await forgot(agent.email);
    assert.equal((await redeem(token, 'Copper-Lantern-Orchid-58')).status, 204);
    assert.equal(await loginStatus(agent.email, 'Copper-Lantern-Orchid-58'), 200);
  });
});

describe('password rules at reset', () => {
  test('422 password_rejected (common, too short, contains name or email) leaves the link usable', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    const firstName = agent.name.split(' ')[0];
    const localPart = agent.email.split('@')[0];
    const cases: [string, string][] = [
      ['password', 'blocklisted'],
      ['passwordpassword', 'blocklisted'],
      ['Sh0rt-pw', 'min_length'],
      [`Orbit-${firstName}-Canyon-4`, 'contains_personal_info'],
      [`Orbit-${localPart}-Canyon`, 'contains_personal_info'],
      [`Orbit-Canyon-${agent.email}`, 'contains_personal_info'],
    ];
    for (const [password, rule] of cases) {
      const answer = await redeem(token, password);
      assert.equal(answer.status, 422, password);
      assert.equal(answer.body.error.code, 'password_rejected', password);
      const rules = answer.body.error.details.map((d: { rule: string }) => d.rule);
      assert.ok(rules.includes(rule), `${password}: ${rules.join(',')}`);
      assert.equal((await t.get(`${RESET}/${token}`)).status, 200, `link still usable after ${password}`);
    }
    assert.equal(await loginStatus(agent.email, agent.password), 200, 'the password did not change');
    assert.equal((await redeem(token, 'Copper-Lantern-Orchid-58')).status, 204);
  });

  test('a new password must differ from the current one (rule same_as_current) and the link stays usable', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    const same = await redeem(token, agent.password);
    assert.equal(same.status, 422);
    assert.equal(same.body.error.code, 'password_rejected');
    assert.deepEqual(same.body.error.details.map((d: { rule: string }) => d.rule), ['same_as_current']);
    assert.equal((await t.get(`${RESET}/${token}`)).status, 200);
    // NFC: the same password typed with a decomposed accent is still the same password
    const agent2 = await newAgent('Café-Harbor-Meadow-31');
    const link2 = await forgot(agent2.email);
    const decomposed = await redeem(link2.token, 'Cafe\u0301-Harbor-Meadow-31');
    assert.equal(decomposed.status, 422);
    assert.deepEqual(decomposed.body.error.details.map((d: { rule: string }) => d.rule), ['same_as_current']);
  });

  test('a new password must differ from the last 5 (rule reused); the sixth-last is allowed again', async () => {
    const passwords = ['Amber-Falcon-River-01', 'Amber-Falcon-River-02', 'Amber-Falcon-River-03', 'Amber-Falcon-River-04', 'Amber-Falcon-River-05'];
    const agent = await newAgent(passwords[0]);
    for (let i = 1; i < passwords.length; i += 1) {
      const changed = await t.post('/api/v1/me/password', { currentPassword: passwords[i - 1], newPassword: passwords[i] }, agent.token);
      assert.equal(changed.status, 204, passwords[i]);
    }
    // last 5: 01 … 05 (05 is current)
    const { token } = await forgot(agent.email);
    for (const old of passwords.slice(0, 4)) {
      const answer = await redeem(token, old);
      assert.equal(answer.status, 422, old);
      assert.deepEqual(answer.body.error.details.map((d: { rule: string }) => d.rule), ['reused'], old);
    }
    assert.equal((await t.get(`${RESET}/${token}`)).status, 200);
    assert.equal((await redeem(token, 'Amber-Falcon-River-06')).status, 204);
    // now the last 5 are 02 … 06, so 01 may come back
    const session = await t.login(agent.email, 'Amber-Falcon-River-06');
    const back = await t.post('/api/v1/me/password', { currentPassword: 'Amber-Falcon-River-06', newPassword: passwords[0] }, session);
    assert.equal(back.status, 204);
    // the last 5 are now 03, 04, 05, 06, 01: 03 may not come back
    const again = await t.post('/api/v1/me/password', { currentPassword: passwords[0], newPassword: passwords[2] }, session);
    assert.equal(again.status, 422);
    assert.deepEqual(again.body.error.details.map((d: { rule: string }) => d.rule), ['reused']);
  });
});

describe('account settings', () => {
  test('resetLinkLifetimeHours changes the lifetime of new links: 2 h means dead at 2 h + 1 s', async () => {
    const agent = await newAgent();
    const patched = await t.patch('/api/v1/account', { resetLinkLifetimeHours: 2 }, await ownerToken());
    assert.equal(patched.status, 200);
    assert.equal(patched.body.settings.resetLinkLifetimeHours, 2);
    try {
      const { token, issuedAt, mail } = await forgot(agent.email);
      assert.match(mail.text, /2 hours/);
      const link = await t.get(`${RESET}/${token}`);
      assert.equal(link.body.expiresAt, new Date(issuedAt.getTime() + 2 * HOUR_MS).toISOString());
      t.clock.set(new Date(issuedAt.getTime() + 2 * HOUR_MS - 1000));
      assert.equal((await t.get(`${RESET}/${token}`)).status, 200);
      t.clock.set(new Date(issuedAt.getTime() + 2 * HOUR_MS + 1000));
      assertDead(await t.get(`${RESET}/${token}`), 'expired');
    } finally {
      assert.equal((await t.patch('/api/v1/account', { resetLinkLifetimeHours: 48 }, await ownerToken())).status, 200);
    }
  });

  test('resetLinkLifetimeHours outside 1–72 is refused with 400 invalid_request', async () => {
    const owner = await ownerToken();
    for (const value of [0, 73, 1.5]) {
      const answer = await t.patch('/api/v1/account', { resetLinkLifetimeHours: value }, owner);
      assert.equal(answer.status, 400, String(value));
      assert.equal(answer.body.error.code, 'invalid_request');
    }
    assert.equal((await t.get('/api/v1/account', owner)).body.settings.resetLinkLifetimeHours, 48);
  });
});

describe('notices', () => {
  function assertNoPassword(mail: CapturedMail, ...passwords: string[]): void {
    for (const password of passwords) {
      assert.ok(!mail.raw.includes(password), 'raw message');
      assert.ok(!mail.text.includes(password), 'text part');
      assert.ok(!mail.html.includes(password), 'html part');
    }
  }

  test('a "password changed" email follows a reset and contains no password', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    const since = t.smtp.messages.length;
    assert.equal((await redeem(token, 'Copper-Lantern-Orchid-58')).status, 204);
    const mail = await t.mailTo(agent.email, /was changed/i, since);
    assertNoPassword(mail, 'Copper-Lantern-Orchid-58', agent.password);
    assert.ok(!mail.text.includes(token), 'no link token in the notice');
  });

  test('a "password changed" email follows a self-change and contains no password', async () => {
    const agent = await newAgent();
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/me/password', { currentPassword: agent.password, newPassword: 'Copper-Lantern-Orchid-58' }, agent.token)).status, 204);
    const mail = await t.mailTo(agent.email, /was changed/i, since);
    assertNoPassword(mail, 'Copper-Lantern-Orchid-58', agent.password);
  });

  test('a rejected or failed change sends no notice', async () => {
    const agent = await newAgent();
    const { token } = await forgot(agent.email);
    const since = t.smtp.messages.length;
    assert.equal((await redeem(token, 'password')).status, 422);
    const wrong = await t.post('/api/v1/me/password', { currentPassword: 'Not-My-Password-99', newPassword: 'Copper-Lantern-Orchid-58' }, agent.token);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error.code, 'current_password_incorrect');
    await quietly();
    assert.deepEqual(t.smtp.messages.slice(since).filter((m) => m.to.includes(agent.email)), []);
  });
});

describe('secrets', () => {
  test('no link token or password appears in any API answer or log line', () => {
    const sessionTokens = new Set<string>();
    // the login answer carries the session token by design; only look for link tokens and passwords
    for (const answer of t.answers) {
      try {
        const token = JSON.parse(answer)?.token;
        if (typeof token === 'string') sessionTokens.add(token);
      } catch {
        // not JSON
      }
    }
    const allow = [...sessionTokens];
    assert.deepEqual(t.leakedSecrets(t.answers.join('\n'), allow), []);
    assert.deepEqual(t.leakedSecrets(t.logs.join('\n')), []);
  });
});
