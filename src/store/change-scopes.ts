import { createHash } from 'node:crypto';
import type { CompiledQuery } from 'kysely';

/**
 * Scoped changes: a committed write that can change only some session holders says which, so that
 * caches forget those holders and keep the rest. A sign-in writes three holder rows (its lockout
 * reservation, its door's clear, its `last_sign_in_at`), and each of them emptied every instance's
 * whole cache of holders: under a sign-in storm every other agent's request read its holder from
 * the store again. A scope is 16 hex digits naming what such a write changed:
 *
 * - `agentScope(id)`: the agent's own row (the holders of that agent's sessions);
 * - `addressScope(account, email)`: an address's sign-in lock (login_attempts), which the holders
 *   of the agent with that address show.
 *
 * Only statements that say so are scoped (`withScopes`, set by compiledOnce's `scopes` option from
 * the same values the statement is run with); every other write, and a transaction with any
 * other holder write, still changes every holder (store-changes.ts). A statement whose scopes got
 * lost on the way is therefore a change of every holder, never a missed one; two names that share
 * 16 hex digits only forget more.
 */
const SCOPES = Symbol('deskpass change scopes');

/** the shape of a scope in a notice from another instance (anything else: every holder changed) */
export const SCOPE = /^[0-9a-f]{16}$/;

export function agentScope(agentId: string): string {
  return scopeOf('agent', agentId);
}

export function addressScope(accountId: string, emailNormalized: string): string {
  return scopeOf('address', accountId, emailNormalized);
}

function scopeOf(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}

/** `query` marked as a write that changes the holders of `scopes` only. */
export function withScopes<Q extends CompiledQuery>(query: Q, scopes: readonly string[]): Q {
  return Object.assign(query, { [SCOPES]: scopes });
}

/** The scopes a statement was marked with (withScopes), or null: it may change every holder. */
export function scopesOf(query: CompiledQuery): readonly string[] | null {
  const scopes = (query as { [SCOPES]?: readonly string[] })[SCOPES];
  return scopes && scopes.length > 0 && scopes.every((scope) => SCOPE.test(scope)) ? scopes : null;
}

/**
 * The scopes of the last `capacity` scoped changes, in the order they were seen, by sequence
 * number: a cache asks for those after the last one it applied, and drops everything when they
 * are no longer all here.
 */
export class ScopeLog {
  #sequence = 0;
  readonly #ring: (readonly string[])[];

  constructor(readonly capacity = 4096) {
    this.#ring = new Array<readonly string[]>(capacity);
  }

  get sequence(): number {
    return this.#sequence;
  }

  record(scopes: readonly string[]): void {
    this.#sequence += 1;
    this.#ring[this.#sequence % this.capacity] = scopes;
  }

  /** The scopes changed after `sequence` (each once), or null when some of them are no longer kept. */
  since(sequence: number): Set<string> | null {
    if (sequence > this.#sequence) return null;
    if (this.#sequence - sequence > this.capacity) return null;
    const scopes = new Set<string>();
    for (let s = sequence + 1; s <= this.#sequence; s += 1) for (const scope of this.#ring[s % this.capacity]!) scopes.add(scope);
    return scopes;
  }
}
