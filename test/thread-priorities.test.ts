// Thread priorities of a serving process (src/thread-priorities.ts, src/security/argon2-pool.ts):
// the event loop keeps its priority; V8's platform threads and the hashing threads run below it,
// so that neither a collection's background work nor a sign-in storm's hashes keep the event loop
// waiting to run (issue 13, `GET /me`'s tail; BENCHMARKS.md, eighth round). Read from the real
// `deskpass serve` process's /proc entries, not from what the code says it did.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ServerProcess } from './support/server-process.js';
import { HASH_THREAD_NICENESS } from '../src/security/argon2-pool.js';
import { lowerV8PlatformThreads } from '../src/thread-priorities.js';

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

test('a serving process runs V8\'s platform threads and its hashing threads below the event loop, and the event loop where it started', async () => {
  // An unknown address still costs one verification: the hashing threads have started.
  const refused = await server.request('POST', '/api/v1/auth/login', { body: { email: 'nobody@example.com', password: 'Quartz-Lantern-Meadow-1987' } });
  assert.equal(refused.status, 401);

  const pid = server.child.pid!;
  const threads = threadsOf(pid);
  const eventLoop = threads.find((t) => t.tid === pid)!;
  const ownNice = threadsOf('self').find((t) => t.tid === process.pid)!.nice;
  assert.equal(eventLoop.nice, ownNice, 'the event loop keeps the priority the process was started with');

  const lowered = Math.min(19, eventLoop.nice + HASH_THREAD_NICENESS);
  const v8 = threads.filter((t) => t.name === 'V8Worker');
  assert.ok(v8.length > 0, `V8's platform threads are named V8Worker (threads: ${threads.map((t) => t.name).join(', ')})`);
  assert.deepEqual(v8.map((t) => t.nice), v8.map(() => lowered), 'every V8 platform thread runs below the event loop');

  const workers = threads.filter((t) => t.name === 'WorkerThread');
  assert.ok(workers.filter((t) => t.nice === lowered).length >= 1, `a hashing thread runs below the event loop (worker threads' nice values: ${workers.map((t) => t.nice).join(', ')})`);
  assert.ok(threads.filter((t) => t.nice < lowered).every((t) => t.name !== 'V8Worker'), 'no V8 platform thread was left at the event loop\'s priority');
});

test('lowering names exactly the V8 platform threads, and lowering twice changes nothing more', () => {
  const before = threadsOf('self');
  const v8 = before.filter((t) => t.name === 'V8Worker').map((t) => t.tid).sort();
  const first = lowerV8PlatformThreads().sort();
  assert.deepEqual(first, v8);
  const once = threadsOf('self');
  assert.deepEqual(lowerV8PlatformThreads().sort(), v8);
  assert.deepEqual(threadsOf('self').map((t) => [t.tid, t.nice]), once.map((t) => [t.tid, t.nice]), 'a second call moves no thread further');
  const main = once.find((t) => t.tid === process.pid)!;
  assert.equal(main.nice, before.find((t) => t.tid === process.pid)!.nice, 'the calling thread keeps its priority');
  for (const t of once.filter((t) => t.name === 'V8Worker')) assert.equal(t.nice, Math.min(19, main.nice + HASH_THREAD_NICENESS));
});
