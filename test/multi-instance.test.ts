import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { SmtpCapture, type CapturedMail } from './support/smtp-capture.js';
import { ServerProcess } from './support/server-process.js';
import { dropDatabase, freshDatabaseUrl } from './support/harness.js';

/**
 * Two real server processes on one PostgreSQL and one Redis behave as one instance
 * (issue "Scale-out"). Runs in the postgres pass of `npm test` only.
 */
const OWNER = { email: 'owner@acme.test', name: 'Olivia Owner', password: 'Tundra-Mosaic-Falcon-42' };

const METRICS_TOKEN = randomBytes(24).toString('hex');
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
    METRICS_TOKEN,
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

/** One figure of an instance's /metrics (issue 13: the session cache and its change feed). */
async function metric(server: ServerProcess, name: string): Promise<number> {
  const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(response.status, 200);
  const line = (await response.text()).split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

/** GET /me on `server` twice: the second from its memory (a cache hit in its metrics). */
async function cachedMe(server: ServerProcess, token: string) {
  assert.equal((await server.request('GET', '/api/v1/me', { token })).status, 200);
  const hits = await metric(server, 'deskpass_session_cache_hits_total');
  const answer = await server.request('GET', '/api/v1/me', { token });
  assert.equal(answer.status, 200);
  assert.equal(await metric(server, 'deskpass_session_cache_hits_total'), hits + 1, 'served from memory');
  return answer.body;
}

test('B serves sessions from memory, and a deactivation, a role change or a lock committed on A reaches B before A answers', async () => {
  const owner = await login(a, OWNER.email, OWNER.password);
  const deactivated = await newAgent();
  const deactivatedToken = await login(b, deactivated.email, deactivated.password);
  await cachedMe(b, deactivatedToken);
  assert.equal((await a.request('PATCH', `/api/v1/agents/${deactivated.id}`, { body: { status: 'deactivated' }, token: owner })).status, 200);
  assert.equal((await b.request('GET', '/api/v1/me', { token: deactivatedToken })).status, 401);

  const supervisors = (await a.request('POST', '/api/v1/roles', { body: { name: 'Cache supervisors', permissions: ['manage_agents'] }, token: owner })).body.id as string;
  const supervisor = await newAgent();
  assert.equal((await a.request('PATCH', `/api/v1/agents/${supervisor.id}`, { body: { roleId: supervisors }, token: owner })).status, 200);
  const supervisorToken = await login(b, supervisor.email, supervisor.password);
  assert.equal((await b.request('GET', '/api/v1/agents', { token: supervisorToken })).status, 200);
  await cachedMe(b, supervisorToken);
  assert.equal((await a.request('PATCH', `/api/v1/roles/${supervisors}`, { body: { permissions: [] }, token: owner })).status, 200);
  assert.equal((await b.request('GET', '/api/v1/agents', { token: supervisorToken })).status, 403);

  const locked = await newAgent();
  const lockedToken = await login(b, locked.email, locked.password);
  assert.equal((await cachedMe(b, lockedToken)).locked, false);
  for (let i = 0; i < 5; i += 1) await a.request('POST', '/api/v1/auth/login', { body: { email: locked.email, password: `Wrong-Guess-${i}-Abc` } });
  assert.equal((await b.request('GET', '/api/v1/me', { token: lockedToken })).body.locked, true);
});

test("B keeps its account row through A's sign-ins, and a settings change committed on A is read by B's next sign-in", async () => {
  const owner = await login(a, OWNER.email, OWNER.password);
  const agent = await newAgent();
  await login(b, agent.email, agent.password); // B reads and keeps the account row
  for (let i = 0; i < 3; i += 1) await login(a, agent.email, agent.password); // notices marked "holders only"
  assert.equal((await a.request('PATCH', '/api/v1/account', { body: { lockoutThreshold: 3 }, token: owner })).status, 200);
  try {
    const wrong = (i: number) => b.request('POST', '/api/v1/auth/login', { body: { email: agent.email, password: `Wrong-Guess-${i}-Abc` } });
    assert.deepEqual([(await wrong(1)).status, (await wrong(2)).status, (await wrong(3)).status], [401, 401, 423], "B locks at A's new threshold");
  } finally {
    assert.equal((await a.request('PATCH', '/api/v1/account', { body: { lockoutThreshold: 5 }, token: owner })).status, 200);
  }
});

test("B keeps a cached holder through other agents' sign-ins on A, and the agent's own sign-in on A is in B's next /me", async () => {
  const other = await newAgent();
  const { agent, token } = await agentCachedOnB();
  for (let i = 0; i < 3; i += 1) await login(a, other.email, other.password);
  assert.equal((await a.request('POST', '/api/v1/auth/login', { body: { email: other.email, password: 'Wrong-Guess-1-Abc' } })).status, 401);
  const hits = await metric(b, 'deskpass_session_cache_hits_total');
  const before = (await b.request('GET', '/api/v1/me', { token })).body;
  assert.equal(await metric(b, 'deskpass_session_cache_hits_total'), hits + 1, "B served it from memory through the other agent's sign-ins on A");
  await new Promise((resolve) => setTimeout(resolve, 5));
  await login(a, agent.email, agent.password);
  const after = (await b.request('GET', '/api/v1/me', { token })).body;
  assert.ok(after.lastSignInAt > before.lastSignInAt, `B's /me has A's new sign-in: ${before.lastSignInAt} → ${after.lastSignInAt}`);
});

/** A new agent signed in on B, whose session B already serves from memory. */
async function agentCachedOnB() {
  const agent = await newAgent();
  const token = await login(b, agent.email, agent.password);
  await cachedMe(b, token);
  return { agent, token };
}

test('a stream of requests on B: none that started after A answered a revocation is served (10 trials, sign-out, "sign out everywhere", deactivation)', async () => {
  const owner = await login(a, OWNER.email, OWNER.password);
  for (let trial = 0; trial < 10; trial += 1) {
    const { agent, token } = await agentCachedOnB();
    const seen: { startedAt: number; status: number }[] = [];
    let running = true;
    const loop = async () => {
      while (running) {
        const startedAt = performance.now();
        const { status } = await b.request('GET', '/api/v1/me', { token });
        seen.push({ startedAt, status });
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    await new Promise((resolve) => setTimeout(resolve, 60));
    const how = trial % 3;
    const ended =
      how === 0
        ? await a.request('POST', '/api/v1/auth/logout', { token })
        : how === 1
          ? await a.request('POST', `/api/v1/agents/${agent.id}/sessions/revoke`, { token: owner })
          : await a.request('PATCH', `/api/v1/agents/${agent.id}`, { body: { status: 'deactivated' }, token: owner });
    const answeredAt = performance.now();
    assert.ok(ended.status === 204 || ended.status === 200, `trial ${trial}: ${ended.status}`);
    await new Promise((resolve) => setTimeout(resolve, 80));
    running = false;
    await Promise.all(loops);
    const after = seen.filter((r) => r.startedAt > answeredAt);
    assert.ok(after.length > 0, `trial ${trial}: requests ran after the answer`);
    assert.deepEqual(after.filter((r) => r.status !== 401), [], `trial ${trial} (${['sign-out', 'sign out everywhere', 'deactivation'][how]}): served after A answered`);
    assert.ok(seen.some((r) => r.startedAt < answeredAt && r.status === 200), `trial ${trial}: B served the session before`);
  }
});

test('B stood still (SIGSTOP) while A revoked and answered without its acknowledgement: what B answers once it runs again is 401 (5 trials)', async () => {
  const owner = await login(a, OWNER.email, OWNER.password);
  for (let trial = 0; trial < 5; trial += 1) {
    const { agent, token } = await agentCachedOnB();
    b.child.kill('SIGSTOP');
    let asked: Promise<{ status: number }> | undefined;
    try {
      const revoked = await a.request('POST', `/api/v1/agents/${agent.id}/sessions/revoke`, { token: owner });
      assert.equal(revoked.status, 204);
      asked = b.request('GET', '/api/v1/me', { token }); // waits in B's socket while B is stopped
      await new Promise((resolve) => setTimeout(resolve, 300 + 200 * trial));
    } finally {
      b.child.kill('SIGCONT');
    }
    assert.equal((await asked!).status, 401, `trial ${trial}: the revoked session was served after B resumed`);
    assert.equal((await b.request('GET', '/api/v1/me', { token })).status, 401);
  }
});

test("B's listening connection is cut: B reads the store meanwhile and misses no change, then listens and caches again by itself", async () => {
  const agent = await newAgent();
  const token = await login(b, agent.email, agent.password);
  await cachedMe(b, token);
  const admin = new pg.Client({ connectionString: databaseUrl.replace(/\?.*$/, '') });
  await admin.connect();
  try {
    const cut = await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'deskpass changes'");
    assert.ok(cut.rowCount! >= 2, 'both instances had a listening connection');
  } finally {
    await admin.end();
  }
  const second = await login(b, agent.email, agent.password);
  assert.equal((await a.request('POST', `/api/v1/agents/${agent.id}/sessions/revoke`, { token: await login(a, OWNER.email, OWNER.password) })).status, 204);
  // whether or not B has noticed the cut yet, the revocation on A is seen at B's next request
  assert.equal((await b.request('GET', '/api/v1/me', { token })).status, 401);
  assert.equal((await b.request('GET', '/api/v1/me', { token: second })).status, 401);
  const deadline = Date.now() + 15_000;
  while ((await metric(b, 'deskpass_store_changes_seen')) !== 1) {
    assert.ok(Date.now() < deadline, 'B listens again within 15 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const third = await login(b, agent.email, agent.password);
  await cachedMe(b, third);
  assert.equal((await a.request('POST', `/api/v1/agents/${agent.id}/sessions/revoke`, { token: await login(a, OWNER.email, OWNER.password) })).status, 204);
  assert.equal((await b.request('GET', '/api/v1/me', { token: third })).status, 401);
});

test('SIGTERM ends a server gracefully: exit code 0, the other instance keeps serving', async () => {
  const agent = await newAgent();
  const code = await b.stop('SIGTERM');
  assert.equal(code, 0);
  assert.ok(await login(a, agent.email, agent.password));
});
