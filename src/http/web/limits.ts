import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { LimitRefusal, LimitSpec } from '../plugins/rate-limits.js';
export { perIp } from '../plugins/rate-limits.js';
import { describeWait } from './messages.js';
import { renderMessage } from './render.js';

/**
 * The API's request limits, applied to the same requests made from the portal (the counters are
 * shared, so the portal is no way around them), as preHandler hooks: over a limit the hook
 * answers a 429 page with Retry-After and the handler never runs.
 */
export const refuseWithPage: LimitRefusal = (request, reply, waitSeconds) =>
  renderMessage(request, reply, 429, 'Too many requests', `Too many requests came from your network. Try again in ${describeWait(waitSeconds)}.`);

export function pageLimits(app: FastifyInstance, ...limits: LimitSpec[]): preHandlerAsyncHookHandler {
  return app.rateLimits.guard(limits, refuseWithPage);
}

/** Why a page cannot be used, as data (never a reply): the guard renders it and ends the request. */
export interface PageRefusal {
  status: number;
  title: string;
  message: string;
  link?: { href: string; label: string };
}

/**
 * A portal guard as a preHandler hook: `check` says why the request must stop, or null. A
 * refusal is rendered here and the hook returns the sent reply, so Fastify skips the handler:
 * a guard cannot fall through by construction (issue 8: a helper's `await reply.view(…)` is
 * undefined once sent, and `if (guard) return guard` carried on after its 410).
 */
export function pageGuard<R extends FastifyRequest>(check: (request: R) => Promise<PageRefusal | null>): preHandlerAsyncHookHandler {
  return async function portalGuard(request: FastifyRequest, reply: FastifyReply) {
    const refusal = await check(request as R);
    if (!refusal) return;
    await renderMessage(request, reply, refusal.status, refusal.title, refusal.message, refusal.link);
    return reply;
  };
}
