import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropDatabase, freshDatabaseUrl } from './support/harness.js';
import { migrateToLatest, openDatabase, type Db } from '../src/store/db.js';
import { insertAgent, listAgents, renameFields, updateAgent } from '../src/store/agents.repo.js';
import { prefixUpperBound } from '../src/store/agent-search-terms.repo.js';
import type { AgentStatus } from '../src/domain/models.js';

// The agent search answers from indexes (migration 003): a selective prefix reads its candidates
// from agent_search_terms, a common one walks the list in email order. Both must give exactly the
// pages the plain rule gives: a prefix of the email or of any word of the name, in email order.

const ACCOUNT = 'acct-search';
const FIRST = ['Marsha', 'Mark', 'Ann', 'Zed', 'Mo', 'Omar', 'Maria'];
const LAST = ['Marsh', 'Smith', 'Ann Smith', 'Lopez', 'Moss'];

interface Seeded {
  id: string;
  email: string;
  name: string;
  status: AgentStatus;
}

/** The rule, on plain data: what every page must agree with. */
function expected(agents: Seeded[], search: string, status?: AgentStatus): string[] {
  const s = search.trim().toLowerCase();
  return agents
    .filter((a) => !status || a.status === status)
    .filter((a) => {
      const name = a.name.toLowerCase();
      return a.email.startsWith(s) || name.startsWith(s) || name.includes(` ${s}`);
    })
    .sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : a.id < b.id ? -1 : 1))
    .map((a) => a.email);
}

describe('agent search over thousands of agents', () => {
  let dir: string;
  let databaseUrl: string;
  let db: Db;
  const agents: Seeded[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'deskpass-search-'));
    databaseUrl = await freshDatabaseUrl(dir);
    db = openDatabase(databaseUrl);
    await migrateToLatest(db);
    const now = new Date();
    await db.insertInto('accounts').values({ id: ACCOUNT, name: 'Search Desk', slug: 'search-desk', plan: 'enterprise', settings: '{}', created_at: now.toISOString() }).execute();
    await db.insertInto('roles').values({ id: 'role-agent', account_id: ACCOUNT, name: 'Agent', permissions: '[]', built_in: 1, created_at: now.toISOString() }).execute();
    // 2,600 agents: "m" matches thousands (the walk), the others hundreds (the candidates); emails
    // start with a number for half of them, so name matches are spread over the list.
    for (let i = 0; i < 2600; i++) {
      const name = `${FIRST[i % FIRST.length]} ${LAST[(i * 3) % LAST.length]}`;
      const email = i % 2 === 0 ? `${String(i).padStart(4, '0')}@search.test` : `${name.split(' ')[0].toLowerCase()}.${i}@search.test`;
      agents.push({ id: `agent-${String(i).padStart(5, '0')}`, email, name, status: i % 5 === 0 ? 'deactivated' : 'active' });
    }
    await db.transaction().execute(async (trx) => {
      for (const a of agents) {
        await insertAgent(trx, { id: a.id, accountId: ACCOUNT, email: a.email, name: a.name, roleId: 'role-agent', isAccountAdministrator: false, status: a.status, passwordHash: null, now });
      }
    });
  });

  after(async () => {
    await db.destroy();
    await dropDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every page of a search, following the cursor. */
  async function allPages(search: string, status?: AgentStatus, limit = 50): Promise<string[]> {
    const emails: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 200; pages++) {
      const page = await listAgents(db, ACCOUNT, { search, status, limit, cursor });
      assert.notEqual(page, 'invalid_cursor');
      if (page === 'invalid_cursor') return emails;
      emails.push(...page.agents.map((a) => a.email));
      if (!page.nextCursor) return emails;
      cursor = page.nextCursor;
    }
    throw new Error('too many pages');
  }

  for (const search of ['m', 'mo', 'mar', 'MARSH', 'mark', 'zed', 'lopez', 'ann sm', 'smith', '00', '0012@', 'maria.', 'nobody', 'k']) {
    test(`"${search}" gives the rule's agents, in order, page after page`, async () => {
      assert.deepEqual(await allPages(search), expected(agents, search));
    });
  }

  test('the data takes both paths: "m" is a common prefix, "mar" a selective one', async () => {
    const count = async (prefix: string) =>
      Number((await db.selectFrom('agent_search_terms').select((eb) => eb.fn.countAll().as('n')).where('term', '>=', prefix).where('term', '<', prefixUpperBound(prefix)!).executeTakeFirstOrThrow()).n);
    assert.ok((await count('m')) >= 2000, 'DENSE_NAME_MATCHES in agents.repo.ts');
    assert.ok((await count('mar')) < 2000);
  });

  test('with a status filter too', async () => {
    assert.deepEqual(await allPages('m', 'active', 40), expected(agents, 'm', 'active'));
    assert.deepEqual(await allPages('mar', 'deactivated', 20), expected(agents, 'mar', 'deactivated'));
    assert.deepEqual(await allPages('zed', 'active', 20), expected(agents, 'zed', 'active'));
  });

  test('a renamed agent is found by the new name only', async () => {
    const target = agents.find((a) => a.name === 'Zed Lopez')!;
    await updateAgent(db, ACCOUNT, target.id, renameFields('Quincy Quartermaine'), new Date());
    target.name = 'Quincy Quartermaine';
    assert.deepEqual(await allPages('quart'), [target.email]);
    assert.deepEqual(await allPages('zed'), expected(agents, 'zed'));
  });

  test('prefixUpperBound is just past every string with the prefix', () => {
    assert.equal(prefixUpperBound('abc'), 'abd');
    assert.equal(prefixUpperBound('a\u{10FFFF}'), 'b');
    assert.equal(prefixUpperBound('\u{D7FF}'), '\u{E000}');
    assert.equal(prefixUpperBound('\u{10FFFF}'), null);
  });
});
