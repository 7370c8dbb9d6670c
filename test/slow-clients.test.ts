import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { OWNER, TestApp } from './support/harness.js';

// Slow and hostile clients on a real port: 200 sockets dribbling their headers (slowloris), a
// body that never finishes, a socket that says nothing. Others still sign in meanwhile, and the
// server ends each slow socket once its timeout is up (with 408 where HTTP allows an answer).
// The timeouts are shortened for the test (CLIENT_TIMEOUTS in src/app.ts holds the real ones).

const TIMEOUTS = { headersMs: 1500, requestMs: 3000, idleMs: 4000, keepAliveMs: 4000, checkEveryMs: 250 };
const SLOWLORIS = 200;

let t: TestApp;
let port: number;

before(async () => {
  t = await TestApp.start({}, { clientTimeouts: TIMEOUTS });
  await t.setup();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.app.server.address() as { port: number }).port;
});
after(async () => t?.close());

interface SlowSocket {
  socket: Socket;
  received: string;
  closed: Promise<void>;
}

function open(first: string): Promise<SlowSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const slow: SlowSocket = { socket, received: '', closed: new Promise((r) => socket.once('close', () => r())) };
    socket.on('data', (chunk) => (slow.received += String(chunk)));
    socket.on('error', () => undefined); // the server's reset of a slow socket is what we wait for
    socket.once('connect', () => {
      if (first) socket.write(first);
      resolve(slow);
    });
    socket.once('error', reject);
  });
}

/** Writes one more header byte every `everyMs` until the socket closes. */
function dribble(slow: SlowSocket, everyMs: number): void {
  const timer = setInterval(() => {
    if (slow.socket.destroyed) return clearInterval(timer);
    slow.socket.write('X');
  }, everyMs);
  void slow.closed.then(() => clearInterval(timer));
}

async function signIn(): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: OWNER.email, password: OWNER.password }),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('slow and hostile clients hold a socket, never the server', () => {
  test('a slowloris of 200 connections: others sign in meanwhile; every slow socket gets 408 and is closed', async () => {
    const slow: SlowSocket[] = [];
    for (let i = 0; i < SLOWLORIS; i += 1) {
      const s = await open('POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      dribble(s, 200);
      slow.push(s);
    }
    const verifiesBefore = t.hasher.calls.verify;
    for (let i = 0; i < 5; i += 1) assert.equal(await signIn(), 200, 'a sign-in while 200 sockets dribble');
    assert.equal(t.hasher.calls.verify - verifiesBefore, 5, 'each sign-in really verified its password');
    assert.ok(slow.filter((s) => !s.socket.destroyed).length > 0, 'the slow sockets were still open during those sign-ins');

    await Promise.all(slow.map((s) => s.closed));
    const timedOut = slow.filter((s) => s.received.startsWith('HTTP/1.1 408')).length;
    assert.equal(timedOut, SLOWLORIS, 'every slow socket was answered 408 Request Timeout before it was closed');
    assert.equal(await signIn(), 200, 'and the server is as it was');
  });

  test('a request whose body never finishes is answered 408 and closed; nothing is changed', async () => {
    const body = JSON.stringify({ email: OWNER.email, password: 'Wrong-Password-That-Never-Arrives' });
    const s = await open(`POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    const verifiesBefore = t.hasher.calls.verify;
    await s.closed;
    assert.match(s.received, /^HTTP\/1\.1 408/);
    assert.equal(t.hasher.calls.verify, verifiesBefore, 'no password was verified for a body that never came');
    const attempts = await t.app.deskpass.deps.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'login.failed').executeTakeFirstOrThrow();
    assert.equal(Number(attempts.n), 0, 'no failed attempt was recorded');
  });

  test('a socket that sends nothing is answered 408 once its headers are late, and closed', async () => {
    const s = await open('');
    await s.closed;
    assert.match(s.received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.equal(await signIn(), 200);
  });

  test('headers past the 16 KiB the parser takes: 431 headers_too_large, closed', async () => {
    const s = await open(`GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    await s.closed;
    assert.match(s.received, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.equal(JSON.parse(s.received.split('\r\n\r\n')[1]).error.code, 'headers_too_large');
  });

  test("the 408 is in the API's error shape, with the headers every answer carries", async () => {
    const s = await open('GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await s.closed;
    const [head, body] = s.received.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 408 Request Timeout/);
    assert.match(head, /\r\nConnection: close/i);
    assert.match(head, /\r\nCache-Control: no-store/i);
    assert.deepEqual(JSON.parse(body), { error: { code: 'request_timeout', message: 'The request took too long to arrive: send it again.' } });
  });
});
