import { sql } from 'kysely';
import { parseSettings } from '../domain/account-settings.js';
import { normalizeEmail } from '../domain/models.js';
import type { Executor } from './db.js';

/**
 * The zone an email to this address shows its times in: the recipient agent's own, else the
 * help desk's, else UTC (an address that is no agent's, an account gone). Read when the mail is
 * rendered, so mail queued before a zone was chosen follows the choice.
 */
export async function timeZoneForRecipient(db: Executor, accountId: string, recipient: string): Promise<string> {
  const row = await db
    .selectFrom('accounts')
    .leftJoin('agents', (join) => join.onRef('agents.account_id', '=', 'accounts.id').on(sql<boolean>`agents.email_normalized = ${normalizeEmail(recipient)}`))
    .select(['accounts.settings', 'agents.time_zone'])
    .where('accounts.id', '=', accountId)
    .executeTakeFirst();
  if (!row) return 'UTC';
  return row.time_zone ?? parseSettings(row.settings).timeZone;
}
