import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Authenticated } from '../../flows/sessions.js';
import { admitSession, type GateRules } from '../../flows/session-gate.js';
import { sendError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** set by the session gate on every route behind it (API and portal) */
    auth: Authenticated;
  }
  interface FastifyContextConfig extends GateRules {
    /** which session gate a route is behind (set when the route is added; the route-walking test reads it) */
    gate?: 'api' | 'portal';
  }
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Reads the session from `Authorization: Bearer` or the session cookie. */
function readToken(request: FastifyRequest, cookieName: string): { token: string; via: 'bearer' | 'cookie' } | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match ? { token: match[1], via: 'bearer' } : null;
  }
  const cookie = request.cookies?.[cookieName];
  return cookie ? { token: cookie, via: 'cookie' } : null;
}

/**
 * A cookie rides along with cross-site requests; a Bearer header never does. So a
 * cookie-authenticated change must come from our own origin (OWASP: verify the Origin, or
 * the browser's Sec-Fetch-Site, when there is no Origin).
 */
function crossSite(request: FastifyRequest, publicOrigin: string): boolean {
  const origin = request.headers.origin;
  if (typeof origin === 'string') return origin !== publicOrigin;
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string') return site !== 'same-origin' && site !== 'none';
  return false;
}

export interface AuthenticateOptions {
  cookieName: string;
  publicUrl: string;
}

/**
 * The API's side of the session gate (flows/session-gate.ts): 401 without a live session, 403
 * password_change_required while a one-time password is in force (except on the routes that
 * allow it). Runs at onRequest, before body validation, so the contract's error order holds.
 */
export const authenticatePlugin = fp<AuthenticateOptions>(async (app: FastifyInstance, options) => {
  const publicOrigin = new URL(options.publicUrl).origin;
  app.decorateRequest('auth', null as unknown as Authenticated);
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), gate: 'api' };
  });
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const credentials = readToken(request, options.cookieName);
    const outcome = await admitSession(app.deskpass.deps, credentials?.token, request.routeOptions.config);
    if (!outcome.ok && outcome.code === 'unauthenticated') return sendError(reply, 'unauthenticated');
    if (credentials!.via === 'cookie' && STATE_CHANGING.has(request.method) && crossSite(request, publicOrigin)) {
      return sendError(reply, 'forbidden', [{ reason: 'cross_site_request' }]);
    }
    if (!outcome.ok) return sendError(reply, outcome.code);
    request.auth = outcome.auth;
  });
});
