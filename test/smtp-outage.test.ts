import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { OWNER, TestApp } from './support/harness.js';

// SMTP down for hours: mail waits in the outbox with backoff, the backlog shows in /readyz (and
// /metrics), requests never wait on SMTP, and everything goes out, in order, once SMTP is back.

const HOUR_MS = 3_600_000;
const METRICS_TOKEN = 'smtp-outage-metrics-token-0123456789abcdef';
const operator = { authorization: `Bearer ${METRICS_TOKEN}` };
const apps: TestApp[] = [];
after(async () => {
  for (const t of apps) await t.close();
});

/** An SMTP server that accepts connections and never says a word (a hung relay). */
async function silentSmtp(): Promise<{ server: Server; url: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, url: `smtp://127.0.0.1:${(server.address() as { port: number }).port}`, sockets };
}

describe('SMTP down for hours: nothing lost, nothing waits', () => {
  test('a request answers while the relay hangs mid-send: the worker waits, not the request', async () => {
    const relay = await silentSmtp();
    const t = await TestApp.start({ smtpUrl: relay.url, metricsToken: METRICS_TOKEN });
    apps.push(t);
    await t.setup(); // the setup queues nothing; the sign-in below does not either
    // The first reset request: the worker connects and waits for a greeting that never comes.
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: OWNER.email })).status, 202);
    for (let i = 0; i < 250 && relay.sockets.length === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    assert.equal(relay.sockets.length, 1, 'the worker is connected to the silent relay, waiting');
    // While it waits, requests answer: sign-ins, pages, more mail queued.
    const token = await t.login(OWNER.email, OWNER.password);
    assert.equal((await t.get('/api/v1/me', token)).status, 200);
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: OWNER.email })).status, 202);
    assert.equal(relay.sockets.filter((s) => !s.destroyed).length, 1, 'still hung: the answers above did not wait for it');
    const ready = await t.request('GET', '/readyz', { headers: operator });
    assert.equal(ready.status, 200, 'a hung relay does not make the instance unready');
    assert.equal(ready.body.outbox.pending, 2);
    for (const socket of relay.sockets) socket.destroy();
    relay.server.close();
  });

  test('hours of refusals: the backoff grows to 15 minutes, /readyz shows the backlog, and all of it goes out in order when SMTP returns', async () => {
    const t = await TestApp.start({ metricsToken: METRICS_TOKEN });
    apps.push(t);
    const { ownerToken, agentRoleId } = await t.setup();
    await t.smtp.waitForCount(0);
    t.smtp.failNext(1_000_000); // down
    const since = t.smtp.messages.length;
    const names = ['Ana One', 'Ben Two', 'Cy Three'];
    for (const [i, name] of names.entries()) {
      assert.equal((await t.post('/api/v1/agents', { email: `new${i}@acme.test`, name, roleId: agentRoleId }, ownerToken)).status, 201);
    }
    const outbox = () => t.app.deskpass.deps.db.selectFrom('mail_outbox').select(['recipient', 'attempts', 'next_attempt_at', 'status']).where('recipient', 'like', 'new%').orderBy('id').execute();
    // Three hours of an SMTP server that refuses everything, the worker woken every 5 minutes.
    for (let minute = 0; minute < 180; minute += 5) {
      t.clock.advanceMs(5 * 60_000);
      await t.app.deskpass.mailWorker.runOnce();
    }
    const waiting = await outbox();
    assert.deepEqual(waiting.map((row) => row.status), ['pending', 'pending', 'pending'], 'nothing is dropped');
    for (const row of waiting) {
      assert.ok(row.attempts >= 8, `retried for hours: ${row.attempts} attempts`);
      const waitMs = new Date(row.next_attempt_at).getTime() - t.clock.now().getTime();
      assert.ok(waitMs <= 15 * 60_000, 'the backoff stops growing at 15 minutes');
    }
    const ready = await t.request('GET', '/readyz', { headers: operator });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.outbox.pending, 3);
    assert.equal(ready.body.outbox.retrying, 3);
    assert.ok(ready.body.outbox.oldestPendingAgeSeconds >= 3 * 3600 - 60, `the oldest has waited three hours: ${ready.body.outbox.oldestPendingAgeSeconds} s`);
    assert.equal(t.smtp.messages.length, since, 'nothing was delivered while SMTP refused');

    t.smtp.failNext(0); // back
    t.clock.advanceMs(HOUR_MS / 4);
    await t.app.deskpass.mailWorker.runOnce();
    const delivered = await t.smtp.waitForCount(since + 3);
    assert.deepEqual(delivered.slice(since).map((m) => m.to.join(',')), ['new0@acme.test', 'new1@acme.test', 'new2@acme.test'], 'each invitation, once, in the order queued');
    assert.deepEqual((await outbox()).map((row) => row.status), ['sent', 'sent', 'sent']);
    assert.equal((await t.request('GET', '/readyz', { headers: operator })).body.outbox.pending, 0);
    assert.deepEqual((await t.get('/readyz')).body, { status: 'ok' }, 'without the operator\'s token: only the status');
  });
});
