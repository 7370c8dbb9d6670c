import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SmtpCapture } from './support/smtp-capture.js';
import { ServerProcess } from './support/server-process.js';

/**
 * Two server processes on one SQLite file (or a server and the CLI): an administrator's write
 * that reads first (an account setting, a password set) must not be refused because the other
 * process committed a sign-in meanwhile. Deferred transactions were: SQLITE_BUSY_SNAPSHOT, a 503,
 * for about a quarter of them under a sign-in load (found by issue 13's third outside tester).
 * SQLite only, whatever the pass (scripts/test.mjs runs it once).
 */
const OWNER = { email: 'owner@acme.test', name: 'Olivia Owner', password: 'Tundra-Mosaic-Falcon-42' };
const AGENT_PASSWORD = 'Quartz-Harbor-Meadow-31';

let dir: string;
let smtp: SmtpCapture;
let a: ServerProcess;
let b: ServerProcess;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'deskpass-two-sqlite-'));
  smtp = await SmtpCapture.start();
  const env = { DATABASE_URL: `sqlite:${join(dir, 'deskpass.sqlite')}`, SECRET_KEY: randomBytes(32).toString('hex'), SMTP_URL: smtp.url, ARGON2ID: 'm=256,t=1,p=1', RATE_LIMITS: 'off' };
  a = await ServerProcess.start(env, dir);
  const setupToken = /\/setup\/([A-Za-z0-9_-]{43})/.exec(await a.waitForOutput(/\/setup\//))![1];
  assert.equal((await a.request('POST', '/api/v1/setup', { body: { token: setupToken, accountName: 'Acme Support', adminName: OWNER.name, adminEmail: OWNER.email, password: OWNER.password } })).status, 201);
  b = await ServerProcess.start(env, dir);
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await smtp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function login(server: ServerProcess, email: string, password: string): Promise<string> {
  const answer = await server.request('POST', '/api/v1/auth/login', { body: { email, password } });
  assert.equal(answer.status, 200, `login ${email}: ${JSON.stringify(answer.body)}`);
  return answer.body.token;
}

test("an administrator's writes on either process all succeed while both sign agents in", async () => {
  const owner = await login(a, OWNER.email, OWNER.password);
  const roleId = (await a.request('GET', '/api/v1/roles', { token: owner })).body.roles.find((r: { name: string }) => r.name === 'Agent').id;
  const agents: { id: string; email: string }[] = [];
  for (let i = 0; i < 6; i += 1) {
    const email = `busy${i}@acme.test`;
    const created = await a.request('POST', '/api/v1/agents', { body: { email, name: `Busy Agent ${i}`, roleId }, token: owner });
    assert.equal(created.status, 201);
    const invitation = await smtp.waitFor((m) => m.to.includes(email) && /invit/i.test(m.subject));
    const link = /\/reset-password\/([A-Za-z0-9_-]{43})/.exec(invitation.text)![1];
    assert.equal((await b.request('POST', '/api/v1/auth/reset-password', { body: { token: link, newPassword: AGENT_PASSWORD } })).status, 204);
    agents.push({ id: created.body.id, email });
  }
  const [target, guessedAt, ...signingIn] = agents;

  // sign-ins on both processes, each committing a reservation and a session; every fourth is a
  // wrong guess at one agent of its own, whose door may lock (423) without stopping the others
  let running = true;
  let signIns = 0;
  const loop = async (server: ServerProcess, n: number) => {
    for (let i = 0; running; i += 1) {
      const wrong = i % 4 === 3;
      const agent = wrong ? guessedAt! : signingIn[(n + i) % signingIn.length]!;
      const { status } = await server.request('POST', '/api/v1/auth/login', { body: { email: agent.email, password: wrong ? 'Not-The-Password-123' : AGENT_PASSWORD } });
      assert.ok(wrong ? status === 401 || status === 423 : status === 200, `a ${wrong ? 'wrong' : 'right'} sign-in answered ${status}`);
      signIns += 1;
    }
  };
  const loops = [0, 1, 2].flatMap((n) => [loop(a, n), loop(b, n + 3)]);

  const answers: { what: string; status: number }[] = [];
  try {
    for (let i = 0; i < 30; i += 1) {
      const server = i % 2 === 0 ? a : b;
      const setting = await server.request('PATCH', '/api/v1/account', { body: { lockoutThreshold: 5 + (i % 3) }, token: owner });
      answers.push({ what: `account setting on ${server === a ? 'A' : 'B'}`, status: setting.status });
      if (i % 3 === 0) {
        const set = await server.request('PUT', `/api/v1/agents/${target!.id}/password`, { body: { password: `Lantern-Orchid-Basalt-${10 + i}`, requireChangeAtNextLogin: false }, token: owner });
        answers.push({ what: `password set on ${server === a ? 'A' : 'B'}`, status: set.status });
      }
    }
  } finally {
    running = false;
    const ended = await Promise.allSettled(loops); // every loop has stopped before the servers do
    const failed = ended.find((outcome) => outcome.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
  assert.ok(signIns > 50, `the sign-ins ran meanwhile (${signIns})`);
  assert.deepEqual(answers.filter((x) => x.status !== 200 && x.status !== 204), [], 'no write refused');
  // and what they wrote is what both processes read
  for (const server of [a, b]) assert.equal((await server.request('GET', '/api/v1/account', { token: owner })).body.settings.lockoutThreshold, 5 + (29 % 3));
  assert.ok(await login(b, target!.email, 'Lantern-Orchid-Basalt-37'), 'the last password set is the one that works');
});
