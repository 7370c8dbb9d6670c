import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OWNER, TestApp } from './support/harness.js';

// GET /metrics (prom-client): absent without METRICS_TOKEN, refused without the token, and the
// figures an operator watches are the real ones: sign-ins by outcome, lockouts, argon2 jobs,
// the outbox backlog and deliveries, request latency by route pattern.

const TOKEN = 'metrics-token-0123456789abcdef0123456789abcdef';
const LOU = { email: 'lou@acme.test', name: 'Lou Locksmith', password: 'Thistle-Harbor-Comet-35' };

let t: TestApp;
let ownerToken: string;
let agentRoleId: string;

async function scrape(): Promise<string> {
  const answer = await t.request('GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(answer.status, 200, answer.raw);
  return answer.raw;
}

/** The value of one sample (`name{labels} value`), or 0 when the series is absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

before(async () => {
  t = await TestApp.start({ metricsToken: TOKEN });
  ({ ownerToken, agentRoleId } = await t.setup());
});
after(async () => t?.close());

async function untilNothingPending(): Promise<string> {
  for (let i = 0; ; i += 1) {
    const text = await scrape();
    if (!/^deskpass_outbox_pending\{/m.test(text)) return text;
    if (i > 250) throw new Error(`the outbox never emptied:\n${text.split('\n').filter((l) => l.startsWith('deskpass_outbox')).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('GET /metrics', () => {
  test('without METRICS_TOKEN there is no /metrics', async () => {
    const plain = await TestApp.start();
    try {
      assert.equal((await plain.get('/metrics')).status, 404);
      assert.equal((await plain.request('GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
    } finally {
      await plain.close();
    }
  });

  test('refused without the token or with another one (401, WWW-Authenticate); a session token is not it', async () => {
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: TOKEN }, { authorization: `Bearer ${ownerToken}` }]) {
      const answer = await t.request('GET', '/metrics', { headers });
      assert.equal(answer.status, 401, JSON.stringify(headers));
      assert.equal(answer.body.error.code, 'unauthenticated');
      assert.match(String(answer.headers['www-authenticate']), /^Bearer realm="metrics"/);
      assert.doesNotMatch(answer.raw, /deskpass_/, 'no figure leaks in a refusal');
    }
    const answer = await t.request('GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(answer.status, 200);
    assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.equal(answer.headers['cache-control'], 'no-store');
    assert.ok(!t.logs.join('').includes(TOKEN), 'the token is never logged');
  });

  test('sign-ins by outcome and lockouts count what happened, exactly', async () => {
    await t.addAgent(ownerToken, { ...LOU, roleId: agentRoleId });
    const before = await scrape();
    await t.login(OWNER.email, OWNER.password);
    await t.login(LOU.email, LOU.password);
    for (let i = 0; i < 2; i += 1) assert.equal((await t.post('/api/v1/auth/login', { email: 'nobody@acme.test', password: `Wrong-${i}-Password` })).status, 401);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await t.post('/api/v1/auth/login', { email: LOU.email, password: `Not-Lou-${i}-Password` })).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 423], 'the fifth failure locks');
    assert.equal((await t.post('/api/v1/auth/login', { email: LOU.email, password: LOU.password })).status, 423);
    const after = await scrape();
    const delta = (series: string) => sample(after, series) - sample(before, series);
    assert.equal(delta('deskpass_sign_ins_total{outcome="succeeded"}'), 2);
    assert.equal(delta('deskpass_sign_ins_total{outcome="invalid_credentials"}'), 7);
    assert.equal(delta('deskpass_lockouts_total'), 1);
    assert.ok(delta('deskpass_audit_events_total{type="login.failed"}') >= 7);
  });

  test('argon2id: every verification is in the duration and wait histograms, and the queue gauges are there', async () => {
    const text = await scrape();
    assert.equal(sample(text, 'deskpass_argon2_duration_seconds_count{op="verify"}'), t.hasher.calls.verify, 'one observation per verification the hasher made');
    assert.equal(sample(text, 'deskpass_argon2_wait_seconds_count{op="verify"}'), t.hasher.calls.verify);
    assert.ok(t.hasher.calls.verify >= 10);
    assert.match(text, /^deskpass_argon2_queue_depth 0$/m, 'nothing waits once the requests have answered');
    assert.match(text, /^deskpass_argon2_running 0$/m);
  });

  test('requests are timed by route pattern, never by raw path (bounded labels)', async () => {
    await t.get('/api/v1/me', ownerToken);
    await t.get('/api/v1/agents/not-an-agent-1', ownerToken);
    await t.get('/api/v1/agents/not-an-agent-2', ownerToken);
    await t.get('/no/such/path/7f3a'); // the portal's 404 page: its catch-all route
    await t.post('/no/such/path/9c2e', {}); // no route at all
    const text = await scrape();
    assert.ok(sample(text, 'deskpass_http_request_duration_seconds_count{method="GET",route="/api/v1/me",status="200"}') >= 1);
    assert.ok(sample(text, 'deskpass_http_request_duration_seconds_count{method="GET",route="/api/v1/agents/:id",status="404"}') >= 2);
    assert.ok(sample(text, 'deskpass_http_request_duration_seconds_count{method="GET",route="/*",status="404"}') >= 1);
    assert.ok(sample(text, 'deskpass_http_request_duration_seconds_count{method="POST",route="unmatched",status="404"}') >= 1);
    assert.doesNotMatch(text, /not-an-agent|7f3a|9c2e/, 'no raw path in a label');
    assert.doesNotMatch(text, /route="\/metrics"/, 'scrapes are not timed');
  });

  test('the outbox: a mail SMTP refuses is counted failed and shows as pending and retrying; once sent, it is counted sent', async () => {
    await untilNothingPending(); // the earlier tests' notices go first: the refusal must meet our mail
    t.smtp.failNext(1);
    const since = t.smtp.messages.length;
    const before = await scrape();
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: LOU.email })).status, 202);
    // The first attempt fails (451); the row waits for its retry (2 s after, on the injected clock).
    let during = await scrape();
    for (let i = 0; i < 100 && sample(during, 'deskpass_outbox_deliveries_total{template="reset_link_request",result="failed"}') === sample(before, 'deskpass_outbox_deliveries_total{template="reset_link_request",result="failed"}'); i += 1) {
      await new Promise((r) => setTimeout(r, 20));
      during = await scrape();
    }
    assert.equal(sample(during, 'deskpass_outbox_deliveries_total{template="reset_link_request",result="failed"}') - sample(before, 'deskpass_outbox_deliveries_total{template="reset_link_request",result="failed"}'), 1);
    assert.equal(sample(during, 'deskpass_outbox_pending{template="reset_link_request"}'), 1);
    assert.equal(sample(during, 'deskpass_outbox_retrying{template="reset_link_request"}'), 1);
    t.clock.advanceMs(1500); // not yet the retry's time (2 s after the failure)
    const aged = await scrape();
    assert.ok(sample(aged, 'deskpass_outbox_oldest_pending_age_seconds{template="reset_link_request"}') >= 1.5, 'the age follows the clock');
    assert.equal(sample(aged, 'deskpass_store_up'), 1);

    t.clock.advanceMs(1000);
    t.app.deskpass.mailWorker.kick();
    await t.mailTo(LOU.email, /reset/i, since);
    const sent = await untilNothingPending();
    assert.equal(sample(sent, 'deskpass_outbox_pending{template="reset_link_request"}'), 0, 'nothing pending once sent');
    assert.equal(sample(sent, 'deskpass_outbox_deliveries_total{template="reset_link_request",result="sent"}') - sample(before, 'deskpass_outbox_deliveries_total{template="reset_link_request",result="sent"}'), 1);
    assert.match(sent, /^deskpass_process_resident_memory_bytes \d+/m, "the process's own figures too");
  });
});
