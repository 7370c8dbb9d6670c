import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import { sendError } from '../errors.js';

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/healthz', { logLevel: 'warn', schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'warn', schema: { hide: true } }, async (request, reply) => {
    try {
      await sql`select 1`.execute(app.deskpass.deps.db);
      return { status: 'ok' };
    } catch (error) {
      request.log.error({ err: error }, 'database not ready');
      return sendError(reply, 'not_ready');
    }
  });
};
