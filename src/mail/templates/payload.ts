import { formatTime } from './format.js';
import { describeClient } from '../describe-client.js';

/** A payload that cannot become an email: unknown template, missing or malformed field, or a secret. */
export class MailRenderError extends Error {
  override name = 'MailRenderError';
}

// The outbox stores payloads in clear until sent: a field that looks like a secret is a bug upstream.
const SECRET_LOOKING_FIELD = /password|passwd|secret|hash|^(raw)?token$/i;

// Payload text goes into single-line spots (greetings, subjects); a newline in a name must not
// be able to start a paragraph of its own.
const LINE_BREAKS_AND_CONTROLS = /[\u0000-\u001f\u007f\u2028\u2029]+/g;
const MAX_FIELD_CHARS = 320;

/**
 * Reads one template's payload field by field. Error messages name the field, never its value:
 * they end up in logs and in the outbox's last_error.
 */
export class PayloadReader {
  constructor(
    private readonly template: string,
    private readonly payload: Record<string, unknown>,
    /** the recipient's zone: every time in the email is shown in it */
    private readonly timeZone = 'UTC',
  ) {
    for (const key of Object.keys(payload)) {
      if (SECRET_LOOKING_FIELD.test(key)) this.fail(`refuses secret-looking field "${key}"`);
    }
  }

  /** A required, non-empty string. */
  text(field: string): string {
    const value = this.payload[field];
    if (typeof value !== 'string') this.fail(`field "${field}" is missing or not a string`);
    const line = oneLine(value);
    if (line === '') this.fail(`field "${field}" is empty`);
    return line;
  }

  /** A string or null; an absent field counts as null. */
  optionalText(field: string): string | null {
    const value = this.payload[field];
    if (value === null || value === undefined) return null;
    if (typeof value !== 'string') this.fail(`field "${field}" is not a string or null`);
    const line = oneLine(value);
    return line === '' ? null : line;
  }

  /** A User-Agent, as a short description from a fixed vocabulary ("Firefox on Linux"): never the client's own text. */
  client(field: string): string | null {
    return describeClient(this.optionalText(field));
  }

  /**
   * Who did it, as the agent would say it: "Sam Supervisor (Supervisor)" from a name field and a
   * role-name field written when the mail was queued (a rename later does not rewrite history).
   * Null without a name: the caller words the operator or a fallback. A row queued before roles
   * were recorded gives the name alone. Both are agent-chosen text, so each "." and ":" is
   * followed by a zero-width space: "https://evil.example" in a name reads the same but is no
   * link that a mail client would make clickable (HTML escaping is the engine's job).
   */
  actor(nameField: string, roleField: string): string | null {
    const name = this.optionalText(nameField);
    if (!name) return null;
    const role = this.optionalText(roleField);
    return unlinkable(role ? `${name} (${role})` : name);
  }

  /** An ISO time, returned formatted for people in the recipient's zone ("27 November 2026, 15:05 CET"). */
  time(field: string): string {
    const value = this.payload[field];
    const at = typeof value === 'string' ? new Date(value) : null;
    if (!at || Number.isNaN(at.getTime())) this.fail(`field "${field}" is missing or not an ISO time`);
    return formatTime(at, this.timeZone);
  }

  oneOf<T extends string>(field: string, values: readonly T[]): T {
    const value = this.payload[field];
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      this.fail(`field "${field}" must be one of ${values.join(', ')}`);
    }
    return value as T;
  }

  /** A whole number of hours, 1 or more (a number, or a string of digits). */
  hours(field: string): number {
    const value = this.payload[field];
    const hours = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof hours !== 'number' || !Number.isInteger(hours) || hours < 1) this.fail(`field "${field}" must be a whole number of hours`);
    return hours;
  }

  /** A whole number 0 or more, or null (absent counts as null). */
  optionalCount(field: string): number | null {
    const value = this.payload[field];
    if (value === null || value === undefined) return null;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) this.fail(`field "${field}" must be a whole number or null`);
    return value;
  }

  /** true or false (absent counts as false). */
  flag(field: string): boolean {
    const value = this.payload[field];
    if (value === undefined) return false;
    if (typeof value !== 'boolean') this.fail(`field "${field}" must be true or false`);
    return value;
  }

  /** An absolute http(s) URL. */
  url(field: string): string {
    const value = this.text(field);
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      this.fail(`field "${field}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') this.fail(`field "${field}" must be an http(s) URL`);
    return url.href;
  }

  private fail(problem: string): never {
    throw new MailRenderError(`mail template ${this.template}: ${problem}`);
  }
}

// A zero-width space after each "." and ":" breaks the scheme and the domain a linkifier looks for.
function unlinkable(text: string): string {
  return text.replace(/[.:]/g, '$&\u200b');
}

function oneLine(value: string): string {
  return value.replace(LINE_BREAKS_AND_CONTROLS, ' ').trim().slice(0, MAX_FIELD_CHARS);
}
