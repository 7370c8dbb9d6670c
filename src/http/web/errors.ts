import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { admitSession } from '../../flows/session-gate.js';
import { answerFrameworkError, sendError, STORE_RETRY_AFTER_SECONDS } from '../errors.js';
import { storeTrouble } from '../../store/store-check.js';
import type { Failure } from '../../domain/errors.js';
import type { Permission } from '../../domain/permissions.js';
import { describeFailure, forbiddenReason } from './messages.js';
import { renderMessage, renderPage } from './render.js';
import { currentAccount } from '../../flows/account.js';
import { PERMISSION_LABELS } from './roles-pages.js';

/** The permission each Manage section needs (the flows decide; this only names it on the 403 page). */
const SECTION_PERMISSION: Record<string, Permission> = {
  agents: 'manage_agents',
  roles: 'manage_roles',
  apps: 'manage_apps',
  audit: 'view_audit_log',
  account: 'manage_account_settings',
};

/**
 * Why a page is refused, for a person: for a missing permission, which one and which role lacks
 * it ("Your role (Agent) does not have Manage Agents."), else the refusal's own sentence.
 */
export function forbiddenText(request: FastifyRequest, failure: Failure): string {
  const [section, page] = request.url.split('?')[0]!.split('/').filter(Boolean);
  const needed = section === 'manage' && page ? SECTION_PERMISSION[page] : undefined;
  const agent = request.portalAuth?.agent;
  if (failure.code === 'forbidden' && forbiddenReason(failure) === 'missing_permission' && needed && agent) {
    return `Your role (${agent.role.name}) does not have the ${PERMISSION_LABELS[needed]} permission this page needs. Ask an administrator of your help desk if you need it.`;
  }
  return describeFailure(failure);
}

/** The 403 page of a refused Manage page: what is missing, and the way back. */
export function renderForbidden(request: FastifyRequest, reply: FastifyReply, title: string, failure: Failure): FastifyReply {
  return renderMessage(request, reply, 403, title, forbiddenText(request, failure), { href: '/apps', label: 'Go to your apps' });
}

/** Paths that belong to programs, not people: an unknown one keeps the API's JSON 404. */
const MACHINE_PATHS = ['/api/', '/.well-known/'];

/**
 * The portal's 404 page, for an unknown page anywhere a browser goes (the sections behind the
 * sign-in gate use it too): the help desk's layout, a title, and the way back (the agent's apps
 * when signed in, else the sign-in page).
 */
export async function renderNotFound(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const link = request.portalAuth ? { href: '/apps', label: 'Go to your apps' } : { href: '/login', label: 'Sign in' };
  const deskName = request.portalAuth ? null : ((await currentAccount(request.server.deskpass.deps))?.name ?? null);
  const message = 'There is no page at this address. It may have moved, or the link may be incomplete.';
  return renderPage(request, reply, 'message', { message, link }, { title: 'Page not found', status: 404, deskName });
}

/**
 * Unknown GET pages outside /api/ answer the portal's page (a catch-all route of the portal's
 * own context, so its headers and layout apply; the router prefers every real route over it).
 * Other methods, and /api/ (where the API's JSON contract rules), keep the JSON 404; /oidc/*
 * is the provider's own.
 */
export function installPortalNotFound(app: FastifyInstance): void {
  const { deps, cookieName } = app.deskpass;
  // Fastify's default: the router refuses a longer path parameter before any route runs.
  const maxParamLength = (app.initialConfig as { maxParamLength?: number }).maxParamLength ?? 100;
  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    const path = request.url.split('?')[0]!;
    // The router falls back to this route rather than refuse a parameter that is too long
    // (find-my-way tries the wildcard last): answer what it would have answered.
    const wildcard = (request.params as { '*'?: string })['*'] ?? '';
    if (wildcard.split('/').some((segment) => segment.length > maxParamLength)) {
      return answerFrameworkError(Object.assign(new Error('parameter too long'), { code: 'FST_ERR_MAX_PARAM_LENGTH' }) as FastifyError, request, reply);
    }
    if (MACHINE_PATHS.some((prefix) => path.startsWith(prefix))) return sendError(reply, 'not_found');
    // Signed in: the page keeps the header, and the way back is the agent's apps.
    const outcome = await admitSession(deps, request.cookies?.[cookieName], {});
    if (outcome.ok) request.portalAuth = outcome.auth;
    return renderNotFound(request, reply);
  });
}

/**
 * Errors on portal pages answer with a page, not JSON: a form whose CSRF token is missing or
 * stale says so and offers to start again; anything unexpected says nothing about why.
 */
export function installPortalErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    // The CSRF plugin's answers ("Missing csrf secret", "Invalid csrf token").
    if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
      return renderMessage(request, reply, 403, 'This form has expired', 'For your security, this form can no longer be sent. Go back, reload the page and try again.', {
        href: safeBack(request.url),
        label: 'Reload the form',
      });
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return renderMessage(request, reply, 413, 'Too much text', 'The form sent more text than the server accepts.');
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return renderMessage(request, reply, 415, 'Not a form', 'This page accepts only the forms of the portal.');
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return renderMessage(request, reply, error.statusCode, 'Something is wrong with this request', 'The request could not be understood. Go back and try again.');
    }
    const trouble = storeTrouble(error);
    if (trouble) {
      request.log.warn({ err: error.message, code: error.code }, trouble === 'storage_full' ? 'the store is out of space' : 'the store is unavailable');
      reply.header('retry-after', String(STORE_RETRY_AFTER_SECONDS));
      return trouble === 'storage_full'
        ? renderMessage(request, reply, 503, 'The server is out of space', 'Nothing was changed: the server has run out of storage space. Tell the administrator of this server, then try again.')
        : renderMessage(request, reply, 503, 'Back in a moment', 'Nothing was changed: the service is briefly unavailable. Wait a few seconds and try again.', { href: safeBack(request.url), label: 'Try again' });
    }
    request.log.error({ err: error }, 'unhandled error on a portal page');
    return renderMessage(request, reply, 500, 'Something went wrong', 'Something went wrong on our side. Try again in a moment.');
  });
}

/** Back to the page the form was on (its path only; a reset link's path keeps its token, on this site). */
function safeBack(url: string): string {
  const path = url.split('?')[0];
  if (!path.startsWith('/') || path.startsWith('//')) return '/';
  const [section, page, id] = path.split('/').filter(Boolean);
  if (section === 'manage' && page === 'agents' && id) return `/manage/agents/${encodeURIComponent(id)}`;
  if ((section === 'manage' || section === 'my-settings') && page) return `/${section}/${page}`;
  if (section === 'logout') return '/';
  return path;
}
