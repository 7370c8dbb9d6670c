import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER, type Answer } from './support/harness.js';

/**
 * No enumeration: for a real, an unknown, a deactivated and an invited address, sign-in and
 * forgot-password answer the same status, body and headers, and do the same work — proved by
 * counting the hasher's calls (with their parameters) and the SQL statements on each path,
 * not with a stopwatch.
 */
let t: TestApp;
let agentRoleId: string;
let counter = 0;

const PASSWORD = 'Quartz-Harbor-Meadow-31';

async function ownerToken() {
  return t.login(OWNER.email, OWNER.password);
}

async function newAgent(): Promise<{ id: string; email: string }> {
  counter += 1;
  const email = `person${counter}@acme.test`;
  const since = t.smtp.messages.length;
  const { id } = await t.addAgent(await ownerToken(), { email, name: `Lee Carter ${counter}`, roleId: agentRoleId, password: PASSWORD });
  await t.mailTo(email, /was changed|password is set/i, since);
  return { id, email };
}

/** The answer and the work one request did: statements run and hash parameters verified. */
async function observe(send: () => Promise<Answer>) {
  const queriesBefore = t.queries.length;
  const verifiedBefore = t.hasher.verifiedParams.length;
  const hashesBefore = t.hasher.calls.hash;
  const answer = await send();
  return {
    answer,
    queries: t.queries.slice(queriesBefore),
    verified: t.hasher.verifiedParams.slice(verifiedBefore),
    hashed: t.hasher.calls.hash - hashesBefore,
  };
}

/** Headers that legitimately differ between any two answers. */
function comparableHeaders(answer: Answer) {
  const { date, ...rest } = answer.headers;
  return rest;
}

function assertSameAnswerAndWork(observations: Awaited<ReturnType<typeof observe>>[], labels: string[]) {
  const [first] = observations;
  observations.forEach((o, i) => {
    assert.equal(o.answer.status, first.answer.status, labels[i]);
    assert.equal(o.answer.raw, first.answer.raw, labels[i]);
    assert.deepEqual(comparableHeaders(o.answer), comparableHeaders(first.answer), labels[i]);
    assert.deepEqual(o.queries, first.queries, `${labels[i]}: the same SQL statements`);
    assert.deepEqual(o.verified, first.verified, `${labels[i]}: the same verifications`);
    assert.equal(o.hashed, first.hashed, `${labels[i]}: the same hashing`);
  });
}

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

describe('sign-in does not tell addresses apart', () => {
  test('a wrong password, an unknown address, a deactivated agent and an invited agent get one answer for one verification and the same statements', async () => {
    const real = await newAgent();
    const deactivated = await newAgent();
    assert.equal((await t.patch(`/api/v1/agents/${deactivated.id}`, { status: 'deactivated' }, await ownerToken())).status, 200);
    const invitedEmail = `invited${++counter}@acme.test`;
    assert.equal((await t.post('/api/v1/agents', { email: invitedEmail, name: 'Ivy Invited', roleId: agentRoleId }, await ownerToken())).status, 201);
    await t.mailTo(invitedEmail, /invit/i);
    await t.app.deskpass.mailWorker.stop(); // only the request's own statements are observed

    const cases = [
      { label: 'wrong password', email: real.email, password: 'Wrong-Harbor-Meadow-31' },
      { label: 'unknown address', email: `ghost${++counter}@acme.test`, password: PASSWORD },
      { label: 'deactivated, right password', email: deactivated.email, password: PASSWORD },
      { label: 'invited, no password yet', email: invitedEmail, password: PASSWORD },
    ];
    const observations = [];
    for (const c of cases) observations.push(await observe(() => t.post('/api/v1/auth/login', { email: c.email, password: c.password })));
    assertSameAnswerAndWork(observations, cases.map((c) => c.label));
    assert.equal(observations[0].answer.status, 401);
    assert.equal(observations[0].answer.headers['set-cookie'], undefined);
    assert.equal(observations[0].verified.length, 1);
    t.app.deskpass.mailWorker.start();
  });

  test('a locked real address and a locked unknown address answer 423 alike, right or wrong password, with the same work', async () => {
    const real = await newAgent();
    const unknown = `phantom${++counter}@acme.test`;
    for (const email of [real.email, unknown]) {
      for (let i = 0; i < 5; i += 1) await t.post('/api/v1/auth/login', { email, password: `Bad-Guess-Number-${i}` });
    }
    await t.app.deskpass.mailWorker.stop();
    const cases = [
      { label: 'locked real, right password', email: real.email, password: PASSWORD },
      { label: 'locked real, wrong password', email: real.email, password: 'Bad-Guess-Again-42' },
      { label: 'locked unknown', email: unknown, password: PASSWORD },
    ];
    const observations = [];
    for (const c of cases) observations.push(await observe(() => t.post('/api/v1/auth/login', { email: c.email, password: c.password })));
    assertSameAnswerAndWork(observations, cases.map((c) => c.label));
    assert.equal(observations[0].answer.status, 423);
    assert.ok(Number(observations[0].answer.headers['retry-after']) > 0);
    t.app.deskpass.mailWorker.start();
  });

  test('the attempt that locks an address does the same work for a real and an unknown address', async () => {
    const real = await newAgent();
    const unknown = `spectre${++counter}@acme.test`;
    for (const email of [real.email, unknown]) {
      for (let i = 0; i < 4; i += 1) await t.post('/api/v1/auth/login', { email, password: `Bad-Guess-Number-${i}` });
    }
    await t.app.deskpass.mailWorker.stop();
    const observations = [];
    for (const email of [real.email, unknown]) observations.push(await observe(() => t.post('/api/v1/auth/login', { email, password: 'Bad-Guess-Final-99' })));
    assertSameAnswerAndWork(observations, ['real', 'unknown']);
    assert.equal(observations[0].answer.status, 423);
    t.app.deskpass.mailWorker.start();
    // the notice still reaches the real agent, resolved by the outbox worker
    const notice = await t.mailTo(real.email, /lock/i);
    assert.ok(notice);
  });
});

describe('forgot password does not tell addresses apart', () => {
  test('a real, an unknown, a deactivated and an invited address get the same 202, headers and statements', async () => {
    const real = await newAgent();
    const deactivated = await newAgent();
    assert.equal((await t.patch(`/api/v1/agents/${deactivated.id}`, { status: 'deactivated' }, await ownerToken())).status, 200);
    const invitedEmail = `newbie${++counter}@acme.test`;
    assert.equal((await t.post('/api/v1/agents', { email: invitedEmail, name: 'Nell Newbie', roleId: agentRoleId }, await ownerToken())).status, 201);
    await t.mailTo(invitedEmail, /invit/i);
    await t.app.deskpass.mailWorker.stop();

    const since = t.smtp.messages.length;
    const cases = [
      { label: 'real', email: real.email },
      { label: 'unknown', email: `nobody${++counter}@acme.test` },
      { label: 'deactivated', email: deactivated.email },
      { label: 'invited', email: invitedEmail },
    ];
    // The same state before each: the help desk's account row is cached since the changes above
    // emptied the cache (issue 13), as it is for every request of a real attacker.
    await t.post('/api/v1/auth/forgot-password', { email: `warm-up${++counter}@acme.test` });
    const observations = [];
    for (const c of cases) observations.push(await observe(() => t.post('/api/v1/auth/forgot-password', { email: c.email })));
    assertSameAnswerAndWork(observations, cases.map((c) => c.label));
    assert.equal(observations[0].answer.status, 202);
    assert.equal(observations[0].verified.length, 0);

    t.app.deskpass.mailWorker.start();
    t.app.deskpass.mailWorker.kick();
    await t.mailTo(real.email, /reset your password/i, since);
    await new Promise((resolve) => setTimeout(resolve, 700));
    const sent = t.smtp.messages.slice(since);
    assert.deepEqual(sent.map((m) => m.to[0]), [real.email], 'only the real, active agent gets mail');
    const audit = await t.get('/api/v1/audit-events?type=password.reset_requested&limit=4', await ownerToken());
    assert.equal(audit.body.events.length, 4, 'every request is audited, by the worker');
  });
});
