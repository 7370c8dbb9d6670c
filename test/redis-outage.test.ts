import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { OWNER, TestApp } from './support/harness.js';

// Redis goes away under a running server and comes back. A private redis-server of this test's
// own (the machine's shared one on 6379 serves other test files at the same time): sign-ins keep
// working, the limits keep holding in the store meanwhile (a warning in the log, deskpass_redis_up
// 0 in /metrics), and the counters are in Redis again once it returns.

const METRICS_TOKEN = 'redis-outage-metrics-token-0123456789abcdef';
let port: number;
let redisServer: ChildProcess | undefined;
let t: TestApp;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as { port: number };
      server.close(() => resolve(address.port));
    });
  });
}

async function startRedis(): Promise<void> {
  redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i += 1) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined); // refused until the server listens: the loop tries again
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
  throw new Error('redis-server did not start');
}

async function stopRedis(): Promise<void> {
  const child = redisServer;
  redisServer = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

async function keysInRedis(): Promise<string[]> {
  const client = new Redis(port, '127.0.0.1');
  client.on('error', () => undefined);
  try {
    return await client.keys('deskpass:rate:*');
  } finally {
    client.disconnect();
  }
}

async function metric(name: string): Promise<number | undefined> {
  const text = (await t.request('GET', '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).raw;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never: ${what}`);
}

async function forgotFive(email: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i += 1) statuses.push((await t.request('POST', '/api/v1/auth/forgot-password', { body: { email }, ip: `10.77.${i}.1` })).status);
  return statuses;
}

before(async () => {
  port = await freePort();
  await startRedis();
  t = await TestApp.start({ redisUrl: `redis://127.0.0.1:${port}`, metricsToken: METRICS_TOKEN });
  await t.setup();
});
after(async () => {
  await t?.close();
  await stopRedis();
});

describe('Redis goes away and comes back', () => {
  test('with Redis: the counters are in Redis, none in the store', async () => {
    assert.equal(await metric('deskpass_redis_up'), 1);
    await t.login(OWNER.email, OWNER.password);
    assert.deepEqual(await forgotFive(`a-${randomBytes(3).toString('hex')}@acme.test`), [202, 202, 202, 202, 202, 429]);
    assert.ok((await keysInRedis()).length > 0);
    assert.deepEqual(await t.app.deskpass.deps.db.selectFrom('rate_limit_counters').select('key').execute(), []);
  });

  test('Redis killed: sign-ins and pages keep working, the limits hold in the store, with a warning in the log and in /metrics', async () => {
    const logsBefore = t.logs.length;
    await stopRedis();
    await until('the server sees Redis gone', async () => (await metric('deskpass_redis_up')) === 0);
    const token = await t.login(OWNER.email, OWNER.password);
    assert.equal((await t.get('/api/v1/me', token)).status, 200);
    assert.equal((await t.get('/login')).status, 200, 'a portal page');
    assert.deepEqual(await forgotFive(`b-${randomBytes(3).toString('hex')}@acme.test`), [202, 202, 202, 202, 202, 429], 'the hourly limit per address still holds');
    assert.ok((await t.app.deskpass.deps.db.selectFrom('rate_limit_counters').select('key').execute()).length > 0, 'counted in the store meanwhile');
    const warnings = t.logs.slice(logsBefore).filter((line) => line.includes('Redis is unavailable: rate limits count in the database until it returns'));
    assert.equal(warnings.length, 1, 'one warning per outage, not one per request');
    assert.ok(((await metric('deskpass_rate_limit_fallbacks_total')) ?? 0) >= 6);
  });

  test('Redis back: the counters go to Redis again, and the log says so', async () => {
    const logsBefore = t.logs.length;
    await startRedis();
    await until('the server reconnects', async () => (await metric('deskpass_redis_up')) === 1);
    assert.ok(t.logs.slice(logsBefore).some((line) => line.includes('Redis is back: rate limits count in Redis again')));
    const fallbacks = await metric('deskpass_rate_limit_fallbacks_total');
    await t.login(OWNER.email, OWNER.password);
    assert.deepEqual(await forgotFive(`c-${randomBytes(3).toString('hex')}@acme.test`), [202, 202, 202, 202, 202, 429]);
    assert.ok((await keysInRedis()).some((key) => key.includes('c-')), 'the new counters are in Redis');
    assert.equal(await metric('deskpass_rate_limit_fallbacks_total'), fallbacks, 'nothing fell back once Redis was back');
  });
});
