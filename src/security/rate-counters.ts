import { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.js';
import type { Db } from '../store/db.js';
import { incrementCounter, readCounter } from '../store/rate-limit-counters.repo.js';

/** Fixed-window counters that every instance shares: in the database, or in Redis with REDIS_URL. */
export interface RateCounters {
  /** counts one event in the key's window; returns the window's count and the ms until it resets */
  hit(key: string, windowMs: number): Promise<{ count: number; ttlMs: number }>;
  /** the key's count without counting */
  peek(key: string): Promise<{ count: number; ttlMs: number }>;
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
    async close() {},
  };
}

/** Counters in Redis: INCR, and PEXPIRE NX so the first event of a window sets its end. */
export function redisCounters(url: string, nameSpace = 'deskpass:rate:'): RateCounters {
  // Fail fast rather than queue commands while Redis is away: a limit check must not hang a sign-in.
  const redis = new Redis(url, { connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: true, lazyConnect: false });
  return {
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
    async close() {
      redis.disconnect();
    },
  };
}
