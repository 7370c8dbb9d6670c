import { IncomingMessage, type ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { LimitRefusal } from '../http/plugins/rate-limits.js';
import type { ProviderHost } from './host.js';
import { DISCOVERY_PATH, OIDC_ROUTES } from './endpoints.js';
import { requestEchoes } from '../store/store-changes.js';

/** The provider reads at most this much of a body (oidc-provider's own limit is 56 KiB). */
const BODY_LIMIT_BYTES = 56 * 1024;

/**
 * A copy of the request whose body stream is `body` again: the token endpoint's body is read
 * here first (its client id keys the rate limit), and the provider then reads it as usual.
 */
function replayRequest(raw: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = new IncomingMessage(raw.socket);
  copy.method = raw.method;
  copy.url = raw.url;
  copy.httpVersion = raw.httpVersion;
  copy.httpVersionMajor = raw.httpVersionMajor;
  copy.httpVersionMinor = raw.httpVersionMinor;
  const headers = { ...raw.headers, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  copy.headers = headers;
  copy.push(body);
  copy.push(null);
  // complete: without it, the copy's end would destroy the socket it shares with the original
  copy.complete = true;
  return copy;
}

/** The client a token request names: HTTP Basic (client_secret_basic) or the body's client_id. */
function tokenClientId(request: FastifyRequest): string | null {
  const authorization = request.headers.authorization;
  if (authorization?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      try {
        return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, '%20')).slice(0, 200);
      } catch {
        return null;
      }
    }
  }
  if (Buffer.isBuffer(request.body)) {
    const clientId = parseQuery(request.body.toString('utf8')).client_id;
    if (typeof clientId === 'string' && clientId) return clientId.slice(0, 200);
  }
  return null;
}

/** OAuth's own error shape over the limit (RFC 6749 §5.2 clients read `error`), with Retry-After. */
const refuseTokenRequest: LimitRefusal = (_request, reply, waitSeconds) =>
  reply.code(429).send({ error: 'temporarily_unavailable', error_description: `Too many token requests for this client. Retry after ${waitSeconds} seconds.` });

/**
 * Mounts the provider (a Koa app) in Fastify: `/oidc/*` and discovery go to it untouched, with
 * Host and X-Forwarded-* set from PUBLIC_URL, so every URL it prints (discovery, redirects,
 * the `iss` of its tokens) is the issuer's whatever Host a client sent.
 */
export function providerMount(host: ProviderHost, publicUrl: string): FastifyPluginAsync {
  const base = new URL(publicUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES }, (_request, body, done) => done(null, body));

    /**
     * The provider's router forgives letter case and a trailing slash (`/oidc/Token/`), Fastify's
     * does not: such a spelling of a fixed endpoint would reach it past that endpoint's guard.
     * Only the canonical spelling is forwarded.
     */
    const canonical = new Map(Object.values(OIDC_ROUTES).map((path) => [path.toLowerCase(), path]));
    const nonCanonical = (request: FastifyRequest): boolean => {
      const target = request.raw.url ?? '/';
      // Origin-form only, and no fragment: Fastify's router strips an absolute-form prefix and
      // cuts at '#', Koa's does not; a target they would read differently is not forwarded.
      if (!target.startsWith('/') || target.startsWith('//') || target.includes('#')) return true;
      let path = target.split('?')[0]!;
      try {
        path = decodeURIComponent(path);
      } catch {
        return true;
      }
      const known = canonical.get(path.toLowerCase().replace(/\/+$/, ''));
      return known !== undefined && known !== target.split('?')[0];
    };

    const forward = async (request: FastifyRequest, reply: FastifyReply) => {
      if (nonCanonical(request)) return reply.code(404).send({ error: 'invalid_request', error_description: 'unrecognized route' });
      const raw = Buffer.isBuffer(request.body) ? replayRequest(request.raw, request.body) : request.raw;
      raw.headers.host = base.host;
      raw.headers['x-forwarded-host'] = base.host;
      raw.headers['x-forwarded-proto'] = base.protocol.replace(':', '');
      raw.headers['x-forwarded-for'] = request.ip;
      (raw as IncomingMessage & { originalUrl?: string }).originalUrl = basePath + (raw.url ?? '/');
      reply.hijack();
      reply.raw.setHeader('x-content-type-options', 'nosniff');
      // the provider's own pages (sign-out confirmation, errors) are never framed
      reply.raw.setHeader('x-frame-options', 'DENY');
      answerAfterEchoes(reply.raw);
      await host.handle(raw, reply.raw);
    };

    // Per client *and* address: the client id is public (every authorization URL shows it) and is
    // counted before the provider authenticates it, so a stranger's requests naming it must not
    // use up the help desk's own budget (its server calls from its own address).
    const tokenLimit = app.rateLimits.guard([{ name: 'tokenRequestsPerClient', subject: (request) => {
      return `${tokenClientId(request) ?? '-'}|${request.ip}`;
    } }], refuseTokenRequest);
    // the endpoints that authenticate a client by its secret share the client's budget
    for (const path of [OIDC_ROUTES.token, OIDC_ROUTES.introspection, OIDC_ROUTES.revocation]) {
      app.post(path, { preHandler: tokenLimit, schema: { hide: true } }, forward);
    }
    app.route({ method: ['GET', 'POST', 'OPTIONS'], url: '/oidc/*', schema: { hide: true }, handler: forward });
    app.get(DISCOVERY_PATH, { schema: { hide: true } }, forward);
  };
}

/**
 * The provider answers on the raw response, past Fastify's onSend hooks: its end waits here for
 * the echoes of what the request committed (an RP-initiated logout ends the Deskpass session), as
 * every other answer does (http/plugins/store-echoes.ts).
 */
function answerAfterEchoes(response: ServerResponse): void {
  const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
  response.end = ((...args: unknown[]) => {
    const echoes = requestEchoes.getStore();
    if (!echoes || echoes.length === 0) return end(...args);
    void Promise.all(echoes).then(() => end(...args));
    return response;
  }) as ServerResponse['end'];
}
