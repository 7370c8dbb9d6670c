// The request-completed line is written by hand (src/http/logging.ts, OneLinePerRequest, issue 13
// "Speed"): it must stay the pino line it replaced, redacted, and obey each route's log level.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestApp } from './support/harness.js';

let t: TestApp;
let owner: string;
before(async () => {
  t = await TestApp.start();
  ({ ownerToken: owner } = await t.setup());
});
after(async () => t?.close());

function completedLines(): Record<string, any>[] {
  return t.logs.flatMap((chunk) => chunk.split('\n')).filter((line) => line.includes('"msg":"request completed"')).map((line) => JSON.parse(line));
}

test('one JSON line per request, with the fields pino wrote: level, time, pid, hostname, reqId, req, res, responseTime, msg', async () => {
  const before = completedLines().length;
  assert.equal((await t.request('GET', '/api/v1/me', { token: owner, ip: '10.9.8.7' })).status, 200);
  const lines = completedLines().slice(before);
  assert.equal(lines.length, 1);
  const [line] = lines;
  assert.deepEqual(Object.keys(line), ['level', 'time', 'pid', 'hostname', 'reqId', 'req', 'res', 'responseTime', 'msg']);
  assert.equal(line.level, 30);
  assert.ok(Math.abs(line.time - Date.now()) < 60_000);
  assert.equal(line.pid, process.pid);
  assert.equal(typeof line.reqId, 'string');
  assert.deepEqual(line.req, { method: 'GET', url: '/api/v1/me', remoteAddress: '10.9.8.7' });
  assert.deepEqual(line.res, { statusCode: 200 });
  assert.equal(typeof line.responseTime, 'number');
  assert.ok(!JSON.stringify(line).includes(owner), 'no session token');
});

test('a link token in the path or the query, and a quote in the URL, are written redacted and escaped', async () => {
  const token = randomBytes(32).toString('base64url');
  const before = completedLines().length;
  await t.get(`/reset-password/${token}`);
  await t.get(`/api/v1/nothing-here?code=${token}&x="quoted"`);
  const lines = completedLines().slice(before);
  assert.equal(lines.length, 2);
  assert.equal(lines[0].req.url, '/reset-password/[redacted]');
  assert.match(lines[1].req.url, /code=\[redacted\]&x="quoted"$/);
  assert.ok(!t.logs.join('').includes(token));
});

test("a route's own level still decides: the health checks write no line", async () => {
  const before = completedLines().length;
  assert.equal((await t.get('/healthz')).status, 200);
  assert.equal(completedLines().length, before);
});

test('query parameters whose names say they may hold a secret are redacted in the request line, whatever their case', async () => {
  const { redactUrl } = await import('../src/http/logging.js');
  const secret = 'Tundra-Mosaic-Falcon-42';
  for (const name of ['pw', 'password', 'newPassword', 'NEW_PASSWORD', 'pwd', 'recoveryCode', 'otp', 'code', 'client_secret', 'id_token_hint', 'apiKey', 'challenge']) {
    const line = redactUrl(`/login?next=%2Fhome&${name}=${secret}&lang=en`);
    assert.ok(!line.includes(secret), `${name}: ${line}`);
    assert.ok(line.includes(`${name}=[redacted]`) && line.includes('next=%2Fhome') && line.includes('lang=en'), line);
  }
});

test('a URL is logged unchanged only when none of the redactions could apply', async () => {
  const { redactUrl } = await import('../src/http/logging.js');
  const token = 'Q'.repeat(43);
  for (const url of ['/api/v1/me', '/login', '/api/v1/agents/0f44126c-1f09-4029-ae95-3f977a1e8054', '/oidc/auth']) assert.equal(redactUrl(url), url);
  const redacted: Array<[string, string]> = [
    [`/setup/${'x'.repeat(8)}`, '/setup/[redacted]'],
    [`/reset-password/abc`, '/reset-password/[redacted]'],
    [`/anything/${token}`, '/anything/[redacted]'],
    [`/a&token=${'y'.repeat(8)}`, '/a&token=[redacted]'],
    [`/reset%2Dpassword/abc`, '/reset-password/[redacted]'],
  ];
  for (const [url, logged] of redacted) assert.equal(redactUrl(url), logged, url);
});
