import { addMs, MS_PER_DAY, MS_PER_HOUR } from '../domain/clock.js';
import { findOnlyAccount } from '../store/accounts.repo.js';
import { sweepResetTokens } from '../store/reset-tokens.repo.js';
import { sweepCounters } from '../store/rate-limit-counters.repo.js';
import { sweepEndedSessionDoors } from '../store/login-attempts.repo.js';
import { sweepIdleSessions, sweepSessionEnds, sweepSessions } from '../store/sessions.repo.js';
import type { FlowDeps } from './deps.js';
import { sweepProviderRecords } from '../store/oidc-payloads.repo.js';
import { sweepTwoFactorChallenges } from '../store/two-factor.repo.js';

/** Dead links stay 7 days, so a late click says "expired" or "used" rather than "unknown". */
export const DEAD_LINK_RETENTION_MS = 7 * MS_PER_DAY;

/**
 * Deletes, in batches, links dead for more than 7 days and sessions past their absolute
 * lifetime or idle timeout, and the re-authentication lockout doors of ended sessions. Returns what it removed; safe to run on every instance at once.
 */
export async function sweepExpiredRecords(deps: Pick<FlowDeps, 'db' | 'clock'>, batchSize = 1000): Promise<{ links: number; sessions: number }> {
  const now = deps.clock.now();
  let links = 0;
  let sessions = 0;
  for (let swept = batchSize; swept === batchSize; links += swept) {
    swept = await sweepResetTokens(deps.db, addMs(now, -DEAD_LINK_RETENTION_MS), batchSize);
  }
  for (let swept = batchSize; swept === batchSize; sessions += swept) {
    swept = await deps.db.transaction().execute((trx) => sweepSessions(trx, now, batchSize));
  }
  for (let swept = batchSize; swept === batchSize; ) swept = await sweepCounters(deps.db, now, batchSize);
  const account = await findOnlyAccount(deps.db);
  if (account) {
    const idleSince = addMs(now, -account.settings.sessionIdleHours * MS_PER_HOUR);
    for (let swept = batchSize; swept === batchSize; sessions += swept) {
      swept = await deps.db.transaction().execute((trx) => sweepIdleSessions(trx, account.id, idleSince, now, batchSize));
    }
  }
  await sweepEndedSessionDoors(deps.db);
  // why a session ended is kept as long as a dead link: a browser back after a week is told nothing
  for (let swept = batchSize; swept === batchSize; ) swept = await sweepSessionEnds(deps.db, addMs(now, -DEAD_LINK_RETENTION_MS), batchSize);
  for (let swept = batchSize; swept === batchSize; ) swept = await sweepProviderRecords(deps.db, now, batchSize);
  await sweepTwoFactorChallenges(deps.db, now);
  return { links, sessions };
}
