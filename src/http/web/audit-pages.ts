import type { FastifyPluginAsync } from 'fastify';
import { endOfLocalDay, parseLocalDate, startOfLocalDay } from '../../domain/time-zones.js';
import { readAuditLog } from '../../flows/audit-log.js';
import { findAuditSubject, type AuditSubject } from '../../flows/audit-subject.js';
import { queryParam } from './forms.js';
import { describeFailure } from './messages.js';
import { redirectWith, renderMessage, renderPage, viewerTimeZone } from './render.js';
import { AUDIT_EVENT_LABELS, describeAuditDetails } from './audit-labels.js';

const PAGE_SIZE = 50;

type DateCheck = { ok: true; at: Date | undefined } | { ok: false; message: string };

/** A "from"/"to" date typed in the viewer's zone: the UTC instant where that day begins (or the next one does). */
function readDate(typed: string, label: string, timeZone: string, edge: 'start' | 'end'): DateCheck {
  if (typed === '') return { ok: true, at: undefined };
  const date = parseLocalDate(typed);
  if (!date) return { ok: false, message: `${label}: "${typed.slice(0, 20)}" is not a date. Enter a date like 2026-12-03 (year-month-day).` };
  return { ok: true, at: edge === 'start' ? startOfLocalDay(date, timeZone) : endOfLocalDay(date, timeZone) };
}

/**
 * Manage › Audit log: newest first, filtered by agent (`agent` = an email, or an agent's id as the
 * agent page links it), event type and a date range in the viewer's zone (both days included),
 * page by page. Times to the second, in the viewer's zone.
 */
export const auditPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  app.get('/manage/audit', async (request, reply) => {
    const actor = request.portalAuth!.agent;
    const agentParam = queryParam(request, 'agent', 320)?.trim() ?? '';
    // `agent=<id>` (the agent page's link) or `agent=<email>` (the form); `agentId=` as before
    const email = agentParam.includes('@') ? agentParam : '';
    const agentId = queryParam(request, 'agentId', 100) ?? (agentParam && !email ? agentParam.slice(0, 100) : undefined);
    const type = queryParam(request, 'type', 100) ?? '';
    const cursor = queryParam(request, 'cursor');
    const fromTyped = queryParam(request, 'from', 40)?.trim() ?? '';
    const toTyped = queryParam(request, 'to', 40)?.trim() ?? '';
    const timeZone = viewerTimeZone(request);

    const from = readDate(fromTyped, 'From', timeZone, 'start');
    const to = readDate(toTyped, 'To', timeZone, 'end');
    const dateErrors = [from, to].flatMap((d) => (d.ok ? [] : [d.message]));
    const reversed = from.ok && to.ok && !!from.at && !!to.at && from.at >= to.at;
    if (reversed) dateErrors.push('"From" is after "To": choose a "From" date on or before the "To" date.');

    let subject: AuditSubject | undefined;
    let notice: string | null = null;
    if (agentId || email) {
      const found = await findAuditSubject(deps, actor, agentId ? { id: agentId } : { email });
      if (!found.ok) return renderMessage(request, reply, 403, 'Manage › Audit log', describeFailure(found));
      subject = found.subject;
      if (!subject) notice = email ? `No agent has the email address ${email}; showing no events.` : 'No agent of this help desk has that id; showing no events.';
    }
    const range = { from: from.ok ? from.at : undefined, before: to.ok ? to.at : undefined };
    const showNothing = dateErrors.length > 0 || (!subject && Boolean(agentId || email));
    const page = showNothing
      ? { ok: true as const, events: [], nextCursor: null }
      : await readAuditLog(deps, actor, { agentId: subject?.id, type: type || undefined, ...range, limit: PAGE_SIZE, cursor });
    if (!page.ok) {
      if (page.code === 'forbidden') return renderMessage(request, reply, 403, 'Manage › Audit log', describeFailure(page));
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
    const dates = { ...(fromTyped ? { from: fromTyped } : {}), ...(toTyped ? { to: toTyped } : {}) };
    const others = { ...(type ? { type } : {}), ...dates };
    const filters = { ...(subject ? { agent: subject.id } : email ? { agent: email } : {}), ...others };
    const nextHref = page.nextCursor ? `/manage/audit?${new URLSearchParams({ ...filters, cursor: page.nextCursor })}` : null;
    const query = (params: Record<string, string>) => `/manage/audit${Object.keys(params).length ? `?${new URLSearchParams(params)}` : ''}`;
    return renderPage(
      request,
      reply,
      'audit',
      {
        events,
        agentEmail: subject?.email ?? email,
        subject: subject ?? null,
        type,
        from: fromTyped,
        to: toTyped,
        dateError: dateErrors.length > 0 ? dateErrors.join(' ') : null,
        fromInvalid: !from.ok || reversed,
        toInvalid: !to.ok || reversed,
        types: Object.entries(AUDIT_EVENT_LABELS).map(([value, label]) => ({ value, label })),
        notice,
        filtered: Boolean(email || agentId || type || fromTyped || toTyped),
        nextHref,
        firstHref: cursor ? query(filters) : null,
        showAllHref: query(others),
      },
      { title: 'Audit log', section: 'audit', status: dateErrors.length > 0 ? 400 : 200 },
    );
  });
};
