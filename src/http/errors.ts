import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERRORS, type ErrorCode, type Failure } from '../domain/errors.js';
import { storeTrouble } from '../store/store-check.js';

/** How soon to try again when the store is away: a PostgreSQL restart takes seconds. */
export const STORE_RETRY_AFTER_SECONDS = 5;

/** Answers with the catalogue's status (unless the contract names another for this route) and message for the code. */
export function sendError(reply: FastifyReply, code: ErrorCode, details?: unknown[], retryAfterSeconds?: number, status: number = ERRORS[code].status): FastifyReply {
  const { message } = ERRORS[code];
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
  return reply.code(status).send({ error: { code, message, ...(details ? { details } : {}) } });
}

/** `statusOf`: the few routes whose contract gives a code another status than the catalogue's. */
export function sendFailure(reply: FastifyReply, failure: Failure, statusOf: Partial<Record<ErrorCode, number>> = {}): FastifyReply {
  return sendError(reply, failure.code, failure.details, failure.retryAfterSeconds, statusOf[failure.code]);
}

/** Maps Fastify's own errors to the catalogue; anything unexpected is a 500 that says nothing about why. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      const details = error.validation.map((v) => ({
        field: (v.instancePath || '').replace(/^\//, '').replace(/\//g, '.') || String((v.params as { missingProperty?: string }).missingProperty ?? error.validationContext ?? ''),
        message: v.message ?? 'is not valid',
      }));
      return sendError(reply, 'invalid_request', details);
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendError(reply, 'payload_too_large');
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return sendError(reply, error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : 'invalid_request');
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return sendError(reply, 'invalid_request', [{ field: 'body', message: 'The body is not valid JSON.' }]);
    }
    if (error.statusCode === 429) return sendError(reply, 'rate_limited');
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      // Malformed JSON and other client errors Fastify raises before our handlers.
      return sendError(reply, 'invalid_request', [{ message: error.message }]);
    }
    const trouble = storeTrouble(error);
    if (trouble) {
      request.log.warn({ err: error.message, code: error.code }, trouble === 'storage_full' ? 'the store is out of space' : 'the store is unavailable');
      return sendError(reply, trouble, undefined, STORE_RETRY_AFTER_SECONDS);
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, 'internal_error');
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, 'not_found'));
}

/**
 * Errors the router raises before any route or error handler (a malformed percent-encoding,
 * a path parameter over maxParamLength): answered from the catalogue too, and never echoing
 * the path, which may hold a link token. Passed as Fastify's `frameworkErrors` option.
 */
export function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // Sent before any route's hooks run: the headers every answer carries (plugins/response-headers.ts).
  reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
  if (error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return sendError(reply, 'invalid_request', [{ field: 'url', message: 'The URL is not valid.' }]);
  }
  return sendError(reply, 'internal_error');
}

/**
 * A client the HTTP parser gave up on before there was a request (a slow sender past its
 * timeout, oversized or malformed headers): answered in the API's error shape and closed,
 * as Fastify's own handler does but with the catalogue's codes. Fastify's `clientErrorHandler`.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : error.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'invalid_request';
  const { status, message } = ERRORS[code];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
