import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticated } from '../../flows/sessions.js';
import { mustEnrollTwoFactor } from '../../flows/session-gate.js';
import { timeZoneFor } from '../../domain/account-settings.js';
import { formatAgo, formatHours, formatTime, type TimeFormat } from './format.js';
import { manageEntriesFor, type NavItem } from './nav.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** the signed-in agent on the portal's authenticated pages (set by the page-auth hook) */
    portalAuth: Authenticated | null;
  }
}

export interface PageOptions {
  title: string;
  status?: number;
  /** the header entry to mark as current */
  section?: 'your-apps' | 'my-settings' | 'agents' | 'roles' | 'audit' | 'account' | 'apps';
  /** "narrow": a single centred card (sign-in, reset); "wide": the signed-in layout */
  shape?: 'narrow' | 'wide';
  /** the help desk name, for pages without a signed-in agent */
  deskName?: string | null;
  /** the zone times are shown in on a page without a signed-in agent (the link's agent's, the help desk's); UTC if unset */
  timeZone?: string;
}

/** What the layout needs on every page: header, CSRF token for its forms, the flash message. */
interface LayoutContext {
  title: string;
  shape: 'narrow' | 'wide';
  section: string | null;
  deskName: string | null;
  me: { name: string; email: string } | null;
  manage: NavItem[];
  csrf: string;
  flash: FastifyRequest['flash'];
  passwordChangeRequired: boolean;
  fmt: PageFormat;
}

/**
 * How views write times, in the viewer's zone (their own, else the help desk's; UTC signed out):
 * `time(at)` "3 December 2026, 14:05 CET", `time(at, { seconds: true })`, `iso(at)` for
 * `<time datetime>` (always UTC), `zone` the IANA name.
 */
export interface PageFormat {
  time: (at: Date, options?: TimeFormat) => string;
  iso: (at: Date) => string;
  zone: string;
  hours: typeof formatHours;
  ago: (at: Date) => string;
}

/** The zone a page shows times in for this request. */
export function viewerTimeZone(request: FastifyRequest, fallback = 'UTC'): string {
  const auth = request.portalAuth;
  return auth ? timeZoneFor(auth.account.settings, auth.agent) : fallback;
}

/** The page formatter for a zone (also for flash messages written in a handler). */
export function pageFormat(timeZone: string, now: Date): PageFormat {
  return {
    time: (at, options) => formatTime(at, timeZone, options),
    iso: (at) => at.toISOString(),
    zone: timeZone,
    hours: formatHours,
    ago: (at: Date) => formatAgo(at, now),
  };
}

/**
 * What a CSRF token is bound to: the session on signed-in pages, so a token taken from one
 * session (or from a signed-out page) is refused in another.
 */
export function csrfBinding(request: FastifyRequest): string {
  return request.portalAuth ? `session:${request.portalAuth.session.id}` : 'signed-out';
}

export function csrfToken(request: FastifyRequest, reply: FastifyReply): string {
  return reply.generateCsrf({ userInfo: csrfBinding(request) });
}

function layoutContext(request: FastifyRequest, reply: FastifyReply, options: PageOptions): LayoutContext {
  const auth = request.portalAuth;
  const now = request.server.deskpass.deps.clock.now();
  const gated = !!auth && (auth.agent.passwordChangeRequired || mustEnrollTwoFactor(auth.account, auth.agent));
  return {
    title: options.title,
    shape: options.shape ?? (auth ? 'wide' : 'narrow'),
    section: options.section ?? null,
    deskName: auth?.account.name ?? options.deskName ?? null,
    me: auth ? { name: auth.agent.name, email: auth.agent.email } : null,
    manage: auth && !gated ? manageEntriesFor(auth.agent) : [],
    csrf: csrfToken(request, reply),
    flash: request.flash,
    // the required change and the enrolment of a second factor come before anything else: no menu
    passwordChangeRequired: gated,
    fmt: pageFormat(viewerTimeZone(request, options.timeZone), now),
  };
}

/** Renders a page into the layout: `view` is a file under views/ without its extension. */
export function renderPage(request: FastifyRequest, reply: FastifyReply, view: string, data: Record<string, unknown>, options: PageOptions): FastifyReply {
  return reply.code(options.status ?? 200).view(view, { ...layoutContext(request, reply, options), ...data });
}

/** A page that only says something went wrong (404, 403, a form that expired). */
export function renderMessage(request: FastifyRequest, reply: FastifyReply, status: number, title: string, message: string, link?: { href: string; label: string }): FastifyReply {
  return renderPage(request, reply, 'message', { message, link: link ?? null }, { title, status });
}

/** Post/Redirect/Get: a 303 to a page of this site, with a message for it. */
export function redirectWith(reply: FastifyReply, to: string, kind: 'success' | 'error' | 'info', text: string): FastifyReply {
  // A message for a section (…#password) is shown in that section, where the browser lands.
  const hash = to.indexOf('#');
  return reply.setFlash(kind, text, hash >= 0 ? to.slice(hash + 1) : undefined).redirect(to, 303);
}

/**
 * After a form on the way to an app (sign-in, the required change, "confirm it is you"): a page
 * that moves on by itself, instead of a redirect. A browser applies the submitting page's CSP
 * `form-action 'self'` to every redirect that follows a form, and the chain ends at the app's
 * own address; a navigation started by this page is not a form submission.
 */
export function continueTo(reply: FastifyReply, to: string, appName: string): FastifyReply {
  return reply.code(200).view('continue', { to, appName });
}

/** Is this a step of an app's sign-in (the provider's interaction pages)? */
export function isAppSignInStep(path: string | null): path is string {
  return path !== null && path.startsWith('/interaction/');
}
