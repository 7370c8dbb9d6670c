import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import { RATE_LIMIT_WINDOWS_MS, type RateLimitSettings } from '../../domain/account-settings.js';
import { currentAccount } from '../../flows/account.js';
import type { RateCounters } from '../../security/rate-counters.js';

export type LimitName = keyof RateLimitSettings;

/**
 * One limit a route applies before its handler: `requests` counts every request, `failures`
 * reserves a failure slot before the slow work (verifying a password) that the handler gives
 * back on success (releaseFailures). A null subject (an empty field) skips the limit.
 */
export interface LimitSpec {
  name: LimitName;
  subject: (request: FastifyRequest) => string | null | Promise<string | null>;
  counts?: 'requests' | 'failures';
}

/** A limit counted per client address. */
export const perIp = (name: LimitName, counts: LimitSpec['counts'] = 'requests'): LimitSpec => ({ name, subject: (request) => request.ip, counts });

/** Answers a request over a limit (JSON 429 for the API, a page for the portal). */
export type LimitRefusal = (request: FastifyRequest, reply: FastifyReply, waitSeconds: number) => unknown;

export interface RateLimits {
  /**
   * Counts this request against the named limit for `subject` (an IP, an email address) and
   * returns the seconds to wait when the limit is exceeded, else null. Sends nothing.
   */
  hit(request: FastifyRequest, name: LimitName, subject: string): Promise<number | null>;
  /**
   * For limits that count failures only: reserves one failure for `subject` before the attempt,
   * atomically, or returns the seconds to wait when the limit is reached. The reservation is
   * remembered on the request until releaseFailures gives it back.
   */
  reserveFailure(request: FastifyRequest, name: LimitName, subject: string): Promise<number | null>;
  /** The attempt succeeded: gives back this request's reserved failures. */
  releaseFailures(request: FastifyRequest): Promise<void>;
  /**
   * A preHandler hook applying `limits` in order: over one, it answers through `refuse` and
   * ends the request there (Fastify never calls the handler once a hook has replied).
   */
  guard(limits: LimitSpec[], refuse: LimitRefusal): preHandlerAsyncHookHandler;
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: RateLimits;
  }
  interface FastifyRequest {
    rateLimitKey?: string;
    rateLimitMax?: number;
    /** failure slots this request reserved (counter keys), given back on success */
    reservedFailures?: string[];
  }
}

/** @fastify/rate-limit's store contract, on counters every instance shares. */
function counterStore(counters: RateCounters) {
  return class CounterStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      counters.hit(key, timeWindow).then(
        (result) => callback(null, { current: result.count, ttl: result.ttlMs }),
        (error: Error) => callback(error),
      );
    }
    child(): CounterStore {
      return new CounterStore();
    }
  };
}

/**
 * The request limits of DESIGN.md and issue "Hardening", with maxima from the account's
 * settings. RATE_LIMITS=off turns them all off (load tests only); the lockout is not a rate
 * limit and stays on.
 */
export const rateLimitsPlugin = fp<{ counters: RateCounters; enabled: boolean }>(async (app: FastifyInstance, options) => {
  const { counters, enabled } = options;
  /**
   * Counters are per help desk account (its settings give the maxima), so keys start with the
   * account id: `acct:<id>:<limit>:<subject>`. Before setup there is no account and no limit.
   */
  const scope = async (name: LimitName, subject: string) => {
    const account = await currentAccount(app.deskpass.deps);
    return account ? { key: `acct:${account.id}:${name}:${subject}`, max: account.settings.rateLimits[name] } : null;
  };

  await app.register(rateLimit, {
    global: false,
    store: counterStore(counters) as never,
    // No X-RateLimit-* headers on allowed requests: remaining counts would differ between two
    // addresses and say who was asked about before.
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
  });

  const limiters = Object.fromEntries(
    (Object.keys(RATE_LIMIT_WINDOWS_MS) as LimitName[]).map((name) => [
      name,
      app.createRateLimit({
        keyGenerator: (request: FastifyRequest) => request.rateLimitKey ?? `${name}:${request.ip}`,
        max: (request: FastifyRequest) => request.rateLimitMax ?? Number.MAX_SAFE_INTEGER,
        timeWindow: RATE_LIMIT_WINDOWS_MS[name],
      }),
    ]),
  ) as Record<LimitName, ReturnType<FastifyInstance['createRateLimit']>>;

  app.decorate('rateLimits', {
    async hit(request, name, subject) {
      if (!enabled) return null;
      const scoped = await scope(name, subject);
      if (!scoped) return null;
      request.rateLimitKey = scoped.key;
      request.rateLimitMax = scoped.max;
      const limit = await limiters[name](request);
      request.rateLimitKey = undefined;
      request.rateLimitMax = undefined;
      return limit.isAllowed || !limit.isExceeded ? null : Math.max(1, limit.ttlInSeconds);
    },
    async reserveFailure(request, name, subject) {
      if (!enabled) return null;
      const scoped = await scope(name, subject);
      if (!scoped) return null;
      const slot = await counters.reserve(scoped.key, RATE_LIMIT_WINDOWS_MS[name], scoped.max);
      if (!slot.reserved) return Math.max(1, Math.ceil(slot.ttlMs / 1000));
      (request.reservedFailures ??= []).push(scoped.key);
      return null;
    },
    async releaseFailures(request) {
      const keys = request.reservedFailures ?? [];
      request.reservedFailures = [];
      for (const key of keys) await counters.release(key);
    },
    guard(limits, refuse) {
      const rateLimits = this;
      return async function rateLimitGuard(request: FastifyRequest, reply: FastifyReply) {
        for (const limit of limits) {
          const subject = await limit.subject(request);
          if (subject === null) continue;
          const waitSeconds = limit.counts === 'failures' ? await rateLimits.reserveFailure(request, limit.name, subject) : await rateLimits.hit(request, limit.name, subject);
          if (waitSeconds === null) continue;
          reply.header('retry-after', String(waitSeconds));
          await refuse(request, reply, waitSeconds);
          // Returning the reply from an async hook waits until it is sent; Fastify then skips the
          // handler. (Letting the request on after refusing it was the bug of issue 8.)
          return reply;
        }
      };
    },
  } satisfies RateLimits);
});
