import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import helmet from '@fastify/helmet';
import csrfProtection from '@fastify/csrf-protection';
import { deriveKey } from './keys.js';
import { csrfBinding } from './render.js';

/**
 * The portal's headers and CSRF defence, registered inside the portal's own context so the
 * JSON API keeps its own behaviour:
 * - a strict Content-Security-Policy: scripts and styles from this origin only, never inline,
 *   forms post only here, no framing; `Referrer-Policy: no-referrer` everywhere, so a reset
 *   link's token never reaches another site; HSTS when PUBLIC_URL is https;
 * - `Cache-Control: no-store` on every page and redirect (they carry personal data, and the
 *   reset page a token);
 * - a CSRF token on every form (@fastify/csrf-protection, double-submit cookie), HMAC-signed
 *   with a key derived from SECRET_KEY and bound to the session, checked on every POST.
 */
export async function registerPortalSecurity(app: FastifyInstance, options: { secretKey: Buffer; secure: boolean }): Promise<void> {
  const { secure } = options;
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
        ...(secure ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: secure ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  });

  app.addHook('onSend', async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html') || (reply.statusCode >= 300 && reply.statusCode < 400)) reply.header('cache-control', 'no-store');
    return payload;
  });

  await app.register(csrfProtection, {
    cookieKey: secure ? '__Host-deskpass_csrf' : 'deskpass_csrf',
    cookieOpts: { path: '/', sameSite: 'lax', httpOnly: true, secure },
    getToken: (request: FastifyRequest) => {
      const body = request.body as Record<string, unknown> | undefined;
      return typeof body?._csrf === 'string' ? body._csrf : '';
    },
    getUserInfo: (request: FastifyRequest) => csrfBinding(request),
    csrfOpts: { hmacKey: deriveKey(options.secretKey, 'csrf') },
  });
  // After the body is parsed (the token travels in it) and after the page-auth hook (the token is bound to the session).
  app.addHook('preValidation', (request, reply, done) => {
    if (request.method === 'GET' || request.method === 'HEAD') return done();
    app.csrfProtection(request, reply, done);
  });
}
