import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { readAuditLog } from '../../flows/audit-log.js';
import { sendFailure } from '../errors.js';
import { AuditEventSchema, CursorQuery, LimitQuery, auditEventJson, errorResponses } from '../schemas.js';

import { security } from '../schemas.js';

/** The audit log (needs view_audit_log). */
export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;
  app.get(
    '/audit-events',
    {
      schema: {
        tags: ['audit'],
        security,
        querystring: Type.Object({
          agentId: Type.Optional(Type.String({ maxLength: 100 })),
          type: Type.Optional(Type.String({ maxLength: 100 })),
          // an extension of API.md: events at or after `from`, and before `to` (ISO 8601 instants)
          from: Type.Optional(Type.String({ format: 'date-time', maxLength: 40 })),
          to: Type.Optional(Type.String({ format: 'date-time', maxLength: 40 })),
          limit: LimitQuery,
          cursor: CursorQuery,
        }),
        response: { 200: Type.Object({ events: Type.Array(AuditEventSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { agentId, type, limit, cursor, from, to } = request.query;
      const range = { ...(from ? { from: new Date(from) } : {}), ...(to ? { before: new Date(to) } : {}) };
      const result = await readAuditLog(deps, request.auth.agent, { agentId, type, ...range, limit: limit ? Number(limit) : 50, cursor });
      if (!result.ok) return sendFailure(reply, result);
      return { events: result.events.map(auditEventJson), nextCursor: result.nextCursor };
    },
  );
};
