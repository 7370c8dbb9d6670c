import type { FastifyError, FastifyInstance } from 'fastify';
import { renderMessage } from './render.js';
import { storeTrouble } from '../../store/store-check.js';
import { STORE_RETRY_AFTER_SECONDS } from '../errors.js';

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
