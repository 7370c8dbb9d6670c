import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { sendError } from '../errors.js';

/** The path of the first string (or key) holding a NUL character, e.g. `limit` or `passwordPolicy.name`. */
function findNul(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (depth > 32 || value === null || typeof value !== 'object') return null;
  for (const [key, inner] of Object.entries(value)) {
    const innerPath = path ? `${path}.${key}` : key;
    if (key.includes('\u0000')) return innerPath;
    const found = findNul(inner, innerPath, depth + 1);
    if (found !== null) return found;
  }
  return null;
}

/**
 * No text Deskpass stores or compares may hold a NUL character: PostgreSQL refuses it in text
 * columns (a 500 otherwise) and no email, name, id or password needs one. Bodies, path
 * parameters and query strings holding one get 400 invalid_request before any route runs.
 */
export const rejectNulPlugin = fp(async (app: FastifyInstance) => {
  app.addHook('preValidation', (request, reply, done) => {
    for (const value of [request.params, request.query, request.body]) {
      const field = findNul(value, '');
      // the answer ends the request: done() is not called
      if (field !== null) return void sendError(reply, 'invalid_request', [{ field: field || 'body', message: 'must not contain a NUL character' }]);
    }
    done();
  });
});
