import type { FastifyPluginAsync } from 'fastify';
import { outboxBacklog } from '../../store/outbox.repo.js';
import { sendError } from '../errors.js';
import { carriesMetricsToken } from '../plugins/metrics.js';

export const healthRoutes: FastifyPluginAsync = async (app) => {
  // In the OpenAPI document like every path of API.md: outside checks rely on these two.
  app.get('/healthz', { logLevel: 'warn', schema: { tags: ['health'] } }, async () => ({ status: 'ok' }));
  // Ready means the store answers. The outbox's backlog is detail, not readiness: with SMTP down
  // this instance still serves, and its mail waits. The detail is for the operator (the bearer of
  // METRICS_TOKEN, as for /metrics): to anyone else it would say how busy the help desk is.
  app.get('/readyz', { logLevel: 'warn', schema: { tags: ['health'] } }, async (request, reply) => {
    try {
      const { db, clock } = app.deskpass.deps;
      const backlog = await outboxBacklog(db, clock.now());
      if (!carriesMetricsToken(request, app.deskpass.config.metricsToken)) return { status: 'ok' };
      return {
        status: 'ok',
        outbox: {
          pending: backlog.reduce((sum, row) => sum + row.pending, 0),
          retrying: backlog.reduce((sum, row) => sum + row.retrying, 0),
          oldestPendingAgeSeconds: Math.round(Math.max(0, ...backlog.map((row) => row.oldestAgeSeconds))),
        },
      };
    } catch (error) {
      request.log.error({ err: error }, 'database not ready');
      return sendError(reply, 'not_ready');
    }
  });
};
