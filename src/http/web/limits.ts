import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LimitName } from '../plugins/rate-limits.js';
import { describeWait } from './messages.js';
import { renderMessage } from './render.js';

/**
 * The API's request limits, applied to the same requests made from the portal (the counters are
 * shared, so the portal is no way around them). Counts this request for `subject`; when the
 * limit was already reached, answers a 429 page with Retry-After and returns the reply.
 */
export async function limitReached(request: FastifyRequest, reply: FastifyReply, name: LimitName, subject: string): Promise<FastifyReply | null> {
  const waitSeconds = await request.server.rateLimits.hit(request, name, subject);
  return waitSeconds === null ? null : tooManyRequests(request, reply, waitSeconds);
}

/** Sign-in counts only failures per IP (a whole office signs in from one address): is this IP over? */
export async function signInBlocked(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | null> {
  const blockedForSeconds = await request.server.rateLimits.failuresBlocked('failedSignInsPerIp', request.ip);
  return blockedForSeconds === null ? null : tooManyRequests(request, reply, blockedForSeconds);
}

export function countFailedSignIn(request: FastifyRequest): Promise<void> {
  return request.server.rateLimits.countFailure('failedSignInsPerIp', request.ip);
}

function tooManyRequests(request: FastifyRequest, reply: FastifyReply, seconds: number): FastifyReply {
  reply.header('retry-after', String(seconds));
  return renderMessage(request, reply, 429, 'Too many requests', `Too many requests came from your network. Try again in ${describeWait(seconds)}.`);
}
