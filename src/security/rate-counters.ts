import { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.js';
import type { Db } from '../store/db.js';
import { incrementCounter, readCounter, releaseCounterSlot, reserveCounterSlot } from '../store/rate-limit-counters.repo.js';

/** Fixed-window counters that every instance shares: in the database, or in Redis with REDIS_URL. */
export interface RateCounters {
  /** counts one event in the key's window; returns the window's count and the ms until it resets */
  hit(key: string, windowMs: number): Promise<{ count: number; ttlMs: number }>;
  /** the key's count without counting */
  peek(key: string): Promise<{ count: number; ttlMs: number }>;
  /**
   * Counts one event only while the count is below `max`, atomically: null when the limit is
   * reached (then `ttlMs` of the window says how long to wait). Reserve before slow work.
   */
  reserve(key: string, windowMs: number, max: number): Promise<{ reserved: boolean; ttlMs: number }>;
  /** gives back one reserved event of the current window */
  release(key: string): Promise<void>;
  close(): Promise<void>;
}

/** Counters in the rate_limit_counters table; windows follow the injected clock. */
export function databaseCounters(db: Db, clock: Clock): RateCounters {
  return {
    async hit(key, windowMs) {
      const now = clock.now();
      const state = await incrementCounter(db, key, windowMs, now);
      return { count: state.count, ttlMs: state.resetAt.getTime() - now.getTime() };
    },
    async peek(key) {
      const now = clock.now();
      const state = await readCounter(db, key, now);
      return { count: state.count, ttlMs: Math.max(0, state.resetAt.getTime() - now.getTime()) };
    },
    async reserve(key, windowMs, max) {
      const now = clock.now();
      const state = await reserveCounterSlot(db, key, windowMs, max, now);
      if (state) return { reserved: true, ttlMs: state.resetAt.getTime() - now.getTime() };
      return { reserved: false, ttlMs: (await this.peek(key)).ttlMs };
    },
    async release(key) {
      await releaseCounterSlot(db, key, clock.now());
    },
    async close() {},
  };
}

// Check and count in one script, so parallel requests (and instances) cannot all pass a check
// that only one of them should: returns {count or -1 when full, ms left in the window}.
const RESERVE_SCRIPT = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[2]) then return {-1, redis.call('PTTL', KEYS[1])} end
count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
return {count, redis.call('PTTL', KEYS[1])}
`;
const RELEASE_SCRIPT = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return 0
`;

/** Counters in Redis, and whether Redis is there now (`ready`), with a callback when that changes. */
export interface RedisRateCounters extends RateCounters {
  ready(): boolean;
  onReadyChange(listener: (ready: boolean) => void): void;
  /** resolves true once connected, false after `timeoutMs` without (at start: serve anyway) */
  connected(timeoutMs: number): Promise<boolean>;
}

/** Counters in Redis: INCR, and PEXPIRE NX so the first event of a window sets its end. */
export function redisCounters(url: string, nameSpace = 'deskpass:rate:'): RedisRateCounters {
  // Fail fast rather than queue commands while Redis is away: a limit check must not hang a
  // sign-in (the caller counts elsewhere meanwhile, see failoverCounters). ioredis reconnects by itself.
  const redis = new Redis(url, { connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false, retryStrategy: (times) => Math.min(times * 200, 2000) });
  const listeners: Array<(ready: boolean) => void> = [];
  let wasReady = false;
  const changed = (ready: boolean) => {
    if (ready === wasReady) return;
    wasReady = ready;
    for (const listener of listeners) listener(ready);
  };
  redis.on('ready', () => changed(true));
  redis.on('close', () => changed(false));
  redis.on('error', () => undefined); // each failed command is answered by its caller; 'close' says it is gone
  return {
    ready: () => redis.status === 'ready',
    onReadyChange: (listener) => void listeners.push(listener),
    connected(timeoutMs) {
      if (redis.status === 'ready') return Promise.resolve(true);
      return new Promise((resolve) => {
        const onReady = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          redis.off('ready', onReady);
          resolve(false);
        }, timeoutMs);
        timer.unref();
        redis.once('ready', onReady);
      });
    },
    async hit(key, windowMs) {
      const results = await redis.multi().incr(nameSpace + key).pexpire(nameSpace + key, windowMs, 'NX').pttl(nameSpace + key).exec();
      if (!results) throw new Error('redis transaction aborted');
      for (const [error] of results) if (error) throw error;
      return { count: Number(results[0][1]), ttlMs: Math.max(0, Number(results[2][1])) };
    },
    async peek(key) {
      const [count, ttl] = await redis.multi().get(nameSpace + key).pttl(nameSpace + key).exec().then((r) => (r ?? []).map(([, v]) => v));
      return { count: Number(count ?? 0), ttlMs: Math.max(0, Number(ttl ?? 0)) };
    },
    async reserve(key, windowMs, max) {
      const [count, ttl] = (await redis.eval(RESERVE_SCRIPT, 1, nameSpace + key, windowMs, max)) as [number, number];
      return { reserved: Number(count) > 0, ttlMs: Math.max(0, Number(ttl)) };
    },
    async release(key) {
      await redis.eval(RELEASE_SCRIPT, 1, nameSpace + key);
    },
    async close() {
      redis.disconnect();
    },
  };
}

/**
 * Redis when it is there, the database's counters when it is not: a sign-in never fails or
 * waits because Redis went away. The store's counters are shared by every instance too, so the
 * limits still hold across instances; they start from zero when Redis goes (and the Redis
 * counts resume, where they were, when it returns). A release goes to whichever counters are in
 * use at that moment: across a switch one reserved slot may be given back to the other side.
 */
export function failoverCounters(primary: RedisRateCounters, fallback: RateCounters, events: { down(error: unknown): void; up(): void; fellBack(): void }): RateCounters {
  let down = false;
  const goDown = (error: unknown) => {
    if (!down) {
      down = true;
      events.down(error);
    }
  };
  primary.onReadyChange((ready) => {
    if (ready && down) {
      down = false;
      events.up();
    } else if (!ready) goDown(new Error('the connection to Redis closed'));
  });
  async function either<T>(run: (counters: RateCounters) => Promise<T>): Promise<T> {
    if (primary.ready()) {
      try {
        return await run(primary);
      } catch (error) {
        goDown(error);
      }
    } else {
      goDown(new Error('Redis is not connected'));
    }
    events.fellBack();
    return run(fallback);
  }
  return {
    hit: (key, windowMs) => either((c) => c.hit(key, windowMs)),
    peek: (key) => either((c) => c.peek(key)),
    reserve: (key, windowMs, max) => either((c) => c.reserve(key, windowMs, max)),
    release: (key) => either((c) => c.release(key)),
    async close() {
      await primary.close();
      await fallback.close();
    },
  };
}
