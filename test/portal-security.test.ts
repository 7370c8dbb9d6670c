import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OWNER, TestApp } from './support/harness.js';
import { Browserish } from './support/browserish.js';

let t: TestApp;
const CASEY = { email: 'casey@acme.test', name: 'Casey Jones', password: 'Orchard-Basalt-Finch-26' };

async function signedInBrowser(email = OWNER.email, password = OWNER.password): Promise<Browserish> {
  const b = new Browserish(t);
  const page = await b.get('/login');
  const answer = await b.post('/login', { _csrf: Browserish.csrfOf(page.body), email, password });
  assert.equal(answer.statusCode, 303, answer.body);
  return b;
}

describe('agent portal: security of the pages', () => {
  before(async () => {
    t = await TestApp.start();
    const { ownerToken, agentRoleId } = await t.setup();
    await t.addAgent(ownerToken, { ...CASEY, roleId: agentRoleId });
  });
  after(async () => t?.close());

  test('a form post without a CSRF token, or with a wrong one, is refused', async () => {
    const b = new Browserish(t);
    const page = await b.get('/login');
    assert.ok(b.cookies.has('deskpass_csrf'), 'the CSRF secret is set in a cookie');
    const token = Browserish.csrfOf(page.body);

    const without = await b.post('/login', { email: OWNER.email, password: OWNER.password });
    assert.equal(without.statusCode, 403);
    assert.match(without.body, /This form has expired/);
    assert.equal(b.cookies.has('deskpass_session'), false);

    const wrong = await b.post('/login', { _csrf: `${token.slice(0, -2)}xx`, email: OWNER.email, password: OWNER.password });
    assert.equal(wrong.statusCode, 403);

    const stranger = new Browserish(t);
    const theirs = await stranger.get('/login');
    const foreign = await b.post('/login', { _csrf: Browserish.csrfOf(theirs.body), email: OWNER.email, password: OWNER.password });
    assert.equal(foreign.statusCode, 403, "another browser's token does not fit this browser's secret");

    const right = await b.post('/login', { _csrf: token, email: OWNER.email, password: OWNER.password });
    assert.equal(right.statusCode, 303);
    assert.ok(b.cookies.has('deskpass_session'));
  });

  test('a signed-in form needs its own token: none, or a signed-out page\'s, changes nothing', async () => {
    const b = await signedInBrowser(CASEY.email, CASEY.password);
    const signedOutToken = Browserish.csrfOf((await new Browserish(t).get('/login')).body);
    const newPassword = 'Lighthouse-Orbit-Cedar-55';
    t.secrets.add(newPassword);
    const form = { currentPassword: CASEY.password, newPassword, confirmPassword: newPassword };

    assert.equal((await b.post('/my-settings/password', form)).statusCode, 403);
    assert.equal((await b.post('/my-settings/password', { ...form, _csrf: signedOutToken })).statusCode, 403, 'a token is bound to the session');
    assert.equal((await b.post('/logout', {})).statusCode, 403, 'signing out is a form like any other');
    await t.login(CASEY.email, CASEY.password); // unchanged

    const page = await b.get('/my-settings/password');
    const done = await b.post('/my-settings/password', { ...form, _csrf: Browserish.csrfOf(page.body) });
    assert.equal(done.statusCode, 303);
    await t.login(CASEY.email, newPassword);
  });

  test('a signed-out visitor posting to a signed-in page is sent to sign in, and nothing changes', async () => {
    const b = new Browserish(t);
    const answer = await b.post('/manage/account', { resetLinkLifetimeHours: '1' });
    assert.equal(answer.statusCode, 303);
    assert.equal(answer.headers.location, '/login');
    const page = await b.get('/manage/agents?status=active');
    assert.equal(page.headers.location, `/login?next=${encodeURIComponent('/manage/agents?status=active')}`);
  });

  test('headers: a strict Content-Security-Policy, no referrer, no caching of pages; no inline script or style anywhere', async () => {
    const b = await signedInBrowser();
    const pages = ['/apps', '/manage/agents', '/manage/agents/new', '/manage/roles', '/manage/audit', '/manage/account', '/manage/apps', '/manage/apps/new?preset=zammad&base=https%3A%2F%2Fhelpdesk.acme.test', '/my-settings/password', '/my-settings/sessions'];
    for (const url of pages) {
      const answer = await b.get(url);
      assert.equal(answer.statusCode, 200, url);
      const csp = String(answer.headers['content-security-policy']);
      for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"]) {
        assert.ok(csp.split(';').includes(directive), `${url}: ${directive} in ${csp}`);
      }
      assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), url);
      assert.equal(answer.headers['referrer-policy'], 'no-referrer', url);
      assert.equal(answer.headers['cache-control'], 'no-store', url);
      assert.equal(answer.headers['x-content-type-options'], 'nosniff', url);
      assert.doesNotMatch(answer.body, /<script(?![^>]*\ssrc=)/, `${url}: no inline script`);
      assert.doesNotMatch(answer.body, /\sstyle=|<style|\son[a-z]+=/i, `${url}: no inline style or handler`);
    }
  });

  test('the reset page sends Referrer-Policy: no-referrer and Cache-Control: no-store, live or dead, and its token stays out of the logs', async () => {
    const since = t.smtp.messages.length;
    await t.post('/api/v1/auth/forgot-password', { email: OWNER.email });
    const token = t.linkToken(await t.mailTo(OWNER.email, /Reset your password/, since));
    const b = new Browserish(t);
    for (const url of [`/reset-password/${token}`, `/reset-password/${'B'.repeat(43)}`]) {
      const answer = await b.get(url);
      assert.equal(answer.headers['referrer-policy'], 'no-referrer', url);
      assert.equal(answer.headers['cache-control'], 'no-store', url);
      assert.doesNotMatch(answer.body, /https?:\/\/(?!localhost)/, 'no third-party resource on the page');
    }
    assert.equal((await b.get(`/reset-password/${token}`)).statusCode, 200);
    assert.deepEqual(t.leakedSecrets(t.logs.join('\n')), [], 'no token or password in the logs');
  });

  test('the session cookie: HttpOnly, SameSite=Lax, Path=/ over http', async () => {
    const b = new Browserish(t);
    const page = await b.get('/login');
    await b.post('/login', { _csrf: Browserish.csrfOf(page.body), email: OWNER.email, password: OWNER.password });
    const session = b.lastSetCookies.find((c) => c.startsWith('deskpass_session='));
    assert.ok(session);
    assert.match(session, /; HttpOnly/);
    assert.match(session, /; SameSite=Lax/);
    assert.match(session, /; Path=\//);
    assert.doesNotMatch(session, /; Secure/);
  });

  test('with an https PUBLIC_URL: Secure and the __Host- prefix on every portal cookie, and HSTS', async () => {
    const secure = await TestApp.start({ publicUrl: 'https://desk.acme.test' });
    try {
      await secure.setup();
      const b = new Browserish(secure);
      const page = await b.get('/login');
      assert.match(String(page.headers['strict-transport-security']), /max-age=\d+/);
      const csrf = b.lastSetCookies.find((c) => c.startsWith('__Host-deskpass_csrf='));
      assert.ok(csrf && /; Secure/.test(csrf) && /; Path=\//.test(csrf) && !/; Domain=/i.test(csrf), csrf);
      const answer = await b.post('/login', { _csrf: Browserish.csrfOf(page.body), email: OWNER.email, password: OWNER.password });
      assert.equal(answer.statusCode, 303);
      const session = b.lastSetCookies.find((c) => c.startsWith('__Host-deskpass_session='));
      assert.ok(session, b.lastSetCookies.join('\n'));
      for (const flag of ['; Secure', '; HttpOnly', '; SameSite=Lax', '; Path=/']) assert.ok(session.includes(flag), flag);
      assert.doesNotMatch(session, /; Domain=/i);
    } finally {
      await secure.close();
    }
  });

  test('every sign-in starts a new session and ends the one the browser had', async () => {
    const b = await signedInBrowser();
    const first = b.cookies.get('deskpass_session')!;
    const page = await b.get('/login?next=/manage/roles');
    assert.equal(page.statusCode, 303, 'already signed in: straight on');
    // Signing in again from the same browser (a sign-in form left open in another tab).
    const form = await b.get('/forgot-password');
    const answer = await b.post('/login', { _csrf: Browserish.csrfOf(form.body), email: OWNER.email, password: OWNER.password });
    assert.equal(answer.statusCode, 303);
    const second = b.cookies.get('deskpass_session')!;
    assert.notEqual(second, first);
    assert.equal((await t.get('/api/v1/me', first)).status, 401, 'the old session is dead');
    assert.equal((await t.get('/api/v1/me', second)).status, 200);
  });

  test('after sign-in, "next" goes only to a page of this site', async () => {
    for (const [next, expected] of [
      ['/manage/roles', '/manage/roles'],
      ['//evil.example/', '/apps'],
      ['https://evil.example/', '/apps'],
      ['/\\evil.example', '/apps'],
    ]) {
      const b = new Browserish(t);
      const page = await b.get('/login');
      const answer = await b.post('/login', { _csrf: Browserish.csrfOf(page.body), email: OWNER.email, password: OWNER.password, next });
      assert.equal(answer.headers.location, expected, next);
    }
  });

  test('the JSON API still takes JSON only (form bodies are for the portal)', async () => {
    const answer = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'email=a%40b.c&password=x' });
    assert.equal(answer.statusCode, 415);
    assert.equal(JSON.parse(answer.body).error.code, 'unsupported_media_type');
  });

  test('names are escaped by the templates', async () => {
    const ownerToken = await t.login(OWNER.email, OWNER.password);
    const roles = await t.get('/api/v1/roles', ownerToken);
    const roleId = roles.body.roles.find((r: { name: string }) => r.name === 'Agent').id;
    const created = await t.post('/api/v1/agents', { email: 'xss@acme.test', name: '<img src=x onerror=alert(1)>"\'', roleId }, ownerToken);
    assert.equal(created.status, 201);
    const b = await signedInBrowser();
    for (const url of ['/manage/agents', `/manage/agents/${created.body.id}`]) {
      const page = await b.get(url);
      assert.ok(page.body.includes('&lt;img src=x onerror=alert(1)&gt;'), url);
      assert.ok(!page.body.includes('<img src=x'), url);
    }
  });
});
