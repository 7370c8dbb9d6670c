import type { FastifyRequest } from 'fastify';

/** A parsed application/x-www-form-urlencoded body: repeated names become arrays. */
export type FormBody = Record<string, string | string[] | undefined>;

const MAX_FIELD_LENGTH = 4096;

export function formOf(request: FastifyRequest): FormBody {
  const body = request.body;
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as FormBody) : {};
}

/** A field as typed (passwords are never trimmed); '' when absent. `maxLength`: longer text is cut (a JSON field passes its own). */
export function field(body: FormBody, name: string, maxLength = MAX_FIELD_LENGTH): string {
  const value = body[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first.slice(0, maxLength) : '';
}

export function trimmedField(body: FormBody, name: string): string {
  return field(body, name).trim();
}

/** Every value of a repeated field (checkboxes). */
export function listField(body: FormBody, name: string): string[] {
  const value = body[name];
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return values.filter((v): v is string => typeof v === 'string');
}

export function checkbox(body: FormBody, name: string): boolean {
  const value = field(body, name);
  return value === 'on' || value === 'true' || value === '1';
}

/** A whole number typed in a form, or undefined when the field is empty or not a number. */
export function integerField(body: FormBody, name: string): number | undefined {
  const raw = trimmedField(body, name);
  if (raw === '') return undefined;
  return /^-?\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
}

/**
 * Where to go after signing in: only a path on this site. "//evil.example" and "/\evil.example"
 * are other sites to a browser, and anything with a scheme, a space, a control or non-ASCII character is refused.
 */
export function safeNext(next: unknown): string | null {
  if (typeof next !== 'string' || next.length > 512) return null;
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return null;
  // Printable ASCII only: a browser sends paths percent-encoded, and anything else cannot go
  // into a Location header (a non-Latin-1 character made the redirect throw after sign-in).
  if (!/^[\x21-\x7e]+$/.test(next) || next.includes('\\')) return null;
  if (next.startsWith('/api/') || next.startsWith('/login') || next.startsWith('/logout')) return null;
  return next;
}

/** A query-string parameter as one string, or undefined. */
export function queryParam(request: FastifyRequest, name: string, maxLength = 500): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first.length > 0 && first.length <= maxLength ? first : undefined;
}
