import type { Kysely } from 'kysely';

/**
 * Local time (issue 12, item 6):
 * - agents.time_zone: the IANA zone an agent chose in My Settings › Preferences; null means
 *   "the help desk's" (the account's zone lives in accounts.settings, JSON: no column).
 * - audit_events (account_id, created_at): the audit log's date range reads it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('time_zone', 'text').execute();
  await db.schema.createIndex('audit_account_created').on('audit_events').columns(['account_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('audit_account_created').execute();
  await db.schema.alterTable('agents').dropColumn('time_zone').execute();
}
