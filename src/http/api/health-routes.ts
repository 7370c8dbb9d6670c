import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import { sendError } from '../errors.js';

export const healthRoutes: FastifyPluginAsync = async (app) => {
  // In the OpenAPI document like every path of API.md: outside checks rely on these two.
  app.get('/healthz', { logLevel: 'warn', schema: { tags: ['health'] } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'warn', schema: { tags: ['health'] } }, async (request, reply) => {
    try {
      await sql`select 1`.execute(app.deskpass.deps.db);
      return { status: 'ok' };
    } catch (error) {
      request.log.error({ err: error }, 'database not ready');
      return sendError(reply, 'not_ready');
    }
  });
};
