import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { LimitName, LimitSpec } from '../plugins/rate-limits.js';
export { perIp } from '../plugins/rate-limits.js';
import { describeWait } from './messages.js';
import { renderMessage, renderPage } from './render.js';
import { currentAccount } from '../../flows/account.js';

/** What each limit counts, in the words of the page that says it was reached, and the other way forward. */
const LIMITED: Record<LimitName, { title: string; what: (from: string) => string; forward: string; link?: { href: string; label: string } }> = {
  failedSignInsPerIp: {
    title: 'Too many sign-in attempts',
    what: (from) => `Too many sign-ins failed ${from} in the last 15 minutes, so signing in from this network is paused.`,
    forward: 'If you forgot your password, reset it with Forgot password, or ask an administrator of your help desk.',
    link: { href: '/forgot-password', label: 'Forgot password' },
  },
  forgotPasswordPerEmail: {
    title: 'Too many reset emails for this address',
    what: () => 'Too many password reset emails were asked for this email address in the last hour.',
    forward: 'Look for the emails already sent (check the spam folder too), or ask an administrator of your help desk to reset your password.',
    link: { href: '/login', label: 'Back to sign in' },
  },
  forgotPasswordPerIp: {
    title: 'Too many reset requests',
    what: (from) => `Too many password reset requests came ${from} in the last 15 minutes.`,
    forward: 'Look for the emails already sent (check the spam folder too), or ask an administrator of your help desk to reset your password.',
    link: { href: '/login', label: 'Back to sign in' },
  },
  resetLinkPerIp: {
    title: 'Too many link checks',
    what: (from) => `Too many password reset or invitation links were opened ${from} in the last 15 minutes.`,
    forward: 'Open the link from your email again later, or ask an administrator of your help desk for a new one.',
  },
  passwordProofsPerIp: {
    title: 'Too many password checks',
    what: (from) => `Too many passwords were checked ${from} in the last 15 minutes.`,
    forward: 'If you forgot your password, sign out and use Forgot password, or ask an administrator of your help desk.',
  },
  tokenRequestsPerClient: {
    title: 'Too many requests',
    what: (from) => `Too many requests came ${from}.`,
    forward: 'Ask an administrator of your help desk if this keeps happening.',
  },
};

/**
 * The 429 page: which limit was reached (this network's address, or this email address), when
 * to try again, and the other way forward. The address shown is the requester's own.
 */
export async function refuseWithPage(request: FastifyRequest, reply: FastifyReply, waitSeconds: number, limit: LimitName) {
  const limited = LIMITED[limit];
  const from = `from your network's address (${request.ip})`;
  const deskName = (await currentAccount(request.server.deskpass.deps))?.name ?? null;
  const message = `${limited.what(from)} Try again in ${describeWait(waitSeconds)}. ${limited.forward}`;
  return renderPage(request, reply, 'message', { message, link: limited.link ?? null }, { title: limited.title, status: 429, deskName });
}

/**
 * The API's request limits, applied to the same requests made from the portal (the counters are
 * shared, so the portal is no way around them), as one preHandler hook: over a limit it answers
 * a 429 page naming that limit, with Retry-After, and the handler never runs.
 */
export function pageLimits(app: FastifyInstance, ...limits: LimitSpec[]): preHandlerAsyncHookHandler {
  const guards = limits.map((limit) => app.rateLimits.guard([limit], (request, reply, waitSeconds) => refuseWithPage(request, reply, waitSeconds, limit.name)));
  return async function portalLimits(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    for (const guard of guards) {
      // a guard that refused returns the sent reply: end here, the handler is skipped
      if (await guard.call(this, request, reply)) return reply;
    }
  };
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
