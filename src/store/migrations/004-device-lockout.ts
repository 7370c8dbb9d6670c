import { sql, type Kysely } from 'kysely';

/**
 * Security review (issue 8):
 * - login_attempts is keyed by client too: '' counts failures from devices that never signed in
 *   to the address, a device id (from a signed device cookie) counts that device's own failures,
 *   `session:<id>` a session's wrong re-authentications. A stranger can then lock only the
 *   "unknown devices" door, never the owner's own browser (OWASP, device cookies).
 * - agents.password_set_by_agent_id: who chose the current password when it was not the agent
 *   (an administrator's set or one-time password). Such a password stops working when the
 *   agent's permissions grow.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('login_attempts_by_client')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('email_normalized', 'text', (c) => c.notNull())
    .addColumn('client', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('failed_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_failed_at', 'text')
    .addColumn('locked_until', 'text')
    .addPrimaryKeyConstraint('login_attempts_by_client_pk', ['account_id', 'email_normalized', 'client'])
    .execute();
  await sql`insert into login_attempts_by_client (account_id, email_normalized, client, failed_count, last_failed_at, locked_until)
            select account_id, email_normalized, '', failed_count, last_failed_at, locked_until from login_attempts`.execute(db);
  await db.schema.dropTable('login_attempts').execute();
  await db.schema.alterTable('login_attempts_by_client').renameTo('login_attempts').execute();

  await db.schema.alterTable('agents').addColumn('password_set_by_agent_id', 'text').execute();
  // Passwords an administrator set before this migration: the latest password event says who chose it.
  await sql`update agents set password_set_by_agent_id = (
              select case when e.type in ('password.set_by_admin', 'password.temporary_set_by_admin') then e.actor_agent_id else null end
              from audit_events e
              where e.target_agent_id = agents.id
                and e.type in ('password.set_by_admin', 'password.temporary_set_by_admin', 'password.changed', 'password.reset_completed')
              order by e.id desc limit 1)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').dropColumn('password_set_by_agent_id').execute();
  await sql`delete from login_attempts where client <> ''`.execute(db);
}
