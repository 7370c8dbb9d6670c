import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestApp } from './support/harness.js';

/**
 * With REDIS_URL, two instances share their counters: failures counted on A and on B add up.
 * Needs the Redis server on 127.0.0.1:6379 (.ci/run checks it is there).
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let a: TestApp;
let b: TestApp;

before(async () => {
  a = await TestApp.start({ redisUrl: REDIS_URL });
  await a.setup();
  // a second instance of the same help desk: same store, same Redis
  b = await TestApp.start({ redisUrl: REDIS_URL, databaseUrl: a.config.databaseUrl, secretKey: a.config.secretKey });
});
after(async () => {
  await b.close(); // b shares a's store: close it first
  await a.close();
});

test('failed sign-ins counted on two instances add up to one per-IP limit in Redis', async () => {
  const b1 = randomBytes(3);
  const ip = `10.${b1[0]}.${b1[1]}.${b1[2]}`;
  for (let i = 0; i < 50; i += 1) {
    assert.equal((await a.request('POST', '/api/v1/auth/login', { body: { email: `a${i}@acme.test`, password: 'Wrong-Guess-Password-1' }, ip })).status, 401);
    assert.equal((await b.request('POST', '/api/v1/auth/login', { body: { email: `b${i}@acme.test`, password: 'Wrong-Guess-Password-1' }, ip })).status, 401);
  }
  const blocked = await a.request('POST', '/api/v1/auth/login', { body: { email: 'late@acme.test', password: 'Wrong-Guess-Password-1' }, ip });
  assert.equal(blocked.status, 429);
  assert.equal(blocked.body.error.code, 'rate_limited');
  const retryAfter = Number(blocked.headers['retry-after']);
  assert.ok(retryAfter > 0 && retryAfter <= 15 * 60, `Retry-After ${retryAfter} s is within the 15-minute window`);
  // the counters are in Redis, not in the database
  const inDatabase = await a.app.deskpass.deps.db.selectFrom('rate_limit_counters').select('key').execute();
  assert.deepEqual(inDatabase, []);
});

test('forgot-password requests for one address on two instances share the hourly limit', async () => {
  const email = `shared-${randomBytes(4).toString('hex')}@acme.test`;
  const statuses = [];
  for (let i = 0; i < 6; i += 1) {
    const app = i % 2 === 0 ? a : b;
    statuses.push((await app.request('POST', '/api/v1/auth/forgot-password', { body: { email }, ip: `10.9.${i}.1` })).status);
  }
  assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429]);
});
