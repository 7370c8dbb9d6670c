import type { FastifyRequest } from 'fastify';
import { timeZoneFor } from '../../domain/account-settings.js';
import { formatHours, formatTime, type TimeFormat } from '../../mail/templates/format.js';

export { formatHours, formatTime, type TimeFormat };

/** A time for a message written by a handler (a flash), in the signed-in viewer's zone. */
export function formatTimeFor(request: FastifyRequest, at: Date): string {
  const auth = request.portalAuth;
  return formatTime(at, auth ? timeZoneFor(auth.account.settings, auth.agent) : 'UTC');
}

/** "just now", "5 minutes ago", "3 hours ago", "2 days ago": for session lists. */
export function formatAgo(at: Date, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
  if (seconds < 60) return 'just now';
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return minutes === 1 ? '1 minute ago' : `${minutes} minutes ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return hours === 1 ? '1 hour ago' : `${hours} hours ago`;
  const days = Math.floor(hours / 24);
  return `${days} days ago`;
}

/** A short, readable browser name from a User-Agent string ("Chrome on Linux"). */
export function describeUserAgent(userAgent: string | null): string {
  if (!userAgent) return 'Unknown device';
  const browser = /Edg\//.test(userAgent)
    ? 'Edge'
    : /Firefox\//.test(userAgent)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(userAgent)
        ? 'Chrome'
        : /Safari\//.test(userAgent)
          ? 'Safari'
          : /curl\//.test(userAgent)
            ? 'curl'
            : 'Browser';
  const os = /Windows/.test(userAgent)
    ? 'Windows'
    : /iPhone|iPad/.test(userAgent)
      ? 'iOS'
      : /Android/.test(userAgent)
        ? 'Android'
        : /Mac OS X/.test(userAgent)
          ? 'macOS'
          : /Linux/.test(userAgent)
            ? 'Linux'
            : '';
  return os ? `${browser} on ${os}` : browser;
}
