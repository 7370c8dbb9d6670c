/** Times are stored as fixed-width ISO strings (text order = time order). */
export function iso(at: Date): string {
  return at.toISOString();
}

export function dateOrNull(value: string | null): Date | null {
  return value === null ? null : new Date(value);
}

export function flag(value: boolean): number {
  return value ? 1 : 0;
}

/** Escapes LIKE wildcards so a search for "a_b" matches only that text. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Opaque cursors: base64url of a JSON array of the sort key of the last row served. */
export function encodeCursor(values: (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined, arity: number): (string | number)[] | null | 'invalid' {
  if (!cursor) return null;
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // No NUL: PostgreSQL text cannot hold one (a 500 otherwise).
    const plain = (v: unknown) => typeof v === 'number' || (typeof v === 'string' && !v.includes('\u0000'));
    if (!Array.isArray(values) || values.length !== arity || !values.every(plain)) {
      return 'invalid';
    }
    return values;
  } catch {
    return 'invalid';
  }
}

/** Freezes an object and everything it holds: what a cache hands to many requests, none may change. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
