import type { FastifyPluginAsync } from 'fastify';
import { readAuditLog } from '../../flows/audit-log.js';
import { findAuditSubject, type AuditSubject } from '../../flows/audit-subject.js';
import { queryParam } from './forms.js';
import { describeFailure } from './messages.js';
import { redirectWith, renderMessage, renderPage } from './render.js';
import { AUDIT_EVENT_LABELS, describeAuditDetails } from './audit-labels.js';
import { renderForbidden } from './errors.js';

const PAGE_SIZE = 50;

/** Manage › Audit log: newest first, filtered by agent (email) and event type, page by page. */
export const auditPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  app.get('/manage/audit', async (request, reply) => {
    const actor = request.portalAuth!.agent;
    const email = queryParam(request, 'agent', 320)?.trim() ?? '';
    const agentId = queryParam(request, 'agentId', 100);
    const type = queryParam(request, 'type', 100) ?? '';
    const cursor = queryParam(request, 'cursor');

    let subject: AuditSubject | undefined;
    let notice: string | null = null;
    if (agentId || email) {
      const found = await findAuditSubject(deps, actor, agentId ? { id: agentId } : { email });
      if (!found.ok) return renderForbidden(request, reply, 'Manage › Audit log', found);
      subject = found.subject;
      if (!subject) notice = `No agent has the email address ${email || 'given'}; showing no events.`;
    }
    const page = subject || !(agentId || email) ? await readAuditLog(deps, actor, { agentId: subject?.id, type: type || undefined, limit: PAGE_SIZE, cursor }) : { ok: true as const, events: [], nextCursor: null };
    if (!page.ok) {
      if (page.code === 'forbidden') return renderForbidden(request, reply, 'Manage › Audit log', page);
      return redirectWith(reply, '/manage/audit', 'error', 'That page of the log is no longer available. Here is the newest page.');
    }
    const events = page.events.map((event) => ({
      id: event.id,
      label: AUDIT_EVENT_LABELS[event.type] ?? event.type,
      type: event.type,
      actor: event.actor,
      target: event.target,
      targetEmail: event.targetEmail,
      method: event.method,
      ip: event.ip,
      details: describeAuditDetails(event.details),
      createdAt: event.createdAt,
    }));
    const filters = { ...(subject ? { agent: subject.email } : email ? { agent: email } : {}), ...(type ? { type } : {}) };
    const nextHref = page.nextCursor ? `/manage/audit?${new URLSearchParams({ ...filters, cursor: page.nextCursor })}` : null;
    return renderPage(
      request,
      reply,
      'audit',
      {
        events,
        agentEmail: subject?.email ?? email,
        subject: subject ?? null,
        type,
        types: Object.entries(AUDIT_EVENT_LABELS).map(([value, label]) => ({ value, label })),
        notice,
        filtered: Boolean(email || agentId || type),
        nextHref,
        firstHref: cursor ? `/manage/audit?${new URLSearchParams(filters)}` : null,
      },
      { title: 'Audit log', section: 'audit' },
    );
  });
};
