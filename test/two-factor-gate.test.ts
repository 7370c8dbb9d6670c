// DESIGN.md "One gate": every way in — a reset link, an invitation, a one-time password, the
// portal, the API, an app's sign-in through OpenID Connect — reaches a session only through the
// second step of an agent who has a factor, and an agent who must enrol gets no app code.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OWNER, type TestApp } from './support/harness.js';
import { startPortal } from './support/portal.js';
import { Browserish } from './support/browserish.js';
import { authorizationRequest, browse, continuedTo, CookieJar, inputValue, postForm, redeem, redirectParams, registerApp, RelyingPartyServer, relyingParty, type RegisteredApp } from './support/oidc.js';
import {
  LOGIN,
  SECOND_STEP,
  STATUS,
  addPasskey,
  amrOf,
  challengeFor,
  createAgent,
  createAgentWithTotp,
  enrolTotp,
  nextCode,
  passkeyAssertion,
  rowsOf,
  signInWithTotp,
  softPasskey,
} from './support/two-factor.js';
import { REQUIRED_CHANGE_PATH, TWO_FACTOR_SETTINGS_PATH } from '../src/http/web/page-auth.js';
import { hashToken } from '../src/security/tokens.js';

let t: TestApp;
let origin: string;
let rp: RelyingPartyServer;
let zammad: RegisteredApp;
let agentRoleId: string;
let adminRoleId: string;

const db = () => t.app.deskpass.deps.db;

function ownerToken(): Promise<string> {
  return t.login(OWNER.email, OWNER.password);
}

/** Authorization codes the provider has issued, in all. */
async function authorizationCodes(): Promise<number> {
  return (await db().selectFrom('oidc_payloads').select('id').where('model', '=', 'AuthorizationCode').execute()).length;
}

function sessionCookieIn(setCookies: string[]): string | undefined {
  return setCookies.find((c) => c.startsWith('deskpass_session=') && !/^deskpass_session=;/.test(c));
}

/** The portal's second step from a browser that has been through /login: the code posted with a signed-out page's CSRF token. */
async function portalSecondStep(browser: Browserish, fields: Record<string, string>) {
  const csrf = Browserish.csrfOf((await browser.get('/login')).body);
  return browser.post('/login/two-factor', { _csrf: csrf, ...fields });
}

before(async () => {
  ({ t, origin } = await startPortal());
  ({ agentRoleId, adminRoleId } = await t.setup());
  rp = await RelyingPartyServer.start();
  zammad = await registerApp(t, rp, { name: 'Zammad' });
});
after(async () => {
  await rp.close();
  await t.close();
});

describe('links and administrators do not skip the factor', () => {
  test('a reset link redeemed: the factor stays, no session is opened, and signing in afterwards asks for it', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: agent.email })).status, 202);
    const link = t.linkToken(await t.mailTo(agent.email, /reset/i, since));
    const newPassword = 'Harbor-Thimble-Saffron-58';
    t.secrets.add(newPassword);
    const redeemed = await t.post('/api/v1/auth/reset-password', { token: link, newPassword });
    assert.equal(redeemed.status, 204);
    assert.equal(redeemed.headers['set-cookie'], undefined);
    assert.equal(await rowsOf(t, 'sessions', agent.id), 0, 'the reset ended every session and opened none');
    assert.equal(await rowsOf(t, 'two_factor_totp', agent.id), 1);
    assert.equal(await rowsOf(t, 'recovery_codes', agent.id), 10);
    const login = await t.post(LOGIN, { email: agent.email, password: newPassword });
    assert.equal(login.body.twoFactorRequired, true);
    assert.equal(login.body.token, undefined);
    t.secrets.add(login.body.challenge);
    assert.equal((await t.post(SECOND_STEP, { challenge: login.body.challenge, code: nextCode(t, agent.secret) })).status, 200);
  });

  test('an invitation accepted, then a factor added: the next sign-in asks for it', async () => {
    const agent = await createAgent(t, agentRoleId);
    assert.equal(await rowsOf(t, 'sessions', agent.id), 1, 'only the sign-in after the invitation');
    const { secret } = await enrolTotp(t, agent.token);
    const login = await t.post(LOGIN, { email: agent.email, password: agent.password });
    assert.equal(login.body.twoFactorRequired, true);
    t.secrets.add(login.body.challenge);
    assert.equal((await t.post(SECOND_STEP, { challenge: login.body.challenge, code: nextCode(t, secret) })).status, 200);
  });

  test('a one-time password set by an administrator: the factor stays; sign-in → challenge → second step → a session that must change the password first', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const oneTime = 'Tangerine-Oxbow-Lattice-47';
    t.secrets.add(oneTime);
    assert.equal((await t.put(`/api/v1/agents/${agent.id}/password`, { password: oneTime, requireChangeAtNextLogin: true }, await ownerToken())).status, 204);
    assert.equal(await rowsOf(t, 'two_factor_totp', agent.id), 1);
    const challenge = await challengeFor(t, agent.email, oneTime);
    assert.equal(await rowsOf(t, 'sessions', agent.id), 0, 'the one-time password alone opens nothing');
    const second = await t.post(SECOND_STEP, { challenge, code: nextCode(t, agent.secret) });
    assert.equal(second.status, 200, second.raw);
    assert.equal(second.body.passwordChangeRequired, true);
    const token: string = second.body.token;
    t.secrets.add(token);
    assert.equal((await t.get(STATUS, token)).body.error.code, 'password_change_required');
    const changed = 'Nebula-Cranberry-Harp-92';
    t.secrets.add(changed);
    // the session is fresh from both steps: no code needed for the required change
    assert.equal((await t.post('/api/v1/me/password', { currentPassword: oneTime, newPassword: changed }, token)).status, 204);
    assert.equal((await t.get(STATUS, token)).body.enabled, true);
    assert.equal((await t.post(LOGIN, { email: agent.email, password: changed })).body.twoFactorRequired, true);
  });

  test('the API: a right password of an agent with a factor is never a session, however it is sent', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const sessions = await rowsOf(t, 'sessions', agent.id);
    const viaCookie = await t.request('POST', LOGIN, { body: { email: agent.email, password: agent.password }, headers: { cookie: `deskpass_session=${agent.token}` } });
    assert.equal(viaCookie.body.twoFactorRequired, true);
    const withDevice = await t.post(LOGIN, { email: agent.email, password: agent.password, deviceToken: (await t.post(SECOND_STEP, { challenge: await challengeFor(t, agent.email, agent.password), code: nextCode(t, agent.secret) })).body.deviceToken });
    assert.equal(withDevice.body.twoFactorRequired, true, 'a trusted device is no second factor');
    t.secrets.add(viaCookie.body.challenge);
    t.secrets.add(withDevice.body.challenge);
    assert.equal(await rowsOf(t, 'sessions', agent.id), sessions + 1, 'only the one completed second step');
  });
});

describe('the portal', () => {
  test('POST /login sends an agent with a factor to /login/two-factor with no session cookie; POST /login/two-factor completes the sign-in', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const sessions = await rowsOf(t, 'sessions', agent.id);
    const browser = new Browserish(t);
    const first = await browser.submit('/login', { email: agent.email, password: agent.password });
    assert.equal(first.statusCode, 303);
    assert.equal(first.headers.location, '/login/two-factor');
    assert.equal(sessionCookieIn(browser.lastSetCookies), undefined, 'no session cookie after the password');
    const challengeCookie = browser.lastSetCookies.find((c) => c.startsWith('deskpass_two_factor='));
    assert.ok(challengeCookie, browser.lastSetCookies.join('\n'));
    assert.match(challengeCookie, /Path=\/login\/two-factor/);
    assert.match(challengeCookie, /HttpOnly/i);
    t.secrets.add(browser.cookies.get('deskpass_two_factor')!);
    assert.equal(await rowsOf(t, 'sessions', agent.id), sessions);
    assert.equal((await browser.get('/apps')).headers.location, '/login?next=%2Fapps', 'the portal is still signed out');

    const done = await portalSecondStep(browser, { code: nextCode(t, agent.secret) });
    assert.equal(done.statusCode, 303, done.body.slice(0, 300));
    assert.equal(done.headers.location, '/apps');
    const cookie = sessionCookieIn(browser.lastSetCookies);
    assert.ok(cookie);
    const token = browser.cookies.get('deskpass_session')!;
    t.secrets.add(token);
    assert.deepEqual(await amrOf(t, token), ['pwd', 'otp', 'mfa']);
    assert.equal(browser.cookies.has('deskpass_two_factor'), false, 'the challenge cookie is cleared');
    // the used challenge again: back to the sign-in page, no second session
    const replayed = new Browserish(t);
    replayed.cookies.set('deskpass_two_factor', challengeCookie.split(';')[0].split('=')[1]);
    const again = await portalSecondStep(replayed, { code: nextCode(t, agent.secret) });
    assert.equal(again.statusCode, 303);
    assert.match(String(again.headers.location), /^\/login/);
    assert.equal(sessionCookieIn(replayed.lastSetCookies), undefined);
    assert.equal(await rowsOf(t, 'sessions', agent.id), sessions + 1);
  });

  test('a one-time password through the portal: the second step, then the change-password page', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const oneTime = 'Velvet-Quarry-Nickel-85';
    t.secrets.add(oneTime);
    assert.equal((await t.put(`/api/v1/agents/${agent.id}/password`, { password: oneTime, requireChangeAtNextLogin: true }, await ownerToken())).status, 204);
    const browser = new Browserish(t);
    assert.equal((await browser.submit('/login', { email: agent.email, password: oneTime })).headers.location, '/login/two-factor');
    const done = await portalSecondStep(browser, { code: nextCode(t, agent.secret) });
    assert.equal(done.headers.location, REQUIRED_CHANGE_PATH);
  });

  test('the portal passkey sign-in (a passkey alone) opens a session with amr hwk+mfa', async () => {
    const agent = await createAgent(t, agentRoleId);
    const passkey = softPasskey(t);
    assert.equal((await addPasskey(t, agent.token, passkey)).status, 201);
    const browser = new Browserish(t);
    const csrf = Browserish.csrfOf((await browser.get('/login')).body);
    const signedIn = await browser.post('/login/passkey', { _csrf: csrf, passkey: JSON.stringify(await passkeyAssertion(t, passkey)) });
    assert.equal(signedIn.statusCode, 303, signedIn.body.slice(0, 300));
    const token = browser.cookies.get('deskpass_session')!;
    t.secrets.add(token);
    assert.deepEqual(await amrOf(t, token), ['hwk', 'mfa']);
  });
});

describe("an app's sign-in through OpenID Connect", () => {
  test('a browser without a session: the portal sign-in, then the second step before any code; the ID token says amr pwd+otp+mfa', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const config = await relyingParty(origin, zammad);
    const request = await authorizationRequest(config, rp.callback);
    const jar = new CookieJar();
    const landing = await browse(jar, request.url.href, rp.callback);
    assert.equal(landing.kind, 'page');
    assert.match(landing.url, /\/login\?next=%2Finteraction%2F/);
    const next = inputValue(landing.body, 'next');
    const csrf = inputValue(landing.body, '_csrf');
    const codes = await authorizationCodes();

    const afterPassword = await postForm(jar, `${origin}/login`, { _csrf: csrf, email: agent.email, password: agent.password, next });
    assert.equal(afterPassword.status, 303);
    assert.equal(afterPassword.headers.get('location'), `/login/two-factor?next=${encodeURIComponent(next)}`);
    assert.equal(jar.get('deskpass_session'), undefined, 'no session after the password');
    t.secrets.add(jar.get('deskpass_two_factor')!);
    assert.equal(await authorizationCodes(), codes, 'no code before the second step');
    assert.deepEqual(await db().selectFrom('app_sign_ins').select('session_id').where('agent_id', '=', agent.id).execute(), []);
    // the interaction itself, on the password alone, is the sign-in page again
    const interaction = await browse(jar, `${origin}${next}`, rp.callback);
    assert.equal(interaction.kind, 'page');
    assert.match(interaction.url, /\/login\?next=%2Finteraction%2F/);

    const afterCode = await postForm(jar, `${origin}/login/two-factor`, { _csrf: csrf, code: nextCode(t, agent.secret), next });
    const back = await browse(jar, await continuedTo(afterCode, `${origin}/login/two-factor`), rp.callback);
    assert.equal(back.kind, 'redirect', back.kind === 'page' ? `${back.status} ${back.body.slice(0, 300)}` : '');
    const tokens = await redeem(config, request, back.url);
    const claims = tokens.claims()!;
    assert.equal(claims.sub, agent.id);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    const session = await db().selectFrom('sessions').select('id').where('token_hash', '=', hashToken(jar.get('deskpass_session')!)).executeTakeFirstOrThrow();
    assert.equal(claims.sid, session.id, 'the sid is the session the second step opened');
    t.secrets.add(jar.get('deskpass_session')!);
  });

  test('a session opened with the code reaches the app without another step (single sign-on keeps amr)', async () => {
    const agent = await createAgentWithTotp(t, agentRoleId);
    const config = await relyingParty(origin, zammad);
    const request = await authorizationRequest(config, rp.callback);
    const landing = await browse(new CookieJar({ deskpass_session: agent.token }), request.url.href, rp.callback);
    assert.equal(landing.kind, 'redirect');
    assert.deepEqual((await redeem(config, request, landing.url)).claims()!.amr, ['pwd', 'otp', 'mfa']);
  });
});

describe('an enrolment session gets no app code', () => {
  let ownerSecret: string;

  before(async () => {
    ({ secret: ownerSecret } = await enrolTotp(t, await ownerToken()));
  });

  async function ownerWithFactor(): Promise<string> {
    return signInWithTotp(t, OWNER.email, OWNER.password, ownerSecret);
  }

  test('under "required": the interaction page sends the agent to /my-settings/two-factor, prompt=none answers login_required, no code, no app sign-in', async () => {
    const admin = await createAgent(t, adminRoleId, await ownerWithFactor());
    assert.equal((await t.patch('/api/v1/account', { twoFactorPolicy: 'required' }, await ownerWithFactor())).status, 200);
    try {
      const session = await t.login(admin.email, admin.password);
      assert.equal((await t.get('/api/v1/me/sessions', session)).body.error.code, 'two_factor_enrollment_required');
      const codes = await authorizationCodes();
      const config = await relyingParty(origin, zammad);
      const request = await authorizationRequest(config, rp.callback);
      const settings = `${origin}${TWO_FACTOR_SETTINGS_PATH}`;
      const landing = await browse(new CookieJar({ deskpass_session: session }), request.url.href, settings);
      assert.equal(landing.kind, 'redirect', landing.kind === 'page' ? `${landing.status} ${landing.url}` : '');
      assert.match(landing.url, new RegExp(`^${settings}\\?next=%2Finteraction%2F`));
      const silent = await authorizationRequest(config, rp.callback, { prompt: 'none' });
      const refused = await browse(new CookieJar({ deskpass_session: session }), silent.url.href, rp.callback);
      assert.equal(refused.kind, 'redirect');
      assert.equal(redirectParams(refused.url).get('error'), 'login_required');
      assert.equal(redirectParams(refused.url).get('code'), null);
      assert.equal(await authorizationCodes(), codes);
      assert.deepEqual(await db().selectFrom('app_sign_ins').select('session_id').where('agent_id', '=', admin.id).execute(), []);
      // the portal sign-in of an agent who must enrol ends at the settings page too, with the app's step as next
      const browser = new Browserish(t);
      const signIn = await browser.submit('/login', { email: admin.email, password: admin.password, next: '/apps' });
      assert.equal(signIn.headers.location, `${TWO_FACTOR_SETTINGS_PATH}?next=%2Fapps`);
    } finally {
      assert.equal((await t.patch('/api/v1/account', { twoFactorPolicy: 'optional' }, await ownerWithFactor())).status, 200);
    }
  });
});
