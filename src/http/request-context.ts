import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../domain/models.js';

/** Where a request came from, for the audit log. */
export function requestContext(request: FastifyRequest, method: RequestContext['method'] = 'api'): RequestContext {
  const userAgent = request.headers['user-agent'];
  return { method, ip: request.ip ?? null, userAgent: typeof userAgent === 'string' ? userAgent.slice(0, 512) : null };
}
