// The argon2id pool (src/security/argon2-pool.ts): one hash per thread at a time, and a busy
// thread already holds its next job, so that it does not wait for a busy event loop to be handed
// one (issue 13, "Speed": that wait left a core idle under a sign-in storm).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Algorithm } from '@node-rs/argon2';
import { createArgon2Pool } from '../src/security/argon2-pool.js';

const CHEAP = { algorithm: Algorithm.Argon2id, memoryCost: 256, timeCost: 1, parallelism: 1 };
const DEARER = { algorithm: Algorithm.Argon2id, memoryCost: 4096, timeCost: 2, parallelism: 1 };
const epochNow = () => performance.timeOrigin + performance.now();

/** Keeps this thread (the event loop) busy for `ms`, as a long request would. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('a busy thread holds its next job and starts it while the event loop is still busy, but only that one', async () => {
  const pool = createArgon2Pool(1);
  try {
    const stored = await pool.hash('warm the worker up', CHEAP);
    const started: number[] = [];
    pool.observe((job) => started.push(job.startedAt));
    const answers = [pool.verify(stored, 'warm the worker up'), pool.verify(stored, 'warm the worker up'), pool.verify(stored, 'warm the worker up')];
    busyFor(300); // the first answer arrives meanwhile, but this thread cannot read it
    const freeAt = epochNow();
    assert.deepEqual(await Promise.all(answers), [true, true, true]);
    assert.equal(started.length, 3);
    assert.ok(started[1]! < freeAt, `the second job started ${Math.round(freeAt - started[1]!)} ms before the event loop was free`);
    assert.ok(started[2]! >= freeAt, 'the third was handed over only once the first answer was read');
  } finally {
    await pool.close();
  }
});

test('never more hashes at once than threads; the jobs a thread holds count as queued', async () => {
  const pool = createArgon2Pool(2);
  try {
    const stored = await pool.hash('a passphrase', DEARER);
    // Each job's own start and end as its thread read them (one moment of submission plus each
    // wait shifted the jobs queued after the second thread's start earlier than they ran).
    const runs: { from: number; to: number }[] = [];
    pool.observe((job) => runs.push({ from: job.startedAt, to: job.endedAt }));
    const answers = Array.from({ length: 6 }, (_, i) => pool.verify(stored, i % 2 === 0 ? 'a passphrase' : 'not it'));
    assert.deepEqual(pool.load(), { queued: 4, running: 2, threads: 2 });
    assert.deepEqual(await Promise.all(answers), [true, false, true, false, true, false]);
    assert.deepEqual(pool.load(), { queued: 0, running: 0, threads: 2 });
    assert.equal(runs.length, 6);
    // How many run at once is greatest at some run's start: count the runs going at each start.
    // (Counting the runs that overlap a run is not it: on a loaded machine one long run overlaps
    // two short ones that ran one after the other on the other thread.)
    for (const run of runs) {
      const atOnce = runs.filter((other) => other.from <= run.from && other.to > run.from).length;
      assert.ok(atOnce <= 2, `at most two hashes at once (${atOnce} at ${run.from}: ${JSON.stringify(runs)})`);
    }
  } finally {
    await pool.close();
  }
});

test('a job that fails fails alone: the one its thread held next still answers', async () => {
  const pool = createArgon2Pool(1);
  try {
    const stored = await pool.hash('a passphrase', CHEAP);
    const bad = pool.verify('$argon2id$not-a-hash', 'a passphrase');
    const good = pool.verify(stored, 'a passphrase');
    await assert.rejects(bad);
    assert.equal(await good, true);
    assert.equal(await pool.verify(stored, 'a passphrase'), true);
  } finally {
    await pool.close();
  }
});

test('closing the pool rejects what waits and what its threads hold', async () => {
  const pool = createArgon2Pool(1);
  const stored = await pool.hash('a passphrase', DEARER);
  const answers = Array.from({ length: 4 }, () => pool.verify(stored, 'a passphrase').then(() => 'answered', () => 'rejected'));
  await pool.close();
  const outcomes = await Promise.all(answers);
  assert.ok(outcomes.slice(1).every((outcome) => outcome === 'rejected'), `held and queued jobs are rejected: ${outcomes.join(', ')}`);
  await assert.rejects(pool.verify(stored, 'a passphrase'), /closed/);
});
