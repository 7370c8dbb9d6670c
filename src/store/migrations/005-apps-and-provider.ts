import type { Kysely } from 'kysely';

/**
 * Deskpass as an OpenID Connect provider (issue 10):
 * - apps: the help desks that sign agents in through Deskpass (OIDC clients). A confidential
 *   app's secret is stored as its SHA-256 only.
 * - oidc_payloads: every model oidc-provider persists (codes, tokens, grants, interactions,
 *   provider sessions, replay records), one row per (model, id), with the indexes its adapter
 *   contract needs (grant id for revokeByGrantId, uid for sessions) and an expiry the sweep uses;
 *   a provider Session row names the Deskpass session it carries (deskpass_session_id).
 * - app_sign_ins: which app signed in through which Deskpass session, and under which grant, so
 *   that the end of a session logs the agent out of those apps and revokes what they were given.
 * - signing_keys: the provider's signing keys (private JWKs encrypted under SECRET_KEY), shared by
 *   every instance; the newest signs, retired ones stay published until what they signed expires.
 * The built-in Administrator role gains the new permission manage_apps.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('apps')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('client_id', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text')
    .addColumn('redirect_uris', 'text', (c) => c.notNull())
    .addColumn('post_logout_redirect_uris', 'text', (c) => c.notNull())
    .addColumn('backchannel_logout_uri', 'text')
    .addColumn('launch_url', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('apps_account_idx').on('apps').columns(['account_id', 'created_at']).execute();

  await db.schema
    .createTable('oidc_payloads')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('grant_id', 'text')
    .addColumn('uid', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('consumed_at', 'text')
    .addColumn('deskpass_session_id', 'text')
    .addPrimaryKeyConstraint('oidc_payloads_pk', ['model', 'id'])
    .execute();
  await db.schema.createIndex('oidc_payloads_grant_idx').on('oidc_payloads').column('grant_id').execute();
  await db.schema.createIndex('oidc_payloads_uid_idx').on('oidc_payloads').columns(['model', 'uid']).execute();
  await db.schema.createIndex('oidc_payloads_session_idx').on('oidc_payloads').column('deskpass_session_id').execute();
  await db.schema.createIndex('oidc_payloads_expiry_idx').on('oidc_payloads').column('expires_at').execute();

  await db.schema
    .createTable('app_sign_ins')
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('grant_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('app_sign_ins_pk', ['session_id', 'app_id'])
    .execute();
  await db.schema.createIndex('app_sign_ins_app_idx').on('app_sign_ins').column('app_id').execute();
  await db.schema.createIndex('app_sign_ins_agent_idx').on('app_sign_ins').column('agent_id').execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('encrypted_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('retired_at', 'text')
    .execute();

  const admins = await db.selectFrom('roles').select(['id', 'permissions']).where('built_in', '=', 1).where('name', '=', 'Administrator').execute();
  for (const role of admins) {
    const permissions = JSON.parse(role.permissions) as string[];
    if (!permissions.includes('manage_apps')) {
      await db.updateTable('roles').set({ permissions: JSON.stringify([...permissions, 'manage_apps']) }).where('id', '=', role.id).execute();
    }
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['signing_keys', 'app_sign_ins', 'oidc_payloads', 'apps']) await db.schema.dropTable(table).execute();
}
