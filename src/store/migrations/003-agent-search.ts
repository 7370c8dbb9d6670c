import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';

/**
 * Agent search by prefix on an index (issue 5: a page in a few milliseconds over 100,000
 * agents), where 001's LIKE '%…' filters scanned every agent of the account.
 */
/** The rule of this migration's time (word starts of the lower-cased name); 007 rebuilds the rows with folding. */
function agentSearchTermRows(agent: { accountId: string; agentId: string; emailNormalized: string; nameNormalized: string }) {
  const name = agent.nameNormalized;
  const starts = new Set<string>([name]);
  for (let i = name.indexOf(' '); i !== -1; i = name.indexOf(' ', i + 1)) {
    const rest = name.slice(i + 1);
    if (rest !== '' && !rest.startsWith(' ')) starts.add(rest);
  }
  return [...starts].map((term) => ({ account_id: agent.accountId, agent_id: agent.agentId, term, email_normalized: agent.emailNormalized }));
}

export async function up(db: Kysely<any>): Promise<void> {
  const postgres = dialectOf(db) === 'postgres';
  // Byte order for the searched and sorted columns on PostgreSQL, as SQLite's BINARY: a prefix
  // is then a plain range on the index, and the agent list's keyset order is the same on both.
  const byteOrderText = postgres ? sql`text collate "C"` : sql`text`;
  if (postgres) await sql`alter table agents alter column email_normalized type text collate "C"`.execute(db);

  await db.schema
    .createTable('agent_search_terms')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('agent_id', 'text', (c) => c.notNull().references('agents.id'))
    .addColumn('term', byteOrderText, (c) => c.notNull())
    .addColumn('email_normalized', byteOrderText, (c) => c.notNull())
    .execute();
  // Covering: a prefix search reads this index alone until it has a page of agent ids.
  await db.schema.createIndex('agent_search_terms_prefix').on('agent_search_terms').columns(['account_id', 'term', 'email_normalized', 'agent_id']).execute();
  await db.schema.createIndex('agent_search_terms_agent').on('agent_search_terms').column('agent_id').execute();

  // The agents that exist already, in batches.
  const batchSize = 1000;
  for (let after = ''; ; ) {
    const agents = await db.selectFrom('agents').select(['id', 'account_id', 'email_normalized', 'name_normalized']).where('id', '>', after).orderBy('id').limit(batchSize).execute();
    const rows = agents.flatMap((a) => agentSearchTermRows({ accountId: a.account_id, agentId: a.id, emailNormalized: a.email_normalized, nameNormalized: a.name_normalized }));
    for (let i = 0; i < rows.length; i += 500) await db.insertInto('agent_search_terms').values(rows.slice(i, i + 500)).execute();
    if (agents.length < batchSize) break;
    after = agents[agents.length - 1].id;
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('agent_search_terms').execute();
  if (dialectOf(db) === 'postgres') await sql`alter table agents alter column email_normalized type text collate "default"`.execute(db);
}
