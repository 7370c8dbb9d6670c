import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The name Node.js gives V8's platform threads (`--v8-pool-size` of them, 4 by default). */
const V8_PLATFORM_THREAD = 'V8Worker';

/**
 * How much nicer than the event loop V8's platform threads run: between the event loop and the
 * hashing threads (HASH_THREAD_NICENESS, 10 in security/argon2-pool.ts). Against the event loop a
 * thread 5 nicer gets about a quarter of a shared core (Linux's weights: 1024 against 335); against
 * a hashing thread it still gets three quarters, so a collection's parallel pause, in which the
 * event loop waits for the pieces these threads took, is not left waiting behind the hashes as
 * long (beside two hashing threads and an event loop busy allocating, mark-compact pauses were
 * longest at 10 and shortest at the event loop's own priority; BENCHMARKS.md, eighth round).
 */
export const V8_PLATFORM_THREAD_NICENESS = 5;

/**
 * V8's platform threads, below the event loop's priority. They mark, sweep and compile in the
 * background for every isolate of the process, and start at the event loop's own priority: four
 * of them on two cores, busy while a sign-in storm hashed, kept the event loop waiting to run
 * (runnable, not running) for up to 20 ms at a time, a quarter of `GET /me`'s slow answers under
 * the storm (BENCHMARKS.md, issue 13's eighth round). Lowered, they still get every cycle the
 * event loop leaves.
 *
 * Linux only (nice values are per thread there, and /proc names the threads); elsewhere, or
 * where the system refuses, nothing changes. Returns the V8 platform threads found at or below
 * the target priority when it returns (a process already that nice finds them there).
 */
export function lowerV8PlatformThreads(niceness = V8_PLATFORM_THREAD_NICENESS): number[] {
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
