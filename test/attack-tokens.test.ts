import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER, type Answer } from './support/harness.js';
import { deriveLinkToken, hashToken } from '../src/security/tokens.js';

// Token tampering: a reset link, a session and the setup link each open exactly one door. A
// token changed in any way, a token of another help desk, or a token of another kind opens
// nothing; a link dies with its agent's deactivation and with any later password change.

const RESET = '/api/v1/auth/reset-password';
const FORGOT = '/api/v1/auth/forgot-password';
const ME = '/api/v1/me';
const COOKIE = 'deskpass_session';
/** Fastify's maxParamLength (its default): a longer path parameter is 400 invalid_request */
const ROUTER_MAX_PARAM_LENGTH = 100;

let t: TestApp;
/** another help desk: its own SECRET_KEY, database and agents */
let other: TestApp;
/** a server that was never set up: its one-time setup link is live */
let blank: TestApp;
let ownerToken: string;
let agentRoleId: string;
let otherSessionToken: string;
let otherAgentRoleId: string;
let counter = 0;
let ipCounter = 0;

interface TestAgent {
  id: string;
  email: string;
  password: string;
  token: string;
}

/** A client address used once, so per-IP limits on link checks never answer for the token. */
function nextIp(): string {
  ipCounter += 1;
  return `10.7.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

/** A strong password no earlier step used (history and "same as current" never interfere). */
function freshPassword(): string {
  counter += 1;
  const password = `Kvq-${hashToken(`attack-tokens-${counter}`).slice(0, 18)}-Zw`;
  t.secrets.add(password);
  return password;
}

async function newAgent(app: TestApp = t, adminToken = ownerToken, roleId = agentRoleId): Promise<TestAgent> {
  counter += 1;
  const email = `tok${counter}@acme.test`;
  const password = `Lyx-${hashToken(`agent-${counter}`).slice(0, 18)}-Qw`;
  const { id, token } = await app.addAgent(adminToken, { email, name: `Tom Rusk ${counter}`, roleId, password });
  return { id, email, password, token };
}

/** A self-service link, asked for the way an agent does. */
async function forgot(email: string, app: TestApp = t): Promise<string> {
  const since = app.smtp.messages.length;
  assert.equal((await app.request('POST', FORGOT, { body: { email }, ip: nextIp() })).status, 202);
  return app.linkToken(await app.mailTo(email, /reset your password/i, since));
}

const inspect = (token: string, app: TestApp = t) => app.request('GET', `${RESET}/${token}`, { ip: nextIp() });
const redeem = (token: string, newPassword: string, app: TestApp = t) => app.request('POST', RESET, { body: { token, newPassword }, ip: nextIp() });

function assertDead(answer: Answer, reason: string, what: string): void {
  assert.equal(answer.status, 410, `${what}: ${answer.status} ${answer.raw}`);
  assert.equal(answer.body.error.code, 'reset_link_invalid', what);
  assert.deepEqual(answer.body.error.details, [{ reason }], what);
}

function assertUnauthenticated(answer: Answer, what: string): void {
  assert.equal(answer.status, 401, `${what}: ${answer.status} ${answer.raw}`);
  assert.equal(answer.body.error.code, 'unauthenticated', what);
}

async function loginStatus(email: string, password: string): Promise<number> {
  return (await t.request('POST', '/api/v1/auth/login', { body: { email, password }, ip: nextIp() })).status;
}

/** Swaps the case of the letter at `index`. */
function flipCaseAt(token: string, index: number): string {
  const c = token[index];
  const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
  return `${token.slice(0, index)}${flipped}${token.slice(index + 1)}`;
}

/** Every one-character case flip of a token (one variant per letter). */
function caseFlips(token: string): string[] {
  return [...token].flatMap((c, i) => (c.toLowerCase() !== c.toUpperCase() ? [flipCaseAt(token, i)] : []));
}

/** The same bytes written in standard base64 (+, / and = padding) and other near-misses. */
function base64Variants(token: string): Record<string, string> {
  const standard = Buffer.from(token, 'base64url').toString('base64');
  const variants: Record<string, string> = {
    'standard base64 with padding': standard,
    'standard base64 without padding': standard.replace(/=+$/, ''),
    'base64url with = padding': `${token}=`,
    'a + in place of the first character': `+${token.slice(1)}`,
    'a / in place of the last character': `${token.slice(0, -1)}/`,
  };
  if (/[-_]/.test(token)) variants['- and _ written as + and /'] = token.replace(/-/g, '+').replace(/_/g, '/');
  // without - or _ in the token, its standard base64 without padding is the token itself
  return Object.fromEntries(Object.entries(variants).filter(([, variant]) => variant !== token));
}

function whitespaceVariants(token: string): Record<string, string> {
  return {
    'a leading space': ` ${token}`,
    'a trailing space': `${token} `,
    'a trailing newline': `${token}\n`,
    'a trailing CRLF': `${token}\r\n`,
    'a tab in the middle': `${token.slice(0, 20)}\t${token.slice(20)}`,
    'a no-break space at the end': `${token}\u00a0`,
    'a zero-width space in the middle': `${token.slice(0, 20)}\u200b${token.slice(20)}`,
  };
}

before(async () => {
  t = await TestApp.start();
  ({ ownerToken, agentRoleId } = await t.setup());
  other = await TestApp.start();
  const otherSetup = await other.setup();
  otherSessionToken = otherSetup.ownerToken;
  otherAgentRoleId = otherSetup.agentRoleId;
  blank = await TestApp.start();
});

after(async () => {
  await Promise.all([t.close(), other.close(), blank.close()]);
});

describe('a reset link token opens only its own link', () => {
  test('a link token changed in any one way is unknown (410 reason unknown) on GET and POST, and the real link still works', async () => {
    const agent = await newAgent();
    const token = await forgot(agent.email);
    const forgeries: Record<string, string> = {
      'truncated by one character': token.slice(0, -1),
      'truncated at the front': token.slice(1),
      'padded by one character': `${token}A`,
      'padded at the front': `A${token}`,
      'doubled': `${token}${token}`,
      ...Object.fromEntries(caseFlips(token).map((forged, i) => [`case flipped at letter ${i + 1}`, forged])),
      ...base64Variants(token),
      ...whitespaceVariants(token),
      'percent-encoded in the body': [...token].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join(''),
      'percent-encoded in part': `${token.slice(0, 10)}%${token.charCodeAt(10).toString(16).toUpperCase()}${token.slice(11)}`,
      'upper-cased': token.toUpperCase(),
      'lower-cased': token.toLowerCase(),
      'its SHA-256 as stored': hashToken(token),
    };
    assert.ok(Object.keys(forgeries).length > 40);
    const newPassword = freshPassword();
    for (const [what, forged] of Object.entries(forgeries)) {
      assert.notEqual(forged, token, what);
      const inspected = await inspect(encodeURIComponent(forged));
      if (forged.length > ROUTER_MAX_PARAM_LENGTH) {
        // the router refuses a path parameter this long before any route runs
        assert.equal(inspected.status, 400, `GET, ${what}: ${inspected.raw}`);
        assert.equal(inspected.body.error.code, 'invalid_request');
      } else {
        assertDead(inspected, 'unknown', `GET, ${what}`);
      }
      assertDead(await redeem(forged, newPassword), 'unknown', `POST, ${what}`);
    }
    // none of the forgeries touched the link or the password
    assert.equal((await inspect(token)).status, 200);
    assert.equal(await loginStatus(agent.email, agent.password), 200);
    assert.equal(await loginStatus(agent.email, newPassword), 401);
  });

  test('the path segment is percent-decoded exactly once: a fully percent-encoded token is the same link, a double-encoded one is unknown', async () => {
    const agent = await newAgent();
    const token = await forgot(agent.email);
    const encoded = [...token].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('');
    const inspected = await inspect(encoded);
    assert.equal(inspected.status, 200, inspected.raw);
    assert.equal(inspected.body.email, agent.email);
    // one character encoded twice decodes to "%4…", which is no token
    const doubled = `%25${token.charCodeAt(0).toString(16).toUpperCase()}${token.slice(1)}`;
    assertDead(await inspect(doubled), 'unknown', 'GET, double-encoded');
    assert.equal((await inspect(token)).status, 200);
  });

  test("another help desk's valid link is unknown here, and so is a token derived with another SECRET_KEY for one of this server's own link rows", async () => {
    // the same address exists on both servers, so only the server's own secret and table tell them apart
    const here = await newAgent();
    const there = await other.addAgent(otherSessionToken, { email: here.email, name: 'Tom Rusk Elsewhere', roleId: otherAgentRoleId, password: 'Wyvern-Tulip-Gravel-83' });
    assert.ok(there.id);
    const foreignToken = await forgot(here.email, other);
    assert.equal((await inspect(foreignToken, other)).status, 200, 'valid on its own server');

    const newPassword = freshPassword();
    assertDead(await inspect(foreignToken), 'unknown', 'GET, foreign link');
    assertDead(await redeem(foreignToken, newPassword), 'unknown', 'POST, foreign link');

    const ownToken = await forgot(here.email);
    const row = await t.app.deskpass.deps.db.selectFrom('password_reset_tokens').select(['id', 'token_hash']).where('token_hash', '=', hashToken(ownToken)).executeTakeFirstOrThrow();
    assert.equal(deriveLinkToken(t.config.secretKey, row.id), ownToken, 'this server derives its links from its own key');
    const forged = deriveLinkToken(other.config.secretKey, row.id);
    assertDead(await inspect(forged), 'unknown', 'GET, derived with another key');
    assertDead(await redeem(forged, newPassword), 'unknown', 'POST, derived with another key');

    // both real links are untouched by the attempts
    assert.equal((await inspect(ownToken)).status, 200);
    assert.equal((await inspect(foreignToken, other)).status, 200);
    assert.equal(await loginStatus(here.email, here.password), 200);
  });
});

describe('each kind of token opens only its own door', () => {
  test('a session token is no link token: 410 reason unknown, and the session lives on', async () => {
    const agent = await newAgent();
    assertDead(await inspect(agent.token), 'unknown', 'GET with a session token');
    assertDead(await redeem(agent.token, freshPassword()), 'unknown', 'POST with a session token');
    assert.equal((await t.get(ME, agent.token)).status, 200);
    assert.equal(await loginStatus(agent.email, agent.password), 200);
  });

  test('a link token is no session token: 401 as a Bearer header and as the cookie, and the link stays usable', async () => {
    const agent = await newAgent();
    const link = await forgot(agent.email);
    assertUnauthenticated(await t.get(ME, link), 'Bearer');
    assertUnauthenticated(await t.request('GET', ME, { headers: { cookie: `${COOKIE}=${link}` } }), 'cookie');
    assertUnauthenticated(await t.request('POST', '/api/v1/auth/logout', { token: link }), 'Bearer on logout');
    assertUnauthenticated(await t.request('GET', '/api/v1/me/sessions', { token: link }), 'Bearer on sessions');
    assert.equal((await inspect(link)).status, 200);
  });

  test('the setup token is neither a session nor a link token, and no session or link token is a setup token', async () => {
    const setupToken = blank.app.deskpass.setupLink.issue();
    blank.secrets.add(setupToken);
    for (const app of [blank, t]) {
      assertUnauthenticated(await app.get(ME, setupToken), 'setup token as Bearer');
      assertDead(await inspect(setupToken, app), 'unknown', 'setup token as a link (GET)');
      assertDead(await redeem(setupToken, freshPassword(), app), 'unknown', 'setup token as a link (POST)');
    }
    const agent = await newAgent();
    const link = await forgot(agent.email);
    for (const [what, token] of [['session token', agent.token], ['link token', link]]) {
      const inspected = await blank.request('GET', `/api/v1/setup/${token}`, { ip: nextIp() });
      assert.equal(inspected.status, 410, `${what}: ${inspected.raw}`);
      assert.equal(inspected.body.error.code, 'setup_link_invalid');
      const used = await blank.request('POST', '/api/v1/setup', {
        body: { token, accountName: 'Rogue Desk', adminName: 'Ivan Rogue', adminEmail: 'ivan@rogue.test', password: 'Mistral-Quokka-Ember-95' },
        ip: nextIp(),
      });
      assert.equal(used.status, 410, `${what}: ${used.raw}`);
      assert.equal(used.body.error.code, 'setup_link_invalid');
    }
    // nothing was created and the real setup link still works
    const accounts = await blank.app.deskpass.deps.db.selectFrom('accounts').select('id').execute();
    assert.equal(accounts.length, 0);
    assert.equal((await blank.request('GET', `/api/v1/setup/${setupToken}`, { ip: nextIp() })).status, 200);
  });
});

describe('a link dies with its agent and with every password change', () => {
  test("a deactivated agent's self-service and admin-sent links are dead (reason revoked) and stay dead after reactivation", async () => {
    const agent = await newAgent();
    const selfService = await forgot(agent.email);
    const adminSent = await (async () => {
      const since = t.smtp.messages.length;
      assert.equal((await t.post(`/api/v1/agents/${agent.id}/password-reset-email`, undefined, ownerToken)).status, 202);
      return t.linkToken(await t.mailTo(agent.email, /reset your password/i, since));
    })();
    // the newer admin-sent link replaced the self-service one; both are checked
    assertDead(await inspect(selfService), 'revoked', 'older link before deactivation');
    assert.equal((await inspect(adminSent)).status, 200);

    assert.equal((await t.patch(`/api/v1/agents/${agent.id}`, { status: 'deactivated' }, ownerToken)).status, 200);
    for (const [what, link] of [['self-service', selfService], ['admin-sent', adminSent]]) {
      assertDead(await inspect(link), 'revoked', `GET ${what}, deactivated`);
      assertDead(await redeem(link, freshPassword()), 'revoked', `POST ${what}, deactivated`);
    }
    assert.equal((await t.patch(`/api/v1/agents/${agent.id}`, { status: 'active' }, ownerToken)).status, 200);
    const attempted = freshPassword();
    for (const [what, link] of [['self-service', selfService], ['admin-sent', adminSent]]) {
      assertDead(await inspect(link), 'revoked', `GET ${what}, reactivated`);
      assertDead(await redeem(link, attempted), 'revoked', `POST ${what}, reactivated`);
    }
    assert.equal(await loginStatus(agent.email, agent.password), 200, 'the password is what it was');
    assert.equal(await loginStatus(agent.email, attempted), 401);
  });

  const changes: Array<[string, (agent: TestAgent) => Promise<Answer>]> = [
    ['the agent changes their own password', (agent) => t.post('/api/v1/me/password', { currentPassword: agent.password, newPassword: freshPassword() }, agent.token)],
    ['an administrator sets the password', (agent) => t.put(`/api/v1/agents/${agent.id}/password`, { password: freshPassword(), requireChangeAtNextLogin: false }, ownerToken)],
    ['an administrator sets a one-time password', (agent) => t.put(`/api/v1/agents/${agent.id}/password`, { password: freshPassword(), requireChangeAtNextLogin: true }, ownerToken)],
  ];
  for (const [how, change] of changes) {
    test(`a link issued before the latest password change is dead (reason revoked) when ${how}`, async () => {
      const agent = await newAgent();
      const link = await forgot(agent.email);
      assert.equal((await inspect(link)).status, 200);
      const changed = await change(agent);
      assert.equal(changed.status, 204, changed.raw);
      assertDead(await inspect(link), 'revoked', `GET after: ${how}`);
      const attempted = freshPassword();
      assertDead(await redeem(link, attempted), 'revoked', `POST after: ${how}`);
      assert.equal(await loginStatus(agent.email, attempted), 401);
    });
  }
});

describe('session tokens', () => {
  test('a tampered Bearer session token is 401 unauthenticated, and the real session lives on', async () => {
    const agent = await newAgent();
    const token = agent.token;
    const storedHash = (await t.app.deskpass.deps.db.selectFrom('sessions').select('token_hash').where('token_hash', '=', hashToken(token)).executeTakeFirstOrThrow()).token_hash;
    const forgeries: Record<string, string> = {
      'truncated by one character': `Bearer ${token.slice(0, -1)}`,
      'padded by one character': `Bearer ${token}A`,
      ...Object.fromEntries(caseFlips(token).map((forged, i) => [`case flipped at letter ${i + 1}`, `Bearer ${forged}`])),
      ...Object.fromEntries(Object.entries(base64Variants(token)).map(([what, forged]) => [what, `Bearer ${forged}`])),
      'the stored SHA-256 of the token': `Bearer ${storedHash}`,
      "another help desk's session": `Bearer ${otherSessionToken}`,
      'a space inside the token': `Bearer ${token.slice(0, 20)} ${token.slice(20)}`,
      'two tokens': `Bearer ${token} ${token}`,
      'no scheme': token,
      'the Basic scheme': `Basic ${token}`,
      'the Token scheme': `Token ${token}`,
      'a scheme glued to the token': `Bearer${token}`,
      'the scheme alone': 'Bearer',
      'an empty header': '',
      'percent-encoded': `Bearer ${encodeURIComponent(`${token}=`)}`,
    };
    for (const [what, header] of Object.entries(forgeries)) {
      assertUnauthenticated(await t.request('GET', ME, { headers: { authorization: header } }), what);
      assertUnauthenticated(await t.request('POST', '/api/v1/auth/logout', { headers: { authorization: header } }), `${what} (logout)`);
    }
    // the scheme name is case-insensitive (RFC 9110), the token is not
    assert.equal((await t.request('GET', ME, { headers: { authorization: `bearer ${token}` } })).status, 200);
    const me = await t.get(ME, token);
    assert.equal(me.status, 200);
    assert.equal(me.body.id, agent.id);
  });

  test('with both a Bearer header and the session cookie, the Authorization header alone decides, never a 500', async () => {
    const ana = await newAgent();
    const ben = await newAgent();
    const both = (authorization: string, cookie: string, extra: Record<string, string> = {}) => ({ headers: { authorization, cookie: `${COOKIE}=${cookie}`, ...extra } });

    // Bearer of Ana, cookie of Ben: Ana
    const anaWins = await t.request('GET', ME, both(`Bearer ${ana.token}`, ben.token));
    assert.equal(anaWins.status, 200);
    assert.equal(anaWins.body.id, ana.id);
    // a valid Bearer with a garbage cookie: the Bearer
    const garbageCookie = await t.request('GET', ME, both(`Bearer ${ben.token}`, 'not-a-session'));
    assert.equal(garbageCookie.status, 200);
    assert.equal(garbageCookie.body.id, ben.id);
    // a bad Authorization header never falls back to the cookie
    for (const header of [`Bearer ${ana.token.slice(0, -1)}`, `Basic ${ben.token}`, 'Bearer', '']) {
      assertUnauthenticated(await t.request('GET', ME, both(header, ben.token)), `"${header.slice(0, 12)}" + valid cookie`);
    }

    // A state-changing call: the cookie alone, cross-site, is refused as CSRF; with a Bearer
    // header the Bearer decides (a cross-site page cannot set that header), and a bad Bearer is 401.
    const crossSite = { origin: 'https://evil.example' };
    const path = '/api/v1/me/sessions/not-a-session-id';
    const cookieOnly = await t.request('DELETE', path, { headers: { cookie: `${COOKIE}=${ben.token}`, ...crossSite } });
    assert.equal(cookieOnly.status, 403, cookieOnly.raw);
    assert.deepEqual(cookieOnly.body.error.details, [{ reason: 'cross_site_request' }]);
    const bearerDecides = await t.request('DELETE', path, both(`Bearer ${ana.token}`, ben.token, crossSite));
    assert.equal(bearerDecides.status, 404, bearerDecides.raw);
    assertUnauthenticated(await t.request('DELETE', path, both(`Bearer ${ana.token}x`, ben.token, crossSite)), 'bad Bearer + cookie, cross-site');

    // two session cookies of one name: the first decides (as @fastify/cookie parses them)
    const twoCookies = (first: string, second: string) => t.request('GET', ME, { headers: { cookie: `${COOKIE}=${first}; ${COOKIE}=${second}` } });
    const firstValid = await twoCookies(ana.token, ben.token);
    assert.equal(firstValid.status, 200);
    assert.equal(firstValid.body.id, ana.id);
    assertUnauthenticated(await twoCookies('garbage', ben.token), 'garbage cookie first');

    // both sessions are alive and nobody was signed out by the mix-ups
    assert.equal((await t.get(ME, ana.token)).body.id, ana.id);
    assert.equal((await t.get(ME, ben.token)).body.id, ben.id);
    assert.ok(!t.logs.some((line) => /"level":50/.test(line)), 'no error was logged');
  });
});
