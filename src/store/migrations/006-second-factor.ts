import type { Kysely } from 'kysely';

/**
 * The second factor (issue 11):
 * - agents.two_factor_enabled: the agent has a confirmed authenticator or a passkey (kept by the
 *   flows in the transaction that adds or removes the last factor; the agents list filters on it).
 * - two_factor_totp: an agent's authenticator app: the RFC 6238 secret sealed under SECRET_KEY,
 *   confirmed_at null while enrolment waits for the first code (only the session that started it
 *   sees it and can confirm it: session_id), and the last time step accepted (a code of that step
 *   or an earlier one is a replay).
 * - passkeys: WebAuthn credentials (public key, signature counter, transports), named by the agent.
 * - recovery_codes: ten per agent, each only as a keyed hash, used_at once spent.
 * - two_factor_challenges: the step between a right password and the session; only a keyed hash
 *   of the challenge handed out, with the lockout door the password came through.
 * - webauthn_challenges: the challenges of passkey ceremonies (keyed hash), consumed once.
 * - sessions.amr: how the session was authenticated (RFC 8176 values, JSON; null: the password).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('two_factor_enabled', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('agents_two_factor_idx').on('agents').columns(['account_id', 'two_factor_enabled', 'email_normalized']).execute();
  await db.schema.alterTable('sessions').addColumn('amr', 'text').execute();

  await db.schema
    .createTable('two_factor_totp')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('sealed_secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('confirmed_at', 'text')
    .addColumn('last_used_step', 'bigint')
    .addColumn('session_id', 'text')
    .execute();
  await db.schema.createIndex('two_factor_totp_agent_idx').on('two_factor_totp').column('agent_id').execute();

  await db.schema
    .createTable('passkeys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('credential_id', 'text', (c) => c.notNull().unique())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('counter', 'bigint', (c) => c.notNull())
    .addColumn('transports', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .execute();
  await db.schema.createIndex('passkeys_agent_idx').on('passkeys').column('agent_id').execute();

  await db.schema
    .createTable('recovery_codes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute();
  await db.schema.createIndex('recovery_codes_agent_idx').on('recovery_codes').columns(['agent_id', 'code_hash']).execute();

  await db.schema
    .createTable('two_factor_challenges')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('door_client', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text')
    .addColumn('credential_fingerprint', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute();
  await db.schema.createIndex('two_factor_challenges_expiry_idx').on('two_factor_challenges').column('expires_at').execute();

  await db.schema
    .createTable('webauthn_challenges')
    .addColumn('challenge_hash', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text')
    .addColumn('session_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webauthn_challenges_expiry_idx').on('webauthn_challenges').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['webauthn_challenges', 'two_factor_challenges', 'recovery_codes', 'passkeys', 'two_factor_totp']) await db.schema.dropTable(table).execute();
  await db.schema.dropIndex('agents_two_factor_idx').execute();
  await db.schema.alterTable('sessions').dropColumn('amr').execute();
  await db.schema.alterTable('agents').dropColumn('two_factor_enabled').execute();
}
