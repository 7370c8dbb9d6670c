import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SmtpCapture, type CapturedMail } from './support/smtp-capture.js';
import { ServerProcess } from './support/server-process.js';
import { dropDatabase, freshDatabaseUrl } from './support/harness.js';

/**
 * Two real server processes on one PostgreSQL and one Redis behave as one instance
 * (issue "Scale-out"). Runs in the postgres pass of `npm test` only.
 */
const OWNER = { email: 'owner@acme.test', name: 'Olivia Owner', password: 'Tundra-Mosaic-Falcon-42' };

let dir: string;
let smtp: SmtpCapture;
let databaseUrl: string;
let a: ServerProcess;
let b: ServerProcess;
let roleId: string;

async function login(server: ServerProcess, email: string, password: string): Promise<string> {
  const answer = await server.request('POST', '/api/v1/auth/login', { body: { email, password } });
  assert.equal(answer.status, 200, `login ${email} on ${server.url}: ${JSON.stringify(answer.body)}`);
  return answer.body.token;
}

function tokenIn(mail: CapturedMail): string {
  const match = /\/reset-password\/([A-Za-z0-9_-]{43})/.exec(mail.text);
  assert.ok(match, `a link in "${mail.subject}"`);
  return match[1];
}

let counter = 0;
/** An agent created on A whose invitation is redeemed on B. */
async function newAgent(password = 'Quartz-Harbor-Meadow-31'): Promise<{ id: string; email: string; password: string }> {
  counter += 1;
  const email = `agent${counter}@acme.test`;
  const created = await a.request('POST', '/api/v1/agents', { body: { email, name: `Remy Stone ${counter}`, roleId }, token: await login(a, OWNER.email, OWNER.password) });
  assert.equal(created.status, 201);
  const invitation = await smtp.waitFor((m) => m.to.includes(email) && /invit/i.test(m.subject));
  assert.equal((await b.request('POST', '/api/v1/auth/reset-password', { body: { token: tokenIn(invitation), newPassword: password } })).status, 204);
  return { id: created.body.id, email, password };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'deskpass-multi-'));
  smtp = await SmtpCapture.start();
  databaseUrl = await freshDatabaseUrl(dir);
  const env = {
    DATABASE_URL: databaseUrl,
    SECRET_KEY: randomBytes(32).toString('hex'),
    SMTP_URL: smtp.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    ARGON2ID: 'm=256,t=1,p=1',
    MAIL_FROM: 'Deskpass <no-reply@acme.test>',
  };
  a = await ServerProcess.start(env, dir);
  const setupLine = await a.waitForOutput(/\/setup\/[A-Za-z0-9_-]{43}/);
  const setupToken = /\/setup\/([A-Za-z0-9_-]{43})/.exec(setupLine)![1];
  const setup = await a.request('POST', '/api/v1/setup', { body: { token: setupToken, accountName: 'Acme Support', adminName: OWNER.name, adminEmail: OWNER.email, password: OWNER.password } });
  assert.equal(setup.status, 201);
  b = await ServerProcess.start(env, dir);
  const roles = await b.request('GET', '/api/v1/roles', { token: await login(b, OWNER.email, OWNER.password) });
  roleId = roles.body.roles.find((r: { name: string }) => r.name === 'Agent').id;
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await smtp?.stop();
  if (databaseUrl) await dropDatabase(databaseUrl);
  rmSync(dir, { recursive: true, force: true });
});

test('a link issued on instance A is redeemed on instance B, and B signs the agent in', async () => {
  const agent = await newAgent();
  assert.ok(await login(b, agent.email, agent.password));
  assert.ok(await login(a, agent.email, agent.password));
});

test('ten concurrent redemptions of one link spread over A and B: exactly one wins', async () => {
  const agent = await newAgent();
  assert.equal((await a.request('POST', '/api/v1/auth/forgot-password', { body: { email: agent.email } })).status, 202);
  const mail = await smtp.waitFor((m) => m.to.includes(agent.email) && /reset your password/i.test(m.subject));
  const token = tokenIn(mail);
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).request('POST', '/api/v1/auth/reset-password', { body: { token, newPassword: `Raced-Password-Number-${i}` } })),
  );
  const statuses = answers.map((x) => x.status).sort();
  assert.deepEqual(statuses, [204, 410, 410, 410, 410, 410, 410, 410, 410, 410]);
  const winner = answers.findIndex((x) => x.status === 204);
  assert.ok(await login(b, agent.email, `Raced-Password-Number-${winner}`));
});

test('a session ended on A is dead on B at the next request', async () => {
  const agent = await newAgent();
  const token = await login(b, agent.email, agent.password);
  assert.equal((await b.request('GET', '/api/v1/me', { token })).status, 200);
  assert.equal((await a.request('POST', '/api/v1/auth/logout', { token })).status, 204);
  assert.equal((await b.request('GET', '/api/v1/me', { token })).status, 401);

  const second = await login(b, agent.email, agent.password);
  const revoked = await a.request('POST', `/api/v1/agents/${agent.id}/sessions/revoke`, { token: await login(a, OWNER.email, OWNER.password) });
  assert.equal(revoked.status, 204);
  assert.equal((await b.request('GET', '/api/v1/me', { token: second })).status, 401);
});

test('failed sign-ins counted on A and on B add up to one lock', async () => {
  const agent = await newAgent();
  for (let i = 0; i < 4; i += 1) {
    const server = i % 2 === 0 ? a : b;
    assert.equal((await server.request('POST', '/api/v1/auth/login', { body: { email: agent.email, password: `Wrong-Guess-${i}-Abc` } })).status, 401);
  }
  assert.equal((await b.request('POST', '/api/v1/auth/login', { body: { email: agent.email, password: 'Wrong-Guess-4-Abc' } })).status, 423);
  const onA = await a.request('POST', '/api/v1/auth/login', { body: { email: agent.email, password: agent.password } });
  assert.equal(onA.status, 423);
  assert.ok(Number(onA.headers.get('retry-after')) > 0);
});

test('two instances never send one email twice: every Message-ID arrived once', async () => {
  // both workers poll the same outbox while both instances queue mail
  const agents = await Promise.all([newAgent(), newAgent(), newAgent()]);
  await Promise.all(agents.flatMap((agent, i) => [a, b].map((server) => server.request('POST', '/api/v1/auth/forgot-password', { body: { email: agent.email } }))));
  for (const agent of agents) {
    await smtp.waitFor(() => smtp.messages.filter((m) => m.to.includes(agent.email) && /reset your password/i.test(m.subject)).length >= 2);
  }
  const ids = smtp.messages.map((m) => /^Message-ID:\s*(\S+)/im.exec(m.raw)?.[1]);
  assert.ok(ids.every(Boolean));
  assert.equal(new Set(ids).size, ids.length, 'no Message-ID twice');
});

test('SIGTERM ends a server gracefully: exit code 0, the other instance keeps serving', async () => {
  const agent = await newAgent();
  const code = await b.stop('SIGTERM');
  assert.equal(code, 0);
  assert.ok(await login(a, agent.email, agent.password));
});
