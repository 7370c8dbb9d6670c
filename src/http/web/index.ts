import type { FastifyPluginAsync } from 'fastify';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import { Eta } from 'eta';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ASSETS_DIR, VIEWS_DIR } from './paths.js';

export const WEBAUTHN_BROWSER_PATH = '/assets/webauthn/simplewebauthn-browser.js';
import { registerPortalSecurity } from './security.js';
import { flashPlugin } from './flash.js';
import { installPortalErrorHandler, installPortalNotFound } from './errors.js';
import { signInPages } from './sign-in-pages.js';
import { resetPages } from './reset-pages.js';
import { setupPages } from './setup-pages.js';
import { authenticatedPages } from './authenticated-pages.js';

/**
 * The agent portal: server-rendered pages on the same flows as the API. Everything it
 * registers (form bodies, headers, CSRF, templates, assets) stays inside this plugin's
 * context, so the JSON API still takes JSON only.
 */
export const webPortal: FastifyPluginAsync = async (app) => {
  const { config } = app.deskpass;
  const secure = config.publicUrl.startsWith('https:');

  await app.register(formbody, { bodyLimit: 64 * 1024 });
  await registerPortalSecurity(app, { secretKey: config.secretKey, secure });
  await app.register(flashPlugin, { secretKey: config.secretKey, secure });
  await app.register(fastifyStatic, { root: ASSETS_DIR, prefix: '/assets/', decorateReply: false, index: false, maxAge: 300_000 });
  // The passkey ceremonies' browser side, @simplewebauthn/browser's own bundle, from this server (never a CDN).
  const webauthnBrowser = readFileSync(join(dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')), '..', 'dist', 'bundle', 'index.umd.min.js'));
  app.get(WEBAUTHN_BROWSER_PATH, async (_request, reply) => reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(webauthnBrowser));
  await app.register(view, {
    // autoEscape: every <%= %> is HTML-escaped; <%~ %> is kept for the layout's body only.
    engine: { eta: new Eta({ views: VIEWS_DIR, autoEscape: true, autoTrim: [false, 'nl'], cache: true }) },
    root: VIEWS_DIR,
    production: process.env.NODE_ENV !== 'development',
  });
  app.decorateRequest('portalAuth', null);
  installPortalErrorHandler(app);

  await app.register(signInPages);
  await app.register(resetPages);
  await app.register(setupPages);
  await app.register(authenticatedPages);
  installPortalNotFound(app);
};

export default webPortal;
