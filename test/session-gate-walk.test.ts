// One session gate for the API and the portal, walked over EVERY route of the app as Fastify's
// route table has it (a new route is covered without anyone listing it): a session whose
// password must change reaches only the routes that allow it, and the refused requests change
// nothing. Security review (issue 8): only 9 of 18 API routes were tried before.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestApp } from './support/harness.js';
import { Browserish } from './support/browserish.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import { REQUIRED_CHANGE_PATH } from '../src/http/web/page-auth.js';
import type { RouteRecord } from '../src/app.js';

const SAM = { email: 'sam@acme.test', name: 'Sam Rivera', password: 'Juniper-Cobalt-Harbor-58' };
const ONE_TIME = 'Temporary-Walnut-Prism-64';

/** The routes anyone may call: a new one must be added here on purpose, or put behind the gate. */
const PUBLIC_ROUTES = [
  'GET /healthz',
  'GET /readyz',
  'GET /api/v1/openapi.json',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/forgot-password',
  'GET /api/v1/auth/reset-password/:token',
  'POST /api/v1/auth/reset-password',
  'GET /api/v1/setup/:token',
  'POST /api/v1/setup',
  'GET /assets/*',
  // The portal's 404 page for unknown pages (it changes nothing; signed in, it keeps the header).
  'GET /*',
  'GET /login',
  'POST /login',
  'GET /forgot-password',
  'POST /forgot-password',
  'GET /forgot-password/sent',
  'GET /reset-password/:token',
  'POST /reset-password/:token',
  // a dead invitation link asks for a new invitation (issue 12): the link names the invited agent, rate-limited
  'POST /reset-password/:token/new-invitation',
  'GET /setup/:token',
  'POST /setup/:token',
  // the password meter's check on those two pages: the link's (or setup's) own context, no session
  'POST /reset-password/:token/check',
  'POST /setup/:token/password-check',
  // The second step of a sign-in and passkey sign-in: before any session exists, by design
  // (a challenge from a right password, or a passkey assertion, is their credential).
  'POST /api/v1/auth/login/two-factor',
  'POST /api/v1/auth/passkey/options',
  'POST /api/v1/auth/passkey',
  'GET /login/two-factor',
  'POST /login/two-factor',
  'POST /login/passkey',
  // the browser side of passkeys, @simplewebauthn/browser's bundle, like the other assets
  'GET /assets/webauthn/simplewebauthn-browser.js',
  // OpenID Connect: protocol endpoints with their own authentication (client secrets, PKCE,
  // bearer access tokens); the authorization endpoint reaches a session only through the
  // portal's interaction page, which is behind this gate (see oidc-gate.test.ts).
  'GET /.well-known/openid-configuration',
  'GET /oidc/*',
  'POST /oidc/*',
  'OPTIONS /oidc/*',
  'POST /oidc/token',
  'POST /oidc/token/introspection',
  'POST /oidc/token/revocation',
].sort();

function concreteUrl(route: RouteRecord, ids: { agentId: string; roleId: string; sessionId: string; appId: string }): string {
  return route.url
    .replace(':id', route.url.includes('/roles/') ? ids.roleId : route.url.includes('/sessions/') ? ids.sessionId : route.url.includes('/apps/') ? ids.appId : ids.agentId)
    .replace(':token', randomBytes(32).toString('base64url'))
    .replace('*', 'anything');
}

describe('the session gate, walked over every route', () => {
  let t: TestApp;
  let samId: string;
  let samToken: string;
  let samBrowser: Browserish;
  let ids: { agentId: string; roleId: string; sessionId: string; appId: string };
  let gated: RouteRecord[];

  before(async () => {
    t = await TestApp.start();
    const { ownerToken, adminRoleId } = await t.setup();
    // One-time passwords that expire within the session's idle timeout (8 h), for the last test.
    assert.equal((await t.patch('/api/v1/account', { temporaryPasswordLifetimeHours: 1 }, ownerToken)).status, 200);
    // An Administrator (not the Account Administrator): no permission check would stop them,
    // so only the gate stands between the one-time password and each route.
    samId = (await t.addAgent(ownerToken, { ...SAM, roleId: adminRoleId })).id;
    t.secrets.add(ONE_TIME);
    const set = await t.put(`/api/v1/agents/${samId}/password`, { password: ONE_TIME, requireChangeAtNextLogin: true }, ownerToken);
    assert.equal(set.status, 204, set.raw);
    const login = await t.post('/api/v1/auth/login', { email: SAM.email, password: ONE_TIME });
    assert.equal(login.body.passwordChangeRequired, true);
    samToken = login.body.token;
    samBrowser = new Browserish(t);
    assert.equal((await samBrowser.submit('/login', { email: SAM.email, password: ONE_TIME })).headers.location, REQUIRED_CHANGE_PATH);
    const ownerId = (await t.get('/api/v1/me', ownerToken)).body.id;
    // A confidential app, so that the refused apps routes (update, rotate, delete) have a real target to leave alone.
    const app = await t.post('/api/v1/apps', { name: 'osTicket', type: 'confidential', redirectUris: ['https://tickets.acme.test/api/auth/oauth2'] }, ownerToken);
    assert.equal(app.status, 201, app.raw);
    t.secrets.add(app.body.clientSecret);
    ids = { agentId: ownerId, roleId: adminRoleId, sessionId: randomBytes(16).toString('hex'), appId: app.body.id };
    gated = t.app.deskpass.routes.filter((r) => r.config.gate && r.method !== 'HEAD');
  });
  after(async () => t?.close());

  test('every route is either behind the gate or on the list of public routes', () => {
    const open = t.app.deskpass.routes.filter((r) => !r.config.gate && r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`).sort();
    assert.deepEqual(open, PUBLIC_ROUTES);
    assert.ok(gated.length >= 40, `${gated.length} gated routes`);
    const gatedNames = gated.map((r) => `${r.method} ${r.url}`);
    for (const route of ['GET /api/v1/apps', 'POST /api/v1/apps', 'GET /api/v1/apps/:id', 'PATCH /api/v1/apps/:id', 'DELETE /api/v1/apps/:id', 'POST /api/v1/apps/:id/secret', 'GET /apps', 'GET /manage/apps', 'POST /manage/apps/new', 'POST /manage/apps/:id', 'POST /manage/apps/:id/secret', 'POST /manage/apps/:id/delete']) {
      assert.ok(gatedNames.includes(route), `${route} is behind the gate`);
    }
  });

  test('while a password change is required, every API route but /me, /me/password and logout answers 403 password_change_required, and nothing changes', async () => {
    const before = await snapshotState(t);
    const allowed: string[] = [];
    for (const route of gated.filter((r) => r.config.gate === 'api' && !r.config.allowedDuringPasswordChange)) {
      const answer = await t.request(route.method, concreteUrl(route, ids), { token: samToken, ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { body: {} }) });
      assert.equal(answer.status, 403, `${route.method} ${route.url}: ${answer.raw}`);
      assert.equal(answer.body.error.code, 'password_change_required', `${route.method} ${route.url}`);
    }
    assertStateUnchanged(before, await snapshotState(t), 'refused API routes');
    for (const route of gated.filter((r) => r.config.gate === 'api' && r.config.allowedDuringPasswordChange)) allowed.push(`${route.method} ${route.url}`);
    assert.deepEqual(allowed.sort(), ['GET /api/v1/me', 'POST /api/v1/auth/logout', 'POST /api/v1/me/password']);
    const me = await t.get('/api/v1/me', samToken);
    assert.equal(me.status, 200);
  });

  test('the same on the portal: every page but the change-password page and sign-out sends the browser to the change-password page, and nothing changes', async () => {
    const before = await snapshotState(t);
    for (const route of gated.filter((r) => r.config.gate === 'portal' && !r.config.allowedDuringPasswordChange)) {
      const url = concreteUrl(route, ids);
      const answer = route.method === 'GET' ? await samBrowser.get(url) : await samBrowser.post(url, {});
      assert.equal(answer.statusCode, 303, `${route.method} ${route.url}`);
      // a page the agent was on its way to (an app's sign-in among them) comes after the change
      const expected = route.method === 'GET' && url !== '/' ? `${REQUIRED_CHANGE_PATH}?next=${encodeURIComponent(url)}` : REQUIRED_CHANGE_PATH;
      assert.equal(answer.headers.location, expected, `${route.method} ${route.url}`);
    }
    assertStateUnchanged(before, await snapshotState(t), 'refused portal pages');
    const allowed = gated.filter((r) => r.config.gate === 'portal' && r.config.allowedDuringPasswordChange).map((r) => `${r.method} ${r.url}`);
    // the meter of the change-password page asks about the agent's own new password
    assert.deepEqual(allowed.sort(), ['GET /password-change-required', 'POST /logout', 'POST /my-settings/password-check', 'POST /password-change-required']);
    assert.equal((await samBrowser.get(REQUIRED_CHANGE_PATH)).statusCode, 200);
  });

  test('once the one-time password has expired, every API route but logout answers 401 temporary_password_expired, and logout still works', async () => {
    t.clock.advanceSeconds(3600 + 1);
    for (const route of gated.filter((r) => r.config.gate === 'api' && !r.config.allowedWhenTemporaryPasswordExpired)) {
      const answer = await t.request(route.method, concreteUrl(route, ids), { token: samToken, ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { body: {} }) });
      assert.equal(answer.status, 401, `${route.method} ${route.url}: ${answer.raw}`);
      assert.equal(answer.body.error.code, 'temporary_password_expired', `${route.method} ${route.url}`);
    }
    assert.equal((await t.post('/api/v1/auth/logout', undefined, samToken)).status, 204);
  });
});
