// Security review of main 0f46340 (issue 8), findings 1, 2 and 4: a guard that answers ends the
// request. Each test asserts the side effect (no account, no mail, no verification, no password
// change, no token in the log), not only the status.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { OWNER, TestApp, freshIp } from './support/harness.js';
import { Browserish } from './support/browserish.js';
import { DEFAULT_SETTINGS } from '../src/domain/account-settings.js';

const LIMITS = DEFAULT_SETTINGS.rateLimits;

async function outboxCount(t: TestApp): Promise<number> {
  const row = await t.app.deskpass.deps.db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

function noReplySentTwice(t: TestApp): void {
  assert.equal(t.logs.filter((line) => /already sent/i.test(line)).length, 0, 'no handler went on after its guard answered');
}

describe('first run: a refused setup link is the end of the request', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start();
  });
  after(async () => t?.close());

  test('a portal POST /setup/<any 43 characters> with a signed-out CSRF token answers 410 and creates no help desk, no agent, no hash', async () => {
    const attacker = new Browserish(t, { ip: freshIp() });
    const page = await attacker.get('/forgot-password');
    const hashesBefore = t.hasher.calls.hash;
    const answer = await attacker.post(`/setup/${randomBytes(32).toString('base64url')}`, {
      _csrf: Browserish.csrfOf(page.body),
      accountName: 'Evil Corp',
      adminName: 'Mallory',
      adminEmail: 'mallory@evil.test',
      password: 'Correct-Horse-Battery-Staple-77',
      confirmPassword: 'Correct-Horse-Battery-Staple-77',
    });
    assert.equal(answer.statusCode, 410);
    const db = t.app.deskpass.deps.db;
    assert.deepEqual(await db.selectFrom('accounts').selectAll().execute(), [], 'no help desk');
    assert.deepEqual(await db.selectFrom('agents').selectAll().execute(), [], 'no Account Administrator');
    assert.equal(t.hasher.calls.hash, hashesBefore, 'no password was hashed');
    assert.equal(attacker.cookies.has('deskpass_session'), false, 'nobody is signed in');
    noReplySentTwice(t);
  });

  test('the API refuses the same: POST /api/v1/setup with a wrong token is 410 and creates nothing', async () => {
    const answer = await t.request('POST', '/api/v1/setup', {
      body: { token: randomBytes(32).toString('base64url'), accountName: 'Evil Corp', adminName: 'Mallory', adminEmail: 'mallory@evil.test', password: 'Correct-Horse-Battery-Staple-77' },
    });
    assert.equal(answer.status, 410);
    assert.deepEqual(await t.app.deskpass.deps.db.selectFrom('agents').selectAll().execute(), []);
  });

  test('the real setup link still works from the page after those refusals', async () => {
    const token = t.app.deskpass.setupLink.issue();
    t.secrets.add(token);
    const operator = new Browserish(t, { ip: freshIp() });
    const answer = await operator.submit(`/setup/${token}`, {
      accountName: 'Acme Support',
      adminName: OWNER.name,
      adminEmail: OWNER.email,
      password: OWNER.password,
      confirmPassword: OWNER.password,
    });
    assert.equal(answer.statusCode, 303);
    const agents = await t.app.deskpass.deps.db.selectFrom('agents').select(['email', 'is_account_administrator']).execute();
    assert.deepEqual(agents, [{ email: OWNER.email, is_account_administrator: 1 }]);
  });
});

describe('portal limits: a 429 page is the end of the request', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start();
    await t.setup();
  });
  after(async () => t?.close());

  test('a rate-limited GET /reset-password/{token} logs no token, and the link stays usable', async () => {
    const since = t.smtp.messages.length;
    await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: OWNER.email }, ip: freshIp() });
    const token = t.linkToken(await t.mailTo(OWNER.email, /reset/i, since));
    const visitor = new Browserish(t, { ip: freshIp() });
    for (let i = 0; i < LIMITS.resetLinkPerIp; i += 1) await visitor.get(`/reset-password/${randomBytes(32).toString('base64url')}`);
    const limited = await visitor.get(`/reset-password/${token}`);
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.deepEqual(t.leakedSecrets(t.logs.join('\n')), [], 'no secret in any log line');
    noReplySentTwice(t);
    const elsewhere = await new Browserish(t, { ip: freshIp() }).get(`/reset-password/${token}`);
    assert.equal(elsewhere.statusCode, 200, 'the link was neither used nor revoked');
  });

  test('a rate-limited POST /reset-password/{token} changes no password and uses no link', async () => {
    const since = t.smtp.messages.length;
    await t.request('POST', '/api/v1/auth/forgot-password', { body: { email: OWNER.email }, ip: freshIp() });
    const token = t.linkToken(await t.mailTo(OWNER.email, /reset/i, since));
    const visitor = new Browserish(t, { ip: freshIp() });
    const form = await visitor.get(`/reset-password/${token}`);
    const csrf = Browserish.csrfOf(form.body);
    for (let i = 1; i < LIMITS.resetLinkPerIp; i += 1) await visitor.get(`/reset-password/${randomBytes(32).toString('base64url')}`);
    const before = await t.app.deskpass.deps.db.selectFrom('agents').select(['password_hash', 'password_changed_at']).where('email_normalized', '=', OWNER.email).executeTakeFirstOrThrow();
    const hashesBefore = t.hasher.calls.hash;
    const newPassword = 'Quartz-Meadow-Lantern-93';
    t.secrets.add(newPassword);
    const answer = await visitor.post(`/reset-password/${token}`, { _csrf: csrf, newPassword, confirmPassword: newPassword });
    assert.equal(answer.statusCode, 429);
    const afterwards = await t.app.deskpass.deps.db.selectFrom('agents').select(['password_hash', 'password_changed_at']).where('email_normalized', '=', OWNER.email).executeTakeFirstOrThrow();
    assert.deepEqual(afterwards, before, 'the password is unchanged');
    assert.equal(t.hasher.calls.hash, hashesBefore, 'no new password was hashed');
    const link = await t.request('GET', `/api/v1/auth/reset-password/${token}`, { ip: freshIp() });
    assert.equal(link.status, 200, 'the link is still unused');
    noReplySentTwice(t);
  });

  test('a rate-limited portal forgot-password queues no mail', async () => {
    const ip = freshIp();
    const visitor = new Browserish(t, { ip });
    for (let i = 0; i < LIMITS.forgotPasswordPerIp; i += 1) {
      const answer = await visitor.submit('/forgot-password', { email: `someone-${i}@acme.test` });
      assert.equal(answer.statusCode, 303, `request ${i + 1}`);
    }
    const queued = await outboxCount(t);
    const limited = await visitor.submit('/forgot-password', { email: OWNER.email });
    assert.equal(limited.statusCode, 429);
    assert.equal(await outboxCount(t), queued, 'nothing was queued behind the 429');
    noReplySentTwice(t);
  });

  test('the per-address limit holds on the portal too: past it, no mail is queued for the address', async () => {
    const email = `ghost-${randomBytes(4).toString('hex')}@acme.test`;
    for (let i = 0; i < LIMITS.forgotPasswordPerEmail; i += 1) {
      assert.equal((await new Browserish(t, { ip: freshIp() }).submit('/forgot-password', { email })).statusCode, 303);
    }
    const queued = await outboxCount(t);
    assert.equal((await new Browserish(t, { ip: freshIp() }).submit('/forgot-password', { email })).statusCode, 429);
    assert.equal(await outboxCount(t), queued);
  });

  test('a sign-in past the per-IP failure limit verifies no password and opens no session', async () => {
    const ip = freshIp();
    const visitor = new Browserish(t, { ip });
    for (let i = 0; i < LIMITS.failedSignInsPerIp; i += 1) {
      const answer = await visitor.submit('/login', { email: `nobody-${i}@acme.test`, password: 'wrong password here' });
      assert.equal(answer.statusCode, 401, `failure ${i + 1}`);
    }
    const verifiesBefore = t.hasher.calls.verify;
    const limited = await visitor.submit('/login', { email: OWNER.email, password: OWNER.password });
    assert.equal(limited.statusCode, 429);
    assert.equal(t.hasher.calls.verify, verifiesBefore, 'no password was verified behind the 429');
    assert.equal(visitor.cookies.has('deskpass_session'), false, 'no session');
    noReplySentTwice(t);
  });
});

describe('parallel guesses never verify more than the limits allow', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start();
    await t.setup();
  });
  after(async () => t?.close());

  test('100 parallel wrong passwords from one IP for 100 addresses verify at most failedSignInsPerIp of them', async () => {
    const ip = freshIp();
    const verifiesBefore = t.hasher.calls.verify;
    const answers = await Promise.all(
      Array.from({ length: 130 }, (_, i) => t.request('POST', '/api/v1/auth/login', { body: { email: `guess-${i}@acme.test`, password: 'not the password' }, ip })),
    );
    assert.equal(t.hasher.calls.verify - verifiesBefore, LIMITS.failedSignInsPerIp, 'verifications');
    assert.equal(answers.filter((a) => a.status === 401).length, LIMITS.failedSignInsPerIp);
    assert.equal(answers.filter((a) => a.status === 429).length, 130 - LIMITS.failedSignInsPerIp);
  });

  test('a success gives its reserved slot back: an office signing in from one address is never limited', async () => {
    const ip = freshIp();
    for (let i = 0; i < LIMITS.failedSignInsPerIp + 5; i += 1) {
      assert.equal((await t.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: OWNER.password }, ip })).status, 200, `sign-in ${i + 1}`);
    }
  });
});
