import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { TestApp, OWNER } from './support/harness.js';
import { createLogger } from '../src/http/logging.js';

// One full password lifecycle, then searches for every secret it used in every place a secret
// must never rest: emails (except a message's own link), log lines, API answers (except a
// login's own session token), the database file, the audit log.

let t: TestApp;
const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');
const RESET_LINK = /\/reset-password\/([A-Za-z0-9_-]{43})/g;

/** A password or token the test makes up or receives: remembered for the searches. */
function secret(value: string): string {
  t.secrets.add(value);
  return value;
}

function parse(body: string): any {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Undoes quoted-printable soft line breaks, so a token folded across lines is still found in the raw message. */
function unfoldQuotedPrintable(raw: string): string {
  return raw.replace(/=\r?\n/g, '');
}

let sessionTokens: string[] = [];

before(async () => {
  t = await TestApp.start();
  const { ownerToken, ownerId, agentRoleId } = await t.setup();
  const leadRoleId = await t.role(ownerToken, 'Team Lead', ['manage_agents', 'manage_agent_password']);
  const lead = await t.addAgent(ownerToken, { email: 'lena@acme.test', name: 'Lena Lead', roleId: leadRoleId, password: 'Orchid-Lantern-Basalt-19' });
  const sam = await t.addAgent(ownerToken, { email: 'sam@acme.test', name: 'Sam Support', roleId: agentRoleId, password: 'Glacier-Pepper-Violin-77' });
  const pat = await t.addAgent(ownerToken, { email: 'pat@acme.test', name: 'Pat Helper', roleId: agentRoleId, password: 'Copper-Meadow-Quartz-31' });

  // Forgot password + reset (self-service link).
  let since = t.smtp.messages.length;
  assert.equal((await t.post('/api/v1/auth/forgot-password', { email: 'sam@acme.test' })).status, 202);
  assert.equal((await t.post('/api/v1/auth/forgot-password', { email: 'nobody@acme.test' })).status, 202);
  const selfServiceToken = t.linkToken(await t.mailTo('sam@acme.test', /reset/i, since));
  assert.equal((await t.get(`/api/v1/auth/reset-password/${selfServiceToken}`)).status, 200);
  const samAfterReset = secret('Harbor-Thimble-Saffron-58');
  since = t.smtp.messages.length;
  assert.equal((await t.post('/api/v1/auth/reset-password', { token: selfServiceToken, newPassword: samAfterReset })).status, 204);
  await t.mailTo('sam@acme.test', /changed/i, since);

  // A rejected reset (the link stays usable) must not leak the rejected password either.
  since = t.smtp.messages.length;
  assert.equal((await t.post('/api/v1/auth/forgot-password', { email: 'pat@acme.test' })).status, 202);
  const patSelfToken = t.linkToken(await t.mailTo('pat@acme.test', /reset/i, since));
  const rejected = await t.post('/api/v1/auth/reset-password', { token: patSelfToken, newPassword: secret('short-pw') });
  assert.equal(rejected.status, 422);
  assert.equal(rejected.body.error.code, 'password_rejected');

  // Self change from My Settings.
  let samToken = await t.login('sam@acme.test', samAfterReset);
  const samSelfChanged = secret('Walnut-Cascade-Ember-64');
  const wrongCurrent = await t.post('/api/v1/me/password', { currentPassword: secret('Walnut-Cascade-Ember-00'), newPassword: secret('Walnut-Cascade-Ember-01') }, samToken);
  assert.equal(wrongCurrent.body.error.code, 'current_password_incorrect');
  since = t.smtp.messages.length;
  assert.equal((await t.post('/api/v1/me/password', { currentPassword: samAfterReset, newPassword: samSelfChanged }, samToken)).status, 204);
  await t.mailTo('sam@acme.test', /changed/i, since);

  // The lead re-enters their password, then uses the three admin options.
  const badReauth = await t.post('/api/v1/auth/reauthenticate', { password: secret('Orchid-Lantern-Basalt-10') }, lead.token);
  assert.equal(badReauth.body.error.code, 'current_password_incorrect');
  assert.equal((await t.post('/api/v1/auth/reauthenticate', { password: 'Orchid-Lantern-Basalt-19' }, lead.token)).status, 204);

  // Option 1: email a reset link.
  since = t.smtp.messages.length;
  assert.equal((await t.post(`/api/v1/agents/${pat.id}/password-reset-email`, undefined, lead.token)).status, 202);
  const adminLinkToken = t.linkToken(await t.mailTo('pat@acme.test', /reset/i, since));
  const patAfterAdminLink = secret('Falcon-Juniper-Riddle-83');
  assert.equal((await t.post('/api/v1/auth/reset-password', { token: adminLinkToken, newPassword: patAfterAdminLink })).status, 204);

  // Option 2: set the password directly.
  since = t.smtp.messages.length;
  const samByAdmin = secret('Meteor-Saddle-Pumice-26');
  assert.equal((await t.put(`/api/v1/agents/${sam.id}/password`, { password: samByAdmin, requireChangeAtNextLogin: false }, lead.token)).status, 204);
  await t.mailTo('sam@acme.test', /a new password was set/i, since);
  samToken = await t.login('sam@acme.test', samByAdmin);

  // A rejected admin set (422) with a secret in it.
  const rejectedSet = await t.put(`/api/v1/agents/${sam.id}/password`, { password: secret('sam@acme.test-Pass-1'), requireChangeAtNextLogin: false }, lead.token);
  assert.equal(rejectedSet.status, 422);

  // Option 3: a one-time password, then the required change.
  since = t.smtp.messages.length;
  const patTemporary = secret('Tangerine-Oxbow-Lattice-47');
  assert.equal((await t.put(`/api/v1/agents/${pat.id}/password`, { password: patTemporary, requireChangeAtNextLogin: true }, lead.token)).status, 204);
  await t.mailTo('pat@acme.test', /next sign-in/i, since);
  const patToken = await t.login('pat@acme.test', patTemporary);
  assert.equal((await t.get('/api/v1/agents', patToken)).body.error.code, 'password_change_required');
  const patFinal = secret('Nebula-Cranberry-Harp-92');
  assert.equal((await t.post('/api/v1/me/password', { currentPassword: patTemporary, newPassword: patFinal }, patToken)).status, 204);

  // Failed logins: unknown address, wrong passwords until the address locks, then a right one while locked.
  assert.equal((await t.post('/api/v1/auth/login', { email: 'ghost@acme.test', password: secret('Ghostly-Password-Value-11') })).status, 401);
  since = t.smtp.messages.length;
  let last = await t.post('/api/v1/auth/login', { email: 'pat@acme.test', password: secret('Nebula-Cranberry-Harp-90') });
  for (let i = 1; i < 5; i += 1) {
    assert.equal(last.body.error.code, 'invalid_credentials');
    last = await t.post('/api/v1/auth/login', { email: 'pat@acme.test', password: secret(`Nebula-Cranberry-Harp-9${i}x`) });
  }
  assert.equal(last.body.error.code, 'account_locked');
  assert.equal((await t.post('/api/v1/auth/login', { email: 'pat@acme.test', password: patFinal })).body.error.code, 'account_locked');
  await t.mailTo('pat@acme.test', /locked/i, since);
  assert.equal((await t.post(`/api/v1/agents/${pat.id}/unlock`, undefined, ownerToken)).status, 204);
  await t.login('pat@acme.test', patFinal);

  // Sign out.
  assert.equal((await t.post('/api/v1/auth/logout', undefined, samToken)).status, 204);
  assert.equal((await t.get('/api/v1/me', samToken)).status, 401);

  // Some reading, so list answers are part of the search too.
  assert.equal((await t.get('/api/v1/agents?limit=200', ownerToken)).status, 200);
  assert.equal((await t.get(`/api/v1/agents/${ownerId}`, ownerToken)).status, 200);
  assert.equal((await t.get('/api/v1/me/sessions', ownerToken)).status, 200);
  assert.equal((await t.get('/api/v1/account', ownerToken)).status, 200);

  // Every mail queued so far has gone out before the searches start.
  await t.app.deskpass.mailWorker.runOnce();
  sessionTokens = t.answers.map(parse).filter((b) => b && typeof b.token === 'string' && b.agent).map((b) => b.token);
  assert.ok(sessionTokens.length >= 8, 'the lifecycle signed in several times');
});

after(async () => {
  await t.close();
});

test('the lifecycle produced the secrets the searches look for', () => {
  assert.ok(t.secrets.size >= 30, `only ${t.secrets.size} secrets collected`);
  assert.ok(t.smtp.messages.length >= 10, `only ${t.smtp.messages.length} emails`);
  assert.ok(t.logs.length > 50);
});

test('emails have both a text part and an HTML part', () => {
  for (const mail of t.smtp.messages) {
    assert.ok(mail.text.trim().length > 0, `no text part in "${mail.subject}"`);
    assert.ok(mail.html.trim().length > 0, `no HTML part in "${mail.subject}"`);
    assert.match(mail.raw, /multipart\/alternative/i, mail.subject);
    assert.match(mail.raw, /text\/plain/i, mail.subject);
    assert.match(mail.raw, /text\/html/i, mail.subject);
  }
});

test('no secret in any email: no password at all, and no token other than the message\'s own reset link', () => {
  let links = 0;
  for (const mail of t.smtp.messages) {
    const own = [...mail.text.matchAll(RESET_LINK)].map((m) => m[1]);
    assert.ok(new Set(own).size <= 1, `"${mail.subject}" carries more than one link token`);
    links += own.length > 0 ? 1 : 0;
    for (const haystack of [mail.raw, unfoldQuotedPrintable(mail.raw), mail.text, mail.html, mail.subject]) {
      assert.deepEqual(t.leakedSecrets(haystack, own), [], `secret in "${mail.subject}" to ${mail.to.join(',')}`);
    }
    // the link in the HTML part is the same one as in the text part, no other
    const htmlTokens = [...mail.html.matchAll(RESET_LINK)].map((m) => m[1]);
    assert.ok(htmlTokens.every((token) => own.includes(token)), `"${mail.subject}": the HTML part links elsewhere`);
  }
  assert.ok(links >= 6, 'invitations and reset links were among the messages searched');
});

test('no secret in any log line, and request logs redact the token of /reset-password/… and /setup/… URLs', async () => {
  // a live reset link, requested through the API (its GET is logged), then never used
  const since = t.smtp.messages.length;
  await t.post('/api/v1/auth/forgot-password', { email: OWNER.email });
  const liveToken = t.linkToken(await t.mailTo(OWNER.email, /reset/i, since));
  assert.equal((await t.get(`/api/v1/auth/reset-password/${liveToken}`)).status, 200);
  const setupToken = secret(t.app.deskpass.setupLink.issue());
  assert.equal((await t.get(`/api/v1/setup/${setupToken}`)).status, 410); // a help desk exists already
  await t.request('GET', `/api/v1/auth/reset-password/${liveToken}?token=${liveToken}`);

  const logs = t.logs.join('\n');
  assert.deepEqual(t.leakedSecrets(logs), []);
  const urls = t.logs.map(parse).filter((line) => line?.req?.url).map((line) => line.req.url as string);
  assert.ok(urls.includes('/api/v1/auth/reset-password/[redacted]'), 'the reset-link GET is logged, redacted');
  assert.ok(urls.includes('/api/v1/setup/[redacted]'), 'the setup GET is logged, redacted');
  assert.ok(urls.some((url) => url.startsWith('/api/v1/auth/reset-password/[redacted]?token=[redacted]')));
});

test('request log lines carry no Authorization or Cookie header value', async () => {
  const token = sessionTokens.at(-1)!;
  const before = t.logs.length;
  const cookie = `deskpass_session=${token}`;
  await t.request('GET', '/api/v1/me', { headers: { authorization: `Bearer ${token}`, cookie } });
  await t.request('GET', '/api/v1/me', { headers: { cookie } });
  const lines = t.logs.slice(before).map(parse);
  const requestLines = lines.filter((line) => line?.req);
  assert.ok(requestLines.length >= 2, 'requests are logged at LOG_LEVEL info');
  for (const line of requestLines) {
    assert.equal(line.req.url, '/api/v1/me');
    const headers = line.req.headers ?? {};
    for (const name of ['authorization', 'cookie']) {
      assert.ok(headers[name] === undefined || headers[name] === '[redacted]', `${name} header logged: ${headers[name]}`);
    }
  }
  const text = t.logs.slice(before).join('\n');
  assert.ok(!text.includes(token), 'the session token is in a log line');

  // and when code logs headers on purpose, the logger censors them
  const captured: string[] = [];
  const logger = createLogger('info', new Writable({ write: (chunk, _e, done) => (captured.push(String(chunk)), done()) }));
  logger.info({ headers: { authorization: `Bearer ${token}`, cookie } }, 'headers');
  logger.info({ req: { method: 'GET', url: `/api/v1/setup/${token}`, headers: { authorization: `Bearer ${token}`, cookie } } }, 'request');
  logger.info({ body: { password: OWNER.password, token } }, 'body');
  const own = captured.join('\n');
  assert.ok(!own.includes(token) && !own.includes(OWNER.password), own);
  assert.equal(JSON.parse(captured[0]).headers.authorization, '[redacted]');
  assert.equal(JSON.parse(captured[0]).headers.cookie, '[redacted]');
});

test('no secret in any API answer other than the session token of a login', () => {
  let logins = 0;
  t.answers.forEach((raw, index) => {
    const body = parse(raw);
    const isLogin = body && typeof body.token === 'string' && body.agent && body.expiresAt;
    if (isLogin) logins += 1;
    assert.deepEqual(t.leakedSecrets(raw, isLogin ? [body.token] : []), [], `answer #${index}: ${raw.slice(0, 200)}`);
  });
  assert.ok(logins >= 8);
});

test('no secret in the database in clear: only SHA-256 hashes of tokens, argon2id hashes of passwords', async () => {
  const bytes = await t.databaseContents();
  assert.ok(bytes.length > 0);
  assert.deepEqual(t.leakedSecrets(bytes), []);
  // the search reads the real file: the hash of a live session token is in it
  assert.ok(bytes.includes(sha256Hex(sessionTokens.at(-1)!)), 'session tokens are stored as SHA-256 hex');
  assert.match(bytes, /\$argon2id\$/);
});

test('no secret in any audit event', async () => {
  const owner = await t.login(OWNER.email, OWNER.password);
  let cursor: string | null = null;
  const pages: string[] = [];
  let events = 0;
  do {
    const query: string = cursor ? `?limit=200&cursor=${encodeURIComponent(cursor)}` : '?limit=200';
    const page = await t.get(`/api/v1/audit-events${query}`, owner);
    assert.equal(page.status, 200);
    pages.push(page.raw);
    events += page.body.events.length;
    cursor = page.body.nextCursor;
  } while (cursor);
  const types = new Set(pages.flatMap((raw) => JSON.parse(raw).events.map((e: { type: string }) => e.type)));
  for (const type of ['login.failed', 'account.locked', 'password.changed', 'password.reset_completed', 'password.set_by_admin', 'password.temporary_set_by_admin', 'password.reset_link_sent']) {
    assert.ok(types.has(type), `no ${type} event`);
  }
  assert.ok(events > 30);
  assert.deepEqual(t.leakedSecrets(pages.join('\n')), []);
});
