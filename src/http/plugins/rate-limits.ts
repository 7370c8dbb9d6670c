import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import { RATE_LIMIT_WINDOWS_MS, type RateLimitSettings } from '../../domain/account-settings.js';
import { currentAccount } from '../../flows/account.js';
import type { RateCounters } from '../../security/rate-counters.js';
import { sendError } from '../errors.js';

export type LimitName = keyof RateLimitSettings;

export interface RateLimits {
  /**
   * Counts this request against the named limit for `subject` (an IP, an email address) and
   * returns the seconds to wait when the limit is exceeded, else null. Sends nothing: the API
   * answers JSON (`check`), the portal a page.
   */
  hit(request: FastifyRequest, name: LimitName, subject: string): Promise<number | null>;
  /** `hit`, answering 429 rate_limited with Retry-After when exceeded; false then. */
  check(request: FastifyRequest, reply: FastifyReply, name: LimitName, subject: string): Promise<boolean>;
  /** For limits that count failures only: seconds to wait when `subject` is over the limit, else null. */
  failuresBlocked(name: LimitName, subject: string): Promise<number | null>;
  countFailure(name: LimitName, subject: string): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: RateLimits;
  }
  interface FastifyRequest {
    rateLimitKey?: string;
    rateLimitMax?: number;
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
    async check(request, reply, name, subject) {
      const waitSeconds = await this.hit(request, name, subject);
      if (waitSeconds === null) return true;
      sendError(reply, 'rate_limited', undefined, waitSeconds);
      return false;
    },
    async failuresBlocked(name, subject) {
      if (!enabled) return null;
      // one after the other: the same statements in the same order on every path (enumeration tests)
      const scoped = await scope(name, subject);
      if (!scoped) return null;
      const state = await counters.peek(scoped.key);
      return state.count >= scoped.max ? Math.max(1, Math.ceil(state.ttlMs / 1000)) : null;
    },
    async countFailure(name, subject) {
      if (!enabled) return;
      const scoped = await scope(name, subject);
      if (scoped) await counters.hit(scoped.key, RATE_LIMIT_WINDOWS_MS[name]);
    },
  } satisfies RateLimits);
});
