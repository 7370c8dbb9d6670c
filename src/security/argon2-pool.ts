import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Options } from '@node-rs/argon2';

/**
 * Where argon2id runs, and at what priority. Each hash takes ~20 ms of one core and 19 MiB, so:
 *
 * - at most one hash per core at a time (`size` workers; the rest wait in a queue here). More
 *   would only time-slice the same cores, make every hash slower and hold more memory;
 * - each busy worker already holds its next job, when one waits: it starts that one the moment it
 *   finishes, where it used to wait for the event loop to read its answer and hand it another.
 *   Under a sign-in storm the event loop is often busy for a millisecond or more, and every such
 *   wait left a core idle (BENCHMARKS.md);
 * - on worker threads of our own, not on libuv's pool (where @node-rs/argon2's async calls run):
 *   a burst of sign-ins can no longer fill the 4 pool threads that file and DNS work also need;
 * - at a lower priority than the event loop (a higher nice value on Linux, per thread): when a
 *   request arrives, the kernel runs the event loop at once instead of sharing the core with two
 *   hashes. Hashing still gets every cycle the event loop leaves, so sign-ins lose no throughput.
 *
 * Idle workers are unref'd: they never keep a CLI command or a test process alive.
 */
export interface Argon2Pool {
  hash(password: string, options: Options): Promise<string>;
  verify(storedHash: string, password: string): Promise<boolean>;
  close(): Promise<void>;
  /** jobs waiting for a thread, and jobs on one now (for /metrics) */
  load(): HashLoad;
  /** called after each job with how long it waited for a thread and how long it ran; returns "stop" */
  observe(listener: HashJobListener): () => void;
}

export interface HashLoad {
  queued: number;
  running: number;
  threads: number;
}

/**
 * What one finished job took: its wait in the queue and its run on a thread, and when it started
 * and ended on that thread (milliseconds since the epoch, comparable across threads and with
 * `performance.timeOrigin + performance.now()` on the event loop).
 */
export type HashJobListener = (job: { op: 'hash' | 'verify'; waitMs: number; runMs: number; startedAt: number; endedAt: number }) => void;

/** How much nicer (lower in priority) the hashing threads are than the event loop's thread. */
export const HASH_THREAD_NICENESS = 10;

const ARGON2_MODULE = createRequire(import.meta.url).resolve('@node-rs/argon2');

// The worker's code, inline (no second file to find from both src/ under tsx and dist/): the
// synchronous argon2 calls, which run on the worker's own thread, lowered in priority first.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const argon2 = require(workerData.argon2Module);
const os = require('node:os');
// Linux: nice values are per thread; this thread started at the event loop's, and goes lower.
try { os.setPriority(0, Math.min(19, os.getPriority(0) + workerData.niceness)); } catch { /* not permitted: stay */ }
// Jobs run one at a time, in the order they came; each answer says when it started and ended
// (milliseconds since the epoch, comparable with the event loop's clock).
const now = () => performance.timeOrigin + performance.now();
parentPort.on('message', ({ op, a, b }) => {
  const startedAt = now();
  try {
    const value = op === 'hash' ? argon2.hashSync(a, b) : argon2.verifySync(a, b);
    parentPort.postMessage({ value, startedAt, endedAt: now() });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message ? error.message : error), startedAt, endedAt: now() });
  }
});
`;

interface Job {
  op: 'hash' | 'verify';
  a: string;
  b: string | Options;
  resolve: (value: string | boolean) => void;
  reject: (error: Error) => void;
  /** milliseconds since the epoch, as the worker's answer tells its times */
  queuedAt: number;
}

interface Slot {
  worker: Worker;
  /** the job it runs (first) and the one it holds next (second): in the order it answers them */
  jobs: Job[];
  /** when it started the job it runs (about: when it was handed the job, or ended the one before) */
  busySince: number;
}

/** jobs a worker holds at most: the one it runs and the next */
const JOBS_PER_WORKER = 2;

const epochNow = () => performance.timeOrigin + performance.now();

export function createArgon2Pool(size = availableParallelism(), niceness = HASH_THREAD_NICENESS): Argon2Pool {
  const slots: Slot[] = [];
  const queue: Job[] = [];
  const listeners = new Set<HashJobListener>();
  let closed = false;

  function startWorker(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { argon2Module: ARGON2_MODULE, niceness } });
    const slot: Slot = { worker, jobs: [], busySince: 0 };
    worker.on('message', (message: { value?: string | boolean; error?: string; startedAt: number; endedAt: number }) => {
      const job = slot.jobs.shift()!;
      slot.busySince = message.endedAt; // it went on to the job it held, if any
      if (listeners.size > 0) {
        const done = {
          op: job.op,
          waitMs: Math.max(0, message.startedAt - job.queuedAt),
          runMs: Math.max(0, message.endedAt - message.startedAt),
          startedAt: message.startedAt,
          endedAt: message.endedAt,
        };
        for (const listener of listeners) listener(done);
      }
      if (message.error !== undefined) job.reject(new Error(message.error));
      else job.resolve(message.value!);
      dispatch();
    });
    worker.on('error', (error) => {
      // A crashed worker fails the job it ran and is replaced by the next dispatch; the one it
      // held next goes back to the head of the queue.
      const [running, ...held] = slot.jobs.splice(0);
      running?.reject(error);
      queue.unshift(...held);
      slots.splice(slots.indexOf(slot), 1);
      dispatch();
    });
    worker.unref();
    slots.push(slot);
    return slot;
  }

  /**
   * An idle worker first (or a new one), else of the busy ones that hold no next job yet the one
   * that started its job first: hashes cost the same, so it is likely the first to be done.
   */
  function freeSlot(): Slot | undefined {
    const idle = slots.find((s) => s.jobs.length === 0) ?? (slots.length < size ? startWorker() : undefined);
    if (idle) return idle;
    let soonest: Slot | undefined;
    for (const slot of slots) if (slot.jobs.length < JOBS_PER_WORKER && (!soonest || slot.busySince < soonest.busySince)) soonest = slot;
    return soonest;
  }

  function dispatch(): void {
    while (queue.length > 0 && !closed) {
      const slot = freeSlot();
      if (!slot) break;
      const job = queue.shift()!;
      if (slot.jobs.length === 0) slot.busySince = epochNow();
      slot.jobs.push(job);
      slot.worker.ref(); // a hash in flight keeps the process alive until it answers
      slot.worker.postMessage({ op: job.op, a: job.a, b: job.b });
    }
    for (const slot of slots) if (slot.jobs.length === 0) slot.worker.unref();
  }

  function run<T extends string | boolean>(op: Job['op'], a: string, b: string | Options): Promise<T> {
    if (closed) return Promise.reject(new Error('the argon2 pool is closed'));
    return new Promise<T>((resolve, reject) => {
      queue.push({ op, a, b, resolve: resolve as Job['resolve'], reject, queuedAt: epochNow() });
      dispatch();
    });
  }

  return {
    hash: (password, options) => run<string>('hash', password, options),
    verify: (storedHash, password) => run<boolean>('verify', storedHash, password),
    load: () => ({
      queued: queue.length + slots.reduce((held, s) => held + Math.max(0, s.jobs.length - 1), 0),
      running: slots.filter((s) => s.jobs.length > 0).length,
      threads: size,
    }),
    observe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      const pending = [...queue.splice(0), ...slots.flatMap((s) => s.jobs.splice(0))];
      for (const job of pending) job.reject(new Error('the argon2 pool is closed'));
      await Promise.all(slots.splice(0).map((s) => s.worker.terminate()));
    },
  };
}
