import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER, type Answer, type RequestOptions } from './support/harness.js';

// Bad input gets a clear 4xx with a stable error code, never a 500 and never a half-done change.

const JSON_TYPE = { 'content-type': 'application/json' };

/** Every error answer has exactly the contract's shape: {error: {code, message, details?}}. */
function assertErrorBody(answer: Answer, status?: number, code?: string): void {
  const where = `${answer.status} ${answer.raw.slice(0, 300)}`;
  if (status !== undefined) assert.equal(answer.status, status, where);
  assert.ok(answer.status >= 400 && answer.status < 500, where);
  assert.equal(typeof answer.body, 'object', where);
  assert.deepEqual(Object.keys(answer.body), ['error'], where);
  const error = answer.body.error;
  assert.match(error.code, /^[a-z]+(?:_[a-z]+)*$/, where);
  assert.equal(typeof error.message, 'string', where);
  assert.ok(error.message.length > 0, where);
  for (const key of Object.keys(error)) assert.ok(['code', 'message', 'details'].includes(key), `unexpected key ${key}: ${where}`);
  if ('details' in error) assert.ok(Array.isArray(error.details), where);
  if (code !== undefined) assert.equal(error.code, code, where);
}

/** A 400 invalid_request whose details name the field at fault. */
function assertInvalid(answer: Answer, field?: string): void {
  assertErrorBody(answer, 400, 'invalid_request');
  assert.ok(Array.isArray(answer.body.error.details) && answer.body.error.details.length > 0, answer.raw);
  if (field) assert.ok(answer.body.error.details.some((d: { field?: string }) => d.field === field), answer.raw);
}

/** `count` code points, each an emoji (two UTF-16 units), varied so no rule but length applies. */
function emojiPassword(count: number, offset = 0): string {
  return Array.from({ length: count }, (_, i) => String.fromCodePoint(0x1f600 + ((i * 7 + offset) % 64))).join('');
}

/** Every route of API.md, with {param} placeholders. */
const API_ROUTES: Array<[string, string]> = [
  ['GET', '/healthz'],
  ['GET', '/readyz'],
  ['POST', '/api/v1/auth/login'],
  ['POST', '/api/v1/auth/logout'],
  ['POST', '/api/v1/auth/reauthenticate'],
  ['GET', '/api/v1/me'],
  ['GET', '/api/v1/me/sessions'],
  ['DELETE', '/api/v1/me/sessions/{id}'],
  ['POST', '/api/v1/me/password'],
  ['POST', '/api/v1/auth/forgot-password'],
  ['GET', '/api/v1/auth/reset-password/{token}'],
  ['POST', '/api/v1/auth/reset-password'],
  ['GET', '/api/v1/agents'],
  ['POST', '/api/v1/agents'],
  ['GET', '/api/v1/agents/{id}'],
  ['PATCH', '/api/v1/agents/{id}'],
  ['POST', '/api/v1/agents/{id}/unlock'],
  ['POST', '/api/v1/agents/{id}/invitation'],
  ['POST', '/api/v1/agents/{id}/sessions/revoke'],
  ['POST', '/api/v1/agents/{id}/password-reset-email'],
  ['PUT', '/api/v1/agents/{id}/password'],
  ['GET', '/api/v1/roles'],
  ['POST', '/api/v1/roles'],
  ['PATCH', '/api/v1/roles/{id}'],
  ['GET', '/api/v1/audit-events'],
  ['GET', '/api/v1/account'],
  ['PATCH', '/api/v1/account'],
  ['GET', '/api/v1/setup/{token}'],
  ['POST', '/api/v1/setup'],
  ['GET', '/api/v1/openapi.json'],
];

const GARBAGE: Array<{ name: string; options: RequestOptions }> = [
  { name: 'no body', options: {} },
  { name: 'empty JSON body', options: { payload: '', headers: JSON_TYPE } },
  { name: 'truncated JSON', options: { payload: '{"email": "a@b.c", "password": ', headers: JSON_TYPE } },
  { name: 'a JSON array', options: { payload: '[1, 2, 3]', headers: JSON_TYPE } },
  { name: 'JSON null', options: { payload: 'null', headers: JSON_TYPE } },
  { name: 'a JSON string', options: { payload: '"hello"', headers: JSON_TYPE } },
  { name: 'prototype poisoning', options: { payload: '{"__proto__": {"isAccountAdministrator": true}}', headers: JSON_TYPE } },
  { name: 'wrong types everywhere', options: { payload: '{"email": {"$gt": ""}, "password": [], "token": 123, "name": null, "roleId": false, "permissions": "all"}', headers: JSON_TYPE } },
  { name: 'form-urlencoded', options: { payload: 'email=a%40b.c&password=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } } },
  { name: 'binary junk', options: { payload: '\u0000\u00ff\ufffd\ud800', headers: { 'content-type': 'application/octet-stream' } } },
];

describe('bad input on a running help desk', () => {
  let t: TestApp;
  let owner: { ownerId: string; ownerToken: string; adminRoleId: string; agentRoleId: string };
  let victim: { id: string; token: string };
  const VICTIM = { email: 'vic@acme.test', name: 'Vic Tim', password: 'Lumber-Oyster-Canyon-53' };

  before(async () => {
    t = await TestApp.start();
    owner = await t.setup();
    victim = await t.addAgent(owner.ownerToken, { ...VICTIM, roleId: owner.agentRoleId });
  });
  after(async () => {
    await t.close();
  });

  test('malformed JSON → 400 invalid_request', async () => {
    for (const payload of ['{"email": ', '{email: "a"}', "{'email': 'a'}", '{"email":"a",}', '']) {
      const answer = await t.request('POST', '/api/v1/auth/login', { payload, headers: JSON_TYPE });
      assertInvalid(answer);
    }
    assertInvalid(await t.request('POST', '/api/v1/agents', { payload: '{"email": "x@acme.test", "name"', headers: JSON_TYPE, token: owner.ownerToken }));
  });

  test('a body that is not JSON on a JSON route → 415 unsupported_media_type', async () => {
    const cases = [
      { 'content-type': 'text/plain' },
      { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': 'multipart/form-data; boundary=x' },
      { 'content-type': 'application/xml' },
    ];
    for (const headers of cases) {
      assertErrorBody(await t.request('POST', '/api/v1/auth/login', { payload: 'email=a&password=b', headers }), 415, 'unsupported_media_type');
      assertErrorBody(await t.request('POST', '/api/v1/me/password', { payload: 'x', headers, token: owner.ownerToken }), 415, 'unsupported_media_type');
    }
    // the JSON type with a charset parameter is JSON
    const withCharset = await t.request('POST', '/api/v1/auth/login', { payload: JSON.stringify({ email: OWNER.email, password: 'Wrong-Password-Value-1' }), headers: { 'content-type': 'application/json; charset=utf-8' } });
    assertErrorBody(withCharset, 401, 'invalid_credentials');
  });

  test('missing fields and wrong types → 400 invalid_request naming the field; types are not coerced', async () => {
    assertInvalid(await t.post('/api/v1/auth/login', {}));
    assertInvalid(await t.post('/api/v1/auth/login', { email: OWNER.email }), 'password');
    assertInvalid(await t.post('/api/v1/auth/login', { email: 42, password: 'x' }), 'email');
    assertInvalid(await t.post('/api/v1/auth/login', { email: OWNER.email, password: 123456789012 }), 'password');
    assertInvalid(await t.post('/api/v1/auth/forgot-password', { email: ['a@b.c'] }), 'email');
    assertInvalid(await t.post('/api/v1/auth/reset-password', { token: 'x'.repeat(43) }), 'newPassword');
    assertInvalid(await t.post('/api/v1/agents', { email: 'not-an-email', name: 'N', roleId: owner.agentRoleId }, owner.ownerToken), 'email');
    assertInvalid(await t.post('/api/v1/agents', { email: 'new@acme.test', name: '   ', roleId: owner.agentRoleId }, owner.ownerToken), 'name');
    assertInvalid(await t.patch(`/api/v1/agents/${victim.id}`, { status: 'banished' }, owner.ownerToken), 'status');
    assertInvalid(await t.post('/api/v1/roles', { name: 'Hackers', permissions: ['root'] }, owner.ownerToken));
    assertInvalid(await t.patch('/api/v1/account', { resetLinkLifetimeHours: '48' }, owner.ownerToken), 'resetLinkLifetimeHours');
    const stringBoolean = await t.put(`/api/v1/agents/${victim.id}/password`, { password: 'Quiet-Lagoon-Tapestry-66', requireChangeAtNextLogin: 'true' }, owner.ownerToken);
    assertInvalid(stringBoolean, 'requireChangeAtNextLogin');
    const numberBoolean = await t.put(`/api/v1/agents/${victim.id}/password`, { password: 'Quiet-Lagoon-Tapestry-66', requireChangeAtNextLogin: 1 }, owner.ownerToken);
    assertInvalid(numberBoolean, 'requireChangeAtNextLogin');
    assertInvalid(await t.put(`/api/v1/agents/${victim.id}/password`, { password: 'Quiet-Lagoon-Tapestry-66' }, owner.ownerToken), 'requireChangeAtNextLogin');
    // the victim's password did not change along the way
    await t.login(VICTIM.email, VICTIM.password);
  });

  test('a body over 64 KiB → 413 payload_too_large', async () => {
    const big = { email: OWNER.email, password: 'x'.repeat(70 * 1024) };
    assertErrorBody(await t.post('/api/v1/auth/login', big), 413, 'payload_too_large');
    assertErrorBody(await t.post('/api/v1/agents', { email: 'big@acme.test', name: 'n'.repeat(70 * 1024), roleId: owner.agentRoleId }, owner.ownerToken), 413, 'payload_too_large');
    // just under the limit is parsed (and then refused by the schema, not by size)
    assertInvalid(await t.post('/api/v1/auth/login', { email: OWNER.email, password: 'x'.repeat(60 * 1024) }), 'password');
  });

  test('password length counts code points after NFC: 256 emoji are accepted, 257 → 422 password_rejected max_length', async () => {
    const url = `/api/v1/agents/${victim.id}/password`;
    const tooLong = await t.put(url, { password: emojiPassword(257), requireChangeAtNextLogin: false }, owner.ownerToken);
    assertErrorBody(tooLong, 422, 'password_rejected');
    assert.ok(tooLong.body.error.details.some((d: { rule: string }) => d.rule === 'max_length'), tooLong.raw);

    const longest = emojiPassword(256, 1);
    assert.equal(longest.length, 512); // UTF-16 units: a length check on .length would refuse it
    assert.equal((await t.put(url, { password: longest, requireChangeAtNextLogin: false }, owner.ownerToken)).status, 204);
    await t.login(VICTIM.email, longest);

    // 256 accented vowels written decomposed (vowel + combining mark, in a varied order: a short
    // repeated unit would be blocklisted): 512 code points as typed, 256 after NFC
    const decomposed = Array.from({ length: 256 }, (_, i) => 'aeiou'[(i * 7 + 3) % 5] + '\u0300\u0301\u0302\u0308'[(i * 3 + (i >> 2)) % 4]).join('');
    assert.equal([...decomposed].length, 512);
    assert.equal([...decomposed.normalize('NFC')].length, 256);
    assert.equal((await t.put(url, { password: decomposed, requireChangeAtNextLogin: false }, owner.ownerToken)).status, 204);
    await t.login(VICTIM.email, decomposed.normalize('NFC')); // the same password, typed composed

    const decomposedTooLong = 'e\u0301a\u0300'.repeat(128) + 'o\u0308';
    const rejected = await t.put(url, { password: decomposedTooLong, requireChangeAtNextLogin: false }, owner.ownerToken);
    assertErrorBody(rejected, 422, 'password_rejected');
    assert.ok(rejected.body.error.details.some((d: { rule: string }) => d.rule === 'max_length'), rejected.raw);

    // the self-service routes apply the same rule
    const self = await t.post('/api/v1/me/password', { currentPassword: OWNER.password, newPassword: emojiPassword(257, 2) }, owner.ownerToken);
    assertErrorBody(self, 422, 'password_rejected');
    assert.ok(self.body.error.details.some((d: { rule: string }) => d.rule === 'max_length'));
  });

  test('a password over 1024 characters → 400 invalid_request before any hashing', async () => {
    const hashesBefore = t.hasher.calls.hash + t.hasher.calls.verify;
    const huge = 'Abc-'.repeat(300);
    assertInvalid(await t.post('/api/v1/auth/login', { email: OWNER.email, password: huge }), 'password');
    assertInvalid(await t.put(`/api/v1/agents/${victim.id}/password`, { password: huge, requireChangeAtNextLogin: false }, owner.ownerToken), 'password');
    assertInvalid(await t.post('/api/v1/me/password', { currentPassword: OWNER.password, newPassword: huge }, owner.ownerToken), 'newPassword');
    assertInvalid(await t.post('/api/v1/auth/reset-password', { token: 'x'.repeat(43), newPassword: huge }), 'newPassword');
    assert.equal(t.hasher.calls.hash + t.hasher.calls.verify, hashesBefore);
  });

  test('odd tokens in GET /auth/reset-password/{token} → 4xx (410, 400 or 404), never 500', async () => {
    const tokens = [
      '',
      '/',
      'a'.repeat(10 * 1024),
      'x'.repeat(43),
      encodeURIComponent('héllo-🔑-ключ'),
      'héllo-🔑',
      '..%2F..%2F..%2Fetc%2Fpasswd',
      '../../healthz',
      '..',
      '%00',
      'abc%00def',
      '%E0%A4%A',
      '%',
      "' OR 1=1 --",
      encodeURIComponent("' OR 1=1 --"),
      '%20',
      '?token=',
      '#frag',
    ];
    for (const token of tokens) {
      const answer = await t.request('GET', `/api/v1/auth/reset-password/${token}`);
      assert.ok([400, 404, 410].includes(answer.status), `${JSON.stringify(token.slice(0, 40))} → ${answer.status} ${answer.raw.slice(0, 200)}`);
      assertErrorBody(answer);
      assert.ok(!answer.raw.includes('aaaaaaaaaa'), 'the answer does not echo the path');
    }
    // a well-formed but unknown token says so, with the reason
    const unknown = await t.get(`/api/v1/auth/reset-password/${'A'.repeat(43)}`);
    assertErrorBody(unknown, 410, 'reset_link_invalid');
    assert.deepEqual(unknown.body.error.details, [{ reason: 'unknown' }]);
    // and the setup link too
    for (const token of ['a'.repeat(10 * 1024), '%00', encodeURIComponent('🔑'), '..%2F']) {
      const answer = await t.request('GET', `/api/v1/setup/${token}`);
      assert.ok([400, 404, 410].includes(answer.status), `${token.slice(0, 20)} → ${answer.status}`);
      assertErrorBody(answer);
    }
  });

  test('limit outside 1–200 or not a number → 400 invalid_request', async () => {
    for (const path of ['/api/v1/agents', '/api/v1/audit-events']) {
      for (const limit of ['0', '201', 'abc', '-1', '1.5', '', '1e2', '%00', '9999999999999999999']) {
        assertInvalid(await t.get(`${path}?limit=${limit}`, owner.ownerToken), 'limit');
      }
      for (const limit of ['1', '200']) assert.equal((await t.get(`${path}?limit=${limit}`, owner.ownerToken)).status, 200);
      assert.equal((await t.get(path, owner.ownerToken)).status, 200);
      const badCursor = await t.get(`${path}?cursor=${encodeURIComponent('not-a-cursor!')}`, owner.ownerToken);
      assertInvalid(badCursor);
    }
  });

  test('an unknown route → 404 not_found', async () => {
    assertErrorBody(await t.get('/api/v1/nope'), 404, 'not_found');
    assertErrorBody(await t.get('/api/v2/me', owner.ownerToken), 404, 'not_found');
    assertErrorBody(await t.request('POST', '/nowhere', { body: { a: 1 } }), 404, 'not_found');
    assertErrorBody(await t.get('/api/v1/agents/no-such-agent', owner.ownerToken), 404, 'not_found');
  });

  test('error order: 401 before 400 — an unauthenticated request with an invalid body answers 401', async () => {
    const invalidBodies: RequestOptions[] = [
      { body: { email: 42 } },
      { payload: '{"email": ', headers: JSON_TYPE },
      { payload: 'email=x', headers: { 'content-type': 'text/plain' } },
      { body: { email: 'x@acme.test', name: 'X', roleId: 'r' }, headers: { authorization: 'Bearer not-a-session' } },
      { body: {}, headers: { cookie: 'deskpass_session=forged' } },
    ];
    for (const options of invalidBodies) {
      assertErrorBody(await t.request('POST', '/api/v1/agents', options), 401, 'unauthenticated');
      assertErrorBody(await t.request('PUT', `/api/v1/agents/${victim.id}/password`, options), 401, 'unauthenticated');
    }
    assertErrorBody(await t.get('/api/v1/agents?limit=0'), 401, 'unauthenticated');
  });

  test('error order: 403 password_change_required before 400; 400 before 403 forbidden and 404', async () => {
    const plain = await t.addAgent(owner.ownerToken, { email: 'plain@acme.test', name: 'Plain Agent', roleId: owner.agentRoleId, password: 'Velvet-Hammock-Sierra-29' });
    // no permissions + invalid body → 400 (the schema runs before the permission check)
    assertInvalid(await t.post('/api/v1/agents', { email: 7, name: 'Seven', roleId: owner.agentRoleId }, plain.token), 'email');
    // no permissions + valid body → 403 forbidden, before 404 for an unknown agent
    assertErrorBody(await t.get('/api/v1/agents/no-such-agent', plain.token), 403, 'forbidden');
    // invalid body on an unknown agent → 400 before 404
    assertInvalid(await t.patch('/api/v1/agents/no-such-agent', { status: 'banished' }, owner.ownerToken), 'status');

    const temporary = 'Saffron-Kettle-Dune-85';
    assert.equal((await t.put(`/api/v1/agents/${plain.id}/password`, { password: temporary, requireChangeAtNextLogin: true }, owner.ownerToken)).status, 204);
    const tempToken = await t.login('plain@acme.test', temporary);
    assertErrorBody(await t.post('/api/v1/agents', { email: 7 }, tempToken), 403, 'password_change_required');
    assertErrorBody(await t.request('POST', '/api/v1/roles', { payload: '{"name": ', headers: JSON_TYPE, token: tempToken }), 403, 'password_change_required');
  });

  test('a 4xx changes nothing: a rejected PUT /agents/{id}/password keeps the old password, the sessions, and queues no email', async () => {
    const db = t.app.deskpass.deps.db;
    const target = await t.addAgent(owner.ownerToken, { email: 'keep@acme.test', name: 'Kim Keeper', roleId: owner.agentRoleId, password: 'Paddle-Thistle-Orbit-74' });
    await t.app.deskpass.mailWorker.runOnce(); // whatever the set-up queued has gone out
    const outboxBefore = await db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const mailsBefore = t.smtp.messages.length;
    const profileBefore = (await t.get(`/api/v1/agents/${target.id}`, owner.ownerToken)).body;

    const rejections = [
      { password: 'short', requireChangeAtNextLogin: true }, // min_length
      { password: 'Kim-Keeper-Password-1', requireChangeAtNextLogin: false }, // personal info
      { password: 'Paddle-Thistle-Orbit-74', requireChangeAtNextLogin: true }, // same as current
      { password: 'password1234', requireChangeAtNextLogin: false }, // blocklisted
      { password: emojiPassword(300), requireChangeAtNextLogin: false }, // max_length
    ];
    for (const body of rejections) {
      assertErrorBody(await t.put(`/api/v1/agents/${target.id}/password`, body, owner.ownerToken), 422, 'password_rejected');
    }
    assertInvalid(await t.put(`/api/v1/agents/${target.id}/password`, { password: 'Fresh-Granite-Willow-38', requireChangeAtNextLogin: 'yes' }, owner.ownerToken));

    await t.app.deskpass.mailWorker.runOnce();
    const outboxAfter = await db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(outboxAfter.n), Number(outboxBefore.n), 'no email queued');
    assert.equal(t.smtp.messages.length, mailsBefore, 'no email sent');
    const me = await t.get('/api/v1/me', target.token);
    assert.equal(me.status, 200, 'the agent\'s session is still alive');
    assert.equal(me.body.passwordChangeRequired, false);
    const profileAfter = (await t.get(`/api/v1/agents/${target.id}`, owner.ownerToken)).body;
    assert.deepEqual(profileAfter, profileBefore);
    await t.login('keep@acme.test', 'Paddle-Thistle-Orbit-74'); // the old password still works
    const fresh = await t.post('/api/v1/auth/login', { email: 'keep@acme.test', password: 'Fresh-Granite-Willow-38' });
    assertErrorBody(fresh, 401, 'invalid_credentials');
  });

  test('a 4xx changes nothing: a rejected reset-password leaves the link usable and the password as it was', async () => {
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: VICTIM.email })).status, 202);
    const token = t.linkToken(await t.mailTo(VICTIM.email, /reset/i, since));
    assertErrorBody(await t.post('/api/v1/auth/reset-password', { token, newPassword: 'short' }), 422, 'password_rejected');
    assertInvalid(await t.post('/api/v1/auth/reset-password', { token, newPassword: 12 }));
    assertInvalid(await t.request('POST', '/api/v1/auth/reset-password', { payload: `{"token": "${token}", "newPassword": `, headers: JSON_TYPE }));
    assert.equal((await t.get(`/api/v1/auth/reset-password/${token}`)).status, 200);
    assert.equal((await t.post('/api/v1/auth/reset-password', { token, newPassword: 'Granite-Puffin-Meadow-12' })).status, 204);
  });

  test('bad input gets a 4xx with an error code, never a 500, on every route of API.md (empty and garbage bodies, with and without a session)', async () => {
    const loopTarget = await t.addAgent(owner.ownerToken, { email: 'loop@acme.test', name: 'Lou Loop', roleId: owner.agentRoleId, password: 'Cobalt-Pretzel-Harbor-61' });
    const params: Record<string, string[]> = {
      '{id}': [loopTarget.id, owner.agentRoleId, 'garbage', '%00'],
      '{token}': ['x', '%00'],
    };
    let requests = 0;
    for (const [method, template] of API_ROUTES) {
      const placeholder = Object.keys(params).find((p) => template.includes(p));
      const urls = placeholder ? params[placeholder].map((value) => template.replace(placeholder, value)) : [template];
      for (const url of urls) {
        for (const { name, options } of GARBAGE) {
          for (const signedIn of [false, true]) {
            const token = signedIn ? await t.login(OWNER.email, OWNER.password) : undefined;
            const answer = await t.request(method, url, { ...options, token });
            requests += 1;
            const where = `${method} ${url} (${name}, ${signedIn ? 'signed in' : 'anonymous'}) → ${answer.status} ${answer.raw.slice(0, 200)}`;
            assert.ok(answer.status < 500, where);
            if (answer.status >= 400) {
              assert.doesNotThrow(() => assertErrorBody(answer), where);
            }
          }
        }
      }
    }
    assert.ok(requests > 500);
    assert.ok(!t.logs.some((line) => /"level":50/.test(line)), 'no error was logged');
  });
});

describe('a rejected first-run setup', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start();
  });
  after(async () => {
    await t.close();
  });

  async function counts(): Promise<Record<string, number>> {
    const db = t.app.deskpass.deps.db;
    const result: Record<string, number> = {};
    for (const table of ['accounts', 'roles', 'agents', 'password_history', 'password_reset_tokens', 'sessions', 'audit_events', 'mail_outbox'] as const) {
      const row = await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      result[table] = Number(row.n);
    }
    return result;
  }

  test('a 4xx changes nothing: after a rejected setup nothing exists and the setup link still works', async () => {
    const empty = await counts();
    assert.deepEqual(Object.values(empty), Object.values(empty).map(() => 0));
    const token = t.app.deskpass.setupLink.issue();
    const good = { token, accountName: 'Acme Support', adminName: 'Olivia Owner', adminEmail: OWNER.email, password: OWNER.password };

    assertErrorBody(await t.post('/api/v1/setup', { ...good, password: 'short' }), 422, 'password_rejected');
    assertErrorBody(await t.post('/api/v1/setup', { ...good, password: 'Olivia-Rules-The-Desk-1' }), 422, 'password_rejected');
    assertErrorBody(await t.post('/api/v1/setup', { ...good, password: emojiPassword(257) }), 422, 'password_rejected');
    assertInvalid(await t.post('/api/v1/setup', { ...good, adminEmail: 'not-an-email' }), 'adminEmail');
    assertInvalid(await t.post('/api/v1/setup', { ...good, accountName: '' }), 'accountName');
    assertInvalid(await t.post('/api/v1/setup', { ...good, accountName: undefined }), 'accountName');
    assertInvalid(await t.post('/api/v1/setup', { ...good, password: 123456789012 }), 'password');
    assertInvalid(await t.request('POST', '/api/v1/setup', { payload: JSON.stringify(good).slice(0, -5), headers: JSON_TYPE }));
    assertErrorBody(await t.request('POST', '/api/v1/setup', { payload: JSON.stringify(good), headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    assertErrorBody(await t.post('/api/v1/setup', { ...good, token: 'A'.repeat(43) }), 410, 'setup_link_invalid');

    assert.deepEqual(await counts(), empty, 'nothing was written');
    assertErrorBody(await t.post('/api/v1/auth/login', { email: OWNER.email, password: OWNER.password }), 401, 'invalid_credentials');
    assert.equal((await t.get(`/api/v1/setup/${token}`)).status, 200, 'the setup link is still usable');

    assert.equal((await t.post('/api/v1/setup', good)).status, 201);
    assertErrorBody(await t.post('/api/v1/setup', good), 410);
    await t.login(OWNER.email, OWNER.password);
  });
});
