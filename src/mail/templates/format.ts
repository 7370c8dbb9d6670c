const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export interface TimeFormat {
  /** "14:05:09" instead of "14:05" (the audit log) */
  seconds?: boolean;
}

const formats = new Map<string, Intl.DateTimeFormat>();
const names = new Map<string, Intl.DateTimeFormat>();

function wallClock(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formats.set(timeZone, format);
  }
  return format;
}

function shortName(at: Date, timeZone: string, locale: 'en-GB' | 'en-US'): string {
  const key = `${locale} ${timeZone}`;
  let format = names.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: 'short' });
    names.set(key, format);
  }
  return format.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/**
 * How the zone is named after a time: its abbreviation where people know one (CET, CEST, BST,
 * EST, UTC), else the offset and the zone's name ("GMT+9 (Asia/Tokyo)"), never a bare offset.
 */
export function zoneLabel(at: Date, timeZone: string): string {
  if (timeZone === 'UTC') return 'UTC';
  for (const locale of ['en-GB', 'en-US'] as const) {
    const name = shortName(at, timeZone, locale);
    if (/^[A-Z]{2,5}$/.test(name)) return name;
  }
  return `${shortName(at, timeZone, 'en-GB')} (${timeZone})`;
}

/**
 * "27 November 2026, 15:05 CET": in the reader's zone (UTC when none is known), always with the
 * zone named, and unambiguous in every locale. The server's own zone never leaks in.
 */
export function formatTime(at: Date, timeZone = 'UTC', options: TimeFormat = {}): string {
  const parts: Record<string, string> = {};
  for (const part of wallClock(timeZone).formatToParts(at)) if (part.type !== 'literal') parts[part.type] = part.value;
  const clock = options.seconds ? `${parts.hour}:${parts.minute}:${parts.second}` : `${parts.hour}:${parts.minute}`;
  return `${Number(parts.day)} ${MONTHS[Number(parts.month) - 1]} ${parts.year}, ${clock} ${zoneLabel(at, timeZone)}`;
}

/** "1 hour", "48 hours". */
export function formatHours(hours: number): string {
  return hours === 1 ? '1 hour' : `${hours} hours`;
}
