import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { HASH_THREAD_NICENESS } from './security/argon2-pool.js';

/** The name Node.js gives V8's platform threads (`--v8-pool-size` of them, 4 by default). */
const V8_PLATFORM_THREAD = 'V8Worker';

/**
 * V8's platform threads, at the hashing threads' priority (a higher nice value than the event
 * loop's). They mark, sweep and compile in the background for every isolate of the process, and
 * they start at the event loop's own priority: four of them on two cores, busy with a collection
 * while a sign-in storm hashes, kept the event loop waiting to run (runnable, not running) for up
 * to 20 ms at a time, the largest share of `GET /me`'s tail under the storm (BENCHMARKS.md, issue
 * 13's eighth round). Lowered, they still get every cycle the event loop leaves, as the hashes do.
 *
 * Linux only (nice values are per thread there, and /proc names the threads); elsewhere, or
 * where the system refuses, nothing changes. Returns the threads lowered.
 */
export function lowerV8PlatformThreads(niceness = HASH_THREAD_NICENESS): number[] {
  if (process.platform !== 'linux') return [];
  let target: number;
  let tids: string[];
  try {
    target = Math.min(19, getPriority(0) + niceness);
    tids = readdirSync('/proc/self/task');
  } catch {
    return [];
  }
  const lowered: number[] = [];
  for (const tid of tids) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== V8_PLATFORM_THREAD) continue;
      // setpriority(PRIO_PROCESS, tid) sets that one thread on Linux
      if (getPriority(Number(tid)) < target) setPriority(Number(tid), target);
      lowered.push(Number(tid));
    } catch {
      /* the thread ended, or lowering was refused: it stays as it is */
    }
  }
  return lowered;
}
