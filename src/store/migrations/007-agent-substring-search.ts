import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';
import { agentSearchGramRows, agentSearchTermRows, foldForSearch } from '../agent-search-terms.repo.js';

/**
 * Finding an agent among hundreds (issue 12, item 5):
 * - agents.name_folded / email_folded: the name and email folded for search (case, accents,
 *   ß = ss); agent_search_terms is rebuilt from them (word starts, and now the email too: the
 *   ranges of one- and two-character searches).
 * - agent_search_grams: each distinct 3-character gram of the folded name and email, for
 *   searches inside them, on a plain B-tree index in email order (the same on both dialects).
 * - indexes for the status filters: by status, and the agents whose password change is pending.
 * - agents.last_sign_in_at: set when a session starts; filled from the audit log's sign-ins.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const postgres = dialectOf(db) === 'postgres';
  const byteOrderText = postgres ? sql`text collate "C"` : sql`text`;

  await db.schema.alterTable('agents').addColumn('name_folded', 'text', (c) => c.notNull().defaultTo('')).execute();
  await db.schema.alterTable('agents').addColumn('email_folded', 'text', (c) => c.notNull().defaultTo('')).execute();
  await db.schema.alterTable('agents').addColumn('last_sign_in_at', 'text').execute();

  await db.schema
    .createTable('agent_search_grams')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('agent_id', 'text', (c) => c.notNull().references('agents.id'))
    .addColumn('gram', byteOrderText, (c) => c.notNull())
    .addColumn('email_normalized', byteOrderText, (c) => c.notNull())
    .execute();
  // Covering, in page order within a gram: a search walks one gram's rows in email order.
  await db.schema.createIndex('agent_search_grams_gram').on('agent_search_grams').columns(['account_id', 'gram', 'email_normalized', 'agent_id']).execute();
  await db.schema.createIndex('agent_search_grams_agent').on('agent_search_grams').column('agent_id').execute();

  await db.schema.createIndex('agents_account_status_email').on('agents').columns(['account_id', 'status', 'email_normalized', 'id']).execute();
  await sql`create index agents_password_change_pending on agents (account_id, email_normalized, id) where password_change_required = 1`.execute(db);

  // The agents that exist already, in batches: folded columns, new term rows, gram rows.
  await db.deleteFrom('agent_search_terms').execute();
  const batchSize = 500;
  for (let after = ''; ; ) {
    const agents = await db.selectFrom('agents').select(['id', 'account_id', 'email_normalized', 'name']).where('id', '>', after).orderBy('id').limit(batchSize).execute();
    const searchable = agents.map((a) => ({ accountId: a.account_id, agentId: a.id, emailNormalized: a.email_normalized, nameFolded: foldForSearch(a.name), emailFolded: foldForSearch(a.email_normalized) }));
    for (const a of searchable) await db.updateTable('agents').set({ name_folded: a.nameFolded, email_folded: a.emailFolded }).where('id', '=', a.agentId).execute();
    const terms = searchable.flatMap(agentSearchTermRows);
    for (let i = 0; i < terms.length; i += 1000) await db.insertInto('agent_search_terms').values(terms.slice(i, i + 1000)).execute();
    const grams = searchable.flatMap(agentSearchGramRows);
    for (let i = 0; i < grams.length; i += 1000) await db.insertInto('agent_search_grams').values(grams.slice(i, i + 1000)).execute();
    if (agents.length < batchSize) break;
    after = agents[agents.length - 1].id;
  }

  // Sign-ins before this migration: the audit log has each one (audit_target index per agent).
  await sql`update agents set last_sign_in_at = (
              select max(e.created_at) from audit_events e where e.target_agent_id = agents.id and e.type = 'login.succeeded')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index agents_password_change_pending`.execute(db);
  await db.schema.dropIndex('agents_account_status_email').execute();
  await db.schema.dropTable('agent_search_grams').execute();
  await db.schema.alterTable('agents').dropColumn('last_sign_in_at').execute();
  await db.schema.alterTable('agents').dropColumn('email_folded').execute();
  await db.schema.alterTable('agents').dropColumn('name_folded').execute();
}
