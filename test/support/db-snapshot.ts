import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { TestApp } from './harness.js';
import { LOCK_NOTICE_REQUEST } from '../../src/flows/login.js';

/**
 * The stored state a refused request must leave alone: accounts and their settings, roles,
 * agents, password history, reset links, sessions, queued mail, the registered apps, and the
 * agents' second factors (authenticators, passkeys, recovery codes).
 *
 * Left out on purpose, because they legitimately change on some 4xx answers: `audit_events`
 * (failed sign-ins and re-authentications are audited), `login_attempts` (failure counters),
 * `rate_limit_counters`, a session's `last_seen_at` (touched by any authenticated request), the
 * outbox's delivery columns (the worker marks mail sent and erases bodies on its own time) and
 * the lock notice a failed sign-in queues when it locks an address.
 */
export async function snapshotState(t: TestApp): Promise<Record<string, unknown[]>> {
  const db = t.app.deskpass.deps.db;
  return {
    accounts: await db.selectFrom('accounts').selectAll().orderBy('id').execute(),
    roles: await db.selectFrom('roles').selectAll().orderBy('id').execute(),
    agents: await db.selectFrom('agents').selectAll().orderBy('id').execute(),
    password_history: await db.selectFrom('password_history').selectAll().orderBy('id').execute(),
    password_reset_tokens: await db.selectFrom('password_reset_tokens').selectAll().orderBy('id').execute(),
    sessions: await db
      .selectFrom('sessions')
      .select(['id', 'account_id', 'agent_id', 'token_hash', 'created_at', 'authenticated_at', 'expires_at', 'ip', 'user_agent'])
      .orderBy('id')
      .execute(),
    apps: await db.selectFrom('apps').selectAll().orderBy('id').execute(),
    two_factor_totp: await db.selectFrom('two_factor_totp').selectAll().orderBy('id').execute(),
    passkeys: await db.selectFrom('passkeys').selectAll().orderBy('id').execute(),
    recovery_codes: await db.selectFrom('recovery_codes').selectAll().orderBy('id').execute(),
    mail_outbox: await db
      .selectFrom('mail_outbox')
      .select(['id', 'account_id', 'recipient', 'template', 'created_at'])
      .where('template', '!=', LOCK_NOTICE_REQUEST)
      .orderBy('id')
      .execute(),
  };
}

/** Fails, naming the tables that differ, when `after` is not `before`. */
export function assertStateUnchanged(before: Record<string, unknown[]>, after: Record<string, unknown[]>, where: string): void {
  const changed = Object.keys(before).filter((table) => !isDeepStrictEqual(before[table], after[table]));
  if (changed.length === 0) return;
  for (const table of changed) assert.deepEqual(after[table], before[table], `${where}: table ${table} changed`);
}
