/**
 * Time zones (IANA names such as "Europe/Berlin"): which ones exist, grouped for a select, and
 * the UTC instants where a local calendar day begins. What exists is what this Node.js's ICU
 * knows (Intl.supportedValuesOf), so a zone the server cannot format is never stored.
 */

export const DEFAULT_TIME_ZONE = 'UTC';

let known: Set<string> | null = null;

function knownZones(): Set<string> {
  known ??= new Set(['UTC', ...Intl.supportedValuesOf('timeZone')]);
  return known;
}

/**
 * The stored spelling of a zone the server knows, or null. Case and ICU's aliases are forgiven
 * ("europe/berlin", "Asia/Kolkata" for ICU's "Asia/Calcutta"): the answer is always one of the
 * names `timeZoneGroups` offers, so a select shows it as chosen.
 */
export function normalizeTimeZone(input: unknown): string | null {
  if (typeof input !== 'string') return null;
  const name = input.trim();
  if (name === '' || name.length > 64 || !/^[A-Za-z0-9_+\-/]+$/.test(name)) return null;
  if (knownZones().has(name)) return name;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
  if (resolved === 'Etc/UTC' || resolved === 'Etc/GMT') return 'UTC';
  return knownZones().has(resolved) ? resolved : null;
}

export interface TimeZoneGroup {
  region: string;
  zones: { value: string; label: string }[];
}

let groups: { hour: number; groups: TimeZoneGroup[] } | null = null;

/** "UTC+01:00", "UTC−03:30" style, for a select's labels. */
function offsetLabel(offsetMs: number): string {
  const minutes = Math.round(Math.abs(offsetMs) / 60_000);
  const sign = offsetMs < 0 ? '-' : '+';
  return `UTC${sign}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/**
 * Every known zone under its region, UTC first on its own; for a select. Each label is the whole
 * name with its offset now ("Europe/Berlin (UTC+01:00)"), so a closed select still reads well.
 */
export function timeZoneGroups(now: Date = new Date()): TimeZoneGroup[] {
  const hour = Math.floor(now.getTime() / 3_600_000);
  if (groups && groups.hour === hour) return groups.groups;
  const byRegion = new Map<string, { value: string; label: string }[]>();
  for (const zone of [...knownZones()].sort()) {
    if (zone === 'UTC') continue;
    const slash = zone.indexOf('/');
    // Etc/GMT+5 and the like: offsets with inverted signs that read as a trap; UTC covers their use
    if (slash < 0 || zone.startsWith('Etc/')) continue;
    const region = zone.slice(0, slash);
    const list = byRegion.get(region) ?? [];
    list.push({ value: zone, label: `${zone.replace(/_/g, ' ')} (${offsetLabel(zoneOffsetMs(now, zone))})` });
    byRegion.set(region, list);
  }
  const built = [{ region: 'Universal', zones: [{ value: 'UTC', label: 'UTC (Coordinated Universal Time)' }] }, ...[...byRegion].map(([region, zones]) => ({ region, zones }))];
  groups = { hour, groups: built };
  return built;
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** Milliseconds the zone's wall clock is ahead of UTC at this instant (+3,600,000 for CET). */
export function zoneOffsetMs(at: Date, timeZone: string): number {
  let format = offsetFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    offsetFormats.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(at)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wall - Math.floor(at.getTime() / 1000) * 1000;
}

/** A calendar date typed as YYYY-MM-DD (what `<input type="date">` sends), or null. */
export function parseLocalDate(input: string): { year: number; month: number; day: number } | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(input.trim());
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const check = new Date(Date.UTC(year, month - 1, day));
  if (year < 1970 || year > 9999 || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
  return { year, month, day };
}

/**
 * The UTC instant at which this local day begins in the zone (its first second that exists:
 * where a DST jump skips midnight, the first wall-clock time after it).
 */
export function startOfLocalDay(date: { year: number; month: number; day: number }, timeZone: string): Date {
  const wallMidnight = Date.UTC(date.year, date.month - 1, date.day);
  // two passes: the offset at the guess, then at the instant that guess gives
  let at = wallMidnight - zoneOffsetMs(new Date(wallMidnight), timeZone);
  at = wallMidnight - zoneOffsetMs(new Date(at), timeZone);
  return new Date(at);
}

/** The UTC instant where the next local day begins: the exclusive end of an inclusive "to" day. */
export function endOfLocalDay(date: { year: number; month: number; day: number }, timeZone: string): Date {
  const next = new Date(Date.UTC(date.year, date.month - 1, date.day + 1));
  return startOfLocalDay({ year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() }, timeZone);
}

/** The local calendar date of an instant in a zone, as YYYY-MM-DD. */
export function localDateOf(at: Date, timeZone: string): string {
  return new Date(at.getTime() + zoneOffsetMs(at, timeZone)).toISOString().slice(0, 10);
}
