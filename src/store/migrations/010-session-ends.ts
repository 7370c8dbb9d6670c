import type { Kysely } from 'kysely';

/**
 * Issue 12 (people are told why they were signed out): a session row is deleted when it ends,
 * so the reason is kept beside it, keyed by the session token's SHA-256 (only a browser that
 * still holds that token can ask), and swept after 7 days like dead links.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('session_ends')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('session_ends_ended_at').on('session_ends').column('ended_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('session_ends').execute();
}
