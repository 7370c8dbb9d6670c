// Thread priorities of a serving process (src/thread-priorities.ts, src/security/argon2-pool.ts):
// the event loop keeps its priority; V8's platform threads run below it and the hashing threads
// below those, so that neither a collection's background work nor a sign-in storm's hashes keep
// the event loop waiting to run (issue 13, `GET /me`'s tail; BENCHMARKS.md, eighth round). Read
// from the real `deskpass serve` process's /proc entries, not from what the code says it did.
// Linux only: nice values are per thread there, and /proc names the threads.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ServerProcess } from './support/server-process.js';
import { HASH_THREAD_NICENESS } from '../src/security/argon2-pool.js';
import { lowerV8PlatformThreads, V8_PLATFORM_THREAD_NICENESS } from '../src/thread-priorities.js';

interface ThreadInfo {
  tid: number;
  name: string;
  nice: number;
}

/** Every thread of `pid` with its name and nice value (field 19 of /proc/…/stat). */
function threadsOf(pid: number | 'self'): ThreadInfo[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return [{ tid: Number(tid), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), nice: Number(fields[16]) }];
    } catch {
      return []; // ended meanwhile
    }
  });
}

let dir: string;
let server: ServerProcess;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'deskpass-priorities-'));
  server = await ServerProcess.start({ DATABASE_URL: `sqlite:${join(dir, 'deskpass.sqlite')}`, SECRET_KEY: randomBytes(32).toString('hex'), ARGON2ID: 'm=256,t=1,p=1', RATE_LIMITS: 'off' }, dir);
});

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const LINUX_ONLY = { skip: process.platform !== 'linux' && 'thread priorities are per thread on Linux only' };

test('a serving process runs V8\'s platform threads below the event loop and its hashing threads below those, and the event loop where it started', LINUX_ONLY, async () => {
  // An unknown address still costs one verification: the hashing threads have started.
  const refused = await server.request('POST', '/api/v1/auth/login', { body: { email: 'nobody@example.com', password: 'Quartz-Lantern-Meadow-1987' } });
  assert.equal(refused.status, 401);

  const pid = server.child.pid!;
  const threads = threadsOf(pid);
  const eventLoop = threads.find((t) => t.tid === pid)!;
  const ownNice = threadsOf('self').find((t) => t.tid === process.pid)!.nice;
  assert.equal(eventLoop.nice, ownNice, 'the event loop keeps the priority the process was started with');
  assert.ok(eventLoop.nice + HASH_THREAD_NICENESS <= 19, `started at nice ${eventLoop.nice}, the server has no room below its event loop for this test to see`);

  const v8 = threads.filter((t) => t.name === 'V8Worker');
  assert.ok(v8.length > 0, `V8's platform threads are named V8Worker (threads: ${threads.map((t) => t.name).join(', ')})`);
  assert.deepEqual(v8.map((t) => t.nice), v8.map(() => eventLoop.nice + V8_PLATFORM_THREAD_NICENESS), 'every V8 platform thread runs below the event loop');
  assert.ok(V8_PLATFORM_THREAD_NICENESS > 0 && V8_PLATFORM_THREAD_NICENESS < HASH_THREAD_NICENESS, 'V8\'s threads run above the hashing threads');

  const workers = threads.filter((t) => t.name === 'WorkerThread');
  assert.ok(workers.some((t) => t.nice === eventLoop.nice + HASH_THREAD_NICENESS), `a hashing thread runs below V8's (worker threads' nice values: ${workers.map((t) => t.nice).join(', ')})`);
});

test('lowering names exactly the V8 platform threads, and lowering twice changes nothing more', LINUX_ONLY, () => {
  const start = threadsOf('self');
  const v8 = start.filter((t) => t.name === 'V8Worker').map((t) => t.tid).sort();
  assert.deepEqual(lowerV8PlatformThreads().sort(), v8);
  const once = threadsOf('self');
  assert.deepEqual(lowerV8PlatformThreads().sort(), v8);
  assert.deepEqual(threadsOf('self').map((t) => [t.tid, t.nice]), once.map((t) => [t.tid, t.nice]), 'a second call moves no thread further');
  const main = once.find((t) => t.tid === process.pid)!;
  assert.equal(main.nice, start.find((t) => t.tid === process.pid)!.nice, 'the calling thread keeps its priority');
  for (const t of once.filter((t) => t.name === 'V8Worker')) assert.equal(t.nice, Math.min(19, main.nice + V8_PLATFORM_THREAD_NICENESS));
});
