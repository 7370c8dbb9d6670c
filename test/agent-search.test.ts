import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropDatabase, freshDatabaseUrl } from './support/harness.js';
import { migrateToLatest, openDatabase, type Db } from '../src/store/db.js';
import { insertAgent, listAgents, renameFields, updateAgent, type AgentListQuery } from '../src/store/agents.repo.js';
import { foldForSearch, prefixUpperBound } from '../src/store/agent-search-terms.repo.js';
import type { AgentStatus } from '../src/domain/models.js';
import { OWNER, TestApp } from './support/harness.js';

// The agent search answers from indexes: three characters or more match inside the folded name
// or email (migration 007's grams: the rarest gram's rows in email order, each verified), one or
// two a word start or the email's start (migration 003's ranges, folded since 007). Every page
// must be exactly what the plain rule gives, in email order, both ways.

const ACCOUNT = 'acct-search';
const FIRST = ['Marsha', 'Mark', 'Ann', 'Zed', 'Mo', 'Omar', 'Maria', 'José', 'Jürgen'];
const LAST = ['Marsh', 'Smith', 'Ann Smith', 'Lopez', 'Moss', 'Müller', 'Straße', 'Øvergård'];

interface Seeded {
  id: string;
  email: string;
  name: string;
  status: AgentStatus;
  pending: boolean;
  locked: boolean;
  invitation: 'live' | 'expired' | null;
  twoFactor: boolean;
}

/** The rule, on plain data: what every page must agree with. */
function expected(agents: Seeded[], search: string, keep: (a: Seeded) => boolean = () => true): string[] {
  const s = foldForSearch(search);
  return agents
    .filter(keep)
    .filter((a) => {
      const name = foldForSearch(a.name);
      const email = foldForSearch(a.email);
      if (s === '') return true;
      if ([...s].length >= 3) return name.includes(s) || email.includes(s);
      return email.startsWith(s) || name.startsWith(s) || name.includes(` ${s}`);
    })
    .sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : a.id < b.id ? -1 : 1))
    .map((a) => a.email);
}

describe('agent search over thousands of agents', () => {
  let dir: string;
  let databaseUrl: string;
  let db: Db;
  const agents: Seeded[] = [];
  const now = new Date('2026-06-01T12:00:00.000Z');
  const hours = (n: number) => new Date(now.getTime() + n * 3_600_000).toISOString();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'deskpass-search-'));
    databaseUrl = await freshDatabaseUrl(dir);
    db = openDatabase(databaseUrl);
    await migrateToLatest(db);
    await db.insertInto('accounts').values({ id: ACCOUNT, name: 'Search Desk', slug: 'search-desk', plan: 'enterprise', settings: '{}', created_at: now.toISOString() }).execute();
    await db.insertInto('roles').values({ id: 'role-agent', account_id: ACCOUNT, name: 'Agent', permissions: '[]', built_in: 1, created_at: now.toISOString() }).execute();
    // 2,600 agents: "m" matches thousands (the walk), the others hundreds (the candidates); emails
    // start with a number for half of them, so name matches are spread over the list. Some are
    // locked, some must change their password, some are invited with a live or a dead link.
    for (let i = 0; i < 2600; i++) {
      const name = `${FIRST[i % FIRST.length]} ${LAST[(i * 3) % LAST.length]}`;
      const email = i % 2 === 0 ? `${String(i).padStart(4, '0')}@search.test` : `${name.split(' ')[0].toLowerCase()}.${i}@search.test`;
      const status: AgentStatus = i % 5 === 0 ? 'deactivated' : i % 11 === 0 ? 'invited' : 'active';
      agents.push({
        id: `agent-${String(i).padStart(5, '0')}`,
        email,
        name,
        status,
        pending: status === 'active' && i % 13 === 0,
        locked: i % 17 === 0,
        invitation: status === 'invited' ? (i % 3 === 0 ? 'expired' : 'live') : null,
        twoFactor: i % 4 === 0,
      });
    }
    await db.transaction().execute(async (trx) => {
      for (const a of agents) {
        await insertAgent(trx, { id: a.id, accountId: ACCOUNT, email: a.email, name: a.name, roleId: 'role-agent', isAccountAdministrator: false, status: a.status, passwordHash: a.status === 'invited' ? null : 'x', now });
        if (a.pending || a.twoFactor) await updateAgent(trx, ACCOUNT, a.id, { password_change_required: a.pending ? 1 : 0, two_factor_enabled: a.twoFactor ? 1 : 0 }, now);
        // the door for unknown devices is what "Locked" means; a trusted device's own lock is not
        if (a.locked) await trx.insertInto('login_attempts').values({ account_id: ACCOUNT, email_normalized: a.email, client: '', failed_count: 5, last_failed_at: now.toISOString(), locked_until: hours(1) }).execute();
        else if (a.id.endsWith('1')) await trx.insertInto('login_attempts').values({ account_id: ACCOUNT, email_normalized: a.email, client: 'device-1', failed_count: 5, last_failed_at: now.toISOString(), locked_until: hours(1) }).execute();
        if (a.invitation) {
          // an older dead link first, then the latest one
          const link = (id: string, createdAt: string, expiresAt: string, revokedAt: string | null) => ({ id, account_id: ACCOUNT, agent_id: a.id, token_hash: id, purpose: 'invitation' as const, created_by_agent_id: null, created_at: createdAt, expires_at: expiresAt, used_at: null, revoked_at: revokedAt });
          await trx.insertInto('password_reset_tokens').values(link(`${a.id}-old`, hours(-300), hours(-100), hours(-200))).execute();
          await trx.insertInto('password_reset_tokens').values(link(`${a.id}-new`, hours(-200), a.invitation === 'live' ? hours(24) : hours(-1), null)).execute();
        }
      }
    });
  });

  after(async () => {
    await db.destroy();
    await dropDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  type Filters = Omit<AgentListQuery, 'limit' | 'cursor' | 'before' | 'search'>;

  /** Every page of a search, following nextCursor; and every page again, back from the last one with prevCursor. */
  async function allPages(search: string, filters: Filters = {}, limit = 50): Promise<string[]> {
    const pages: string[][] = [];
    const prevCursors: (string | null)[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 200; n++) {
      const page = await listAgents(db, ACCOUNT, { search, ...filters, limit, cursor }, now);
      assert.notEqual(page, 'invalid_cursor');
      if (page === 'invalid_cursor') return [];
      assert.equal(page.prevCursor === null, n === 0, 'a page after the first has a way back');
      pages.push(page.agents.map((a) => a.email));
      prevCursors.push(page.prevCursor);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    // Back: each Previous gives the page before, the same rows, up to the first page.
    let before = prevCursors.at(-1) ?? null;
    for (let n = pages.length - 2; n >= 0; n--) {
      assert.ok(before, `page ${n + 2} has a Previous`);
      const page = await listAgents(db, ACCOUNT, { search, ...filters, limit, before: before! }, now);
      if (page === 'invalid_cursor') throw new Error('invalid before');
      assert.deepEqual(page.agents.map((a) => a.email), pages[n], `page ${n + 1}, reached backwards`);
      assert.ok(page.nextCursor, 'a page reached backwards has a Next');
      before = page.prevCursor ?? null;
      if (n === 0) assert.equal(page.prevCursor, null, 'the first page has no Previous');
    }
    const emails = pages.flat();
    assert.equal(new Set(emails).size, emails.length, 'no agent twice');
    return emails;
  }

  const inside = ['mar', 'MARSH', 'mark', 'zed', 'lopez', 'ann sm', 'smith', '0012@', 'maria.', 'nobody', 'arsh', 'h.1', 'search.t', '.test', 'ith', 'o%_', 'a_b'];
  const short = ['m', 'mo', 'k', '00', 'j', 'ø', 'ü', 'sm'];
  for (const search of [...inside, ...short]) {
    test(`"${search}" gives the rule's agents, in order, page after page, both ways`, async () => {
      assert.deepEqual(await allPages(search), expected(agents, search));
    });
  }

  test('case and accents fold: "Muller", "muller" and "MÜLLER" find Müller; "jose" José; "strasse" Straße; "overgard" Øvergård', async () => {
    const names = async (search: string) => {
      const page = await listAgents(db, ACCOUNT, { search, limit: 200 }, now);
      if (page === 'invalid_cursor') throw new Error('invalid');
      return new Set(page.agents.map((a) => a.name));
    };
    for (const search of ['Muller', 'muller', 'MÜLLER', 'müller', 'ller']) assert.ok([...(await names(search))].every((n) => n.includes('Müller')) && (await names(search)).size > 0, search);
    assert.ok([...(await names('jose'))].every((n) => n.startsWith('José')) && (await names('jose')).size > 0);
    assert.ok((await names('JOSÉ')).size > 0);
    assert.ok([...(await names('strasse'))].every((n) => n.includes('Straße')) && (await names('strasse')).size > 0);
    assert.ok((await names('straße')).size > 0 && (await names('STRASSE')).size > 0);
    assert.ok([...(await names('overgard'))].every((n) => n.includes('Øvergård')) && (await names('overgard')).size > 0);
    assert.deepEqual(await allPages('jurg'), expected(agents, 'jürg'));
    // inside emails too: "josé.1…" is found by "jose.1"
    assert.deepEqual(await allPages('jose.1'), expected(agents, 'jose.1'));
    assert.ok(expected(agents, 'jose.1').length > 0);
  });

  test('every status filter, alone and with a search, both ways', async () => {
    const filters: [Filters, (a: Seeded) => boolean][] = [
      [{ status: 'active' }, (a) => a.status === 'active'],
      [{ status: 'deactivated' }, (a) => a.status === 'deactivated'],
      [{ status: 'invited' }, (a) => a.status === 'invited'],
      [{ status: 'locked' }, (a) => a.locked],
      [{ status: 'password_change_pending' }, (a) => a.pending],
      [{ status: 'invitation_expired' }, (a) => a.invitation === 'expired'],
      [{ twoFactor: false }, (a) => !a.twoFactor],
      [{ status: 'locked', twoFactor: false }, (a) => a.locked && !a.twoFactor],
    ];
    for (const [filter, keep] of filters) {
      for (const search of ['', 'm', 'mar', 'smith', 'ller']) {
        const want = expected(agents, search, keep);
        assert.deepEqual(await allPages(search, filter, 40), want, `${JSON.stringify(filter)} "${search}"`);
      }
    }
    assert.ok(expected(agents, 'ller', (a) => a.locked).length > 0 && expected(agents, '', (a) => a.invitation === 'expired').length > 0);
  });

  test('the count: exact up to 1,000, "more than 1,000" beyond', async () => {
    const count = async (search: string, filters: Filters = {}) => {
      const page = await listAgents(db, ACCOUNT, { search, ...filters, limit: 25, count: true }, now);
      if (page === 'invalid_cursor') throw new Error('invalid');
      return page.count;
    };
    for (const search of ['mar', 'ller', 'smith', 'nobody', 'zed', 'mo', 'jose']) {
      const n = expected(agents, search).length;
      assert.deepEqual(await count(search), n > 1000 ? { n: 1000, more: true } : { n, more: false }, search);
    }
    assert.ok(expected(agents, 'm').length > 1000);
    assert.deepEqual(await count('m'), { n: 1000, more: true });
    assert.deepEqual(await count('search.test'), { n: 1000, more: true });
    assert.deepEqual(await count(''), { n: 1000, more: true });
    assert.deepEqual(await count('', { status: 'locked' }), { n: agents.filter((a) => a.locked).length, more: false });
    assert.deepEqual(await count('mar', { status: 'password_change_pending' }), { n: expected(agents, 'mar', (a) => a.pending).length, more: false });
  });

  test('a renamed agent is found by the new name only; a new email by the new email only', async () => {
    const target = agents.find((a) => a.name === 'Zed Lopez')!;
    await db.transaction().execute((trx) => updateAgent(trx, ACCOUNT, target.id, renameFields('Quincy Quartermaine-Dvořák'), now));
    target.name = 'Quincy Quartermaine-Dvořák';
    assert.deepEqual(await allPages('quart'), [target.email]);
    assert.deepEqual(await allPages('dvorak'), [target.email]);
    assert.deepEqual(await allPages('zed'), expected(agents, 'zed'));

    const other = agents.find((a) => a.email.startsWith('mark.'))!;
    const oldEmail = other.email;
    await db.transaction().execute((trx) => updateAgent(trx, ACCOUNT, other.id, { email: 'zz.renamed@elsewhere.test', email_normalized: 'zz.renamed@elsewhere.test' }, now));
    other.email = 'zz.renamed@elsewhere.test';
    assert.deepEqual(await allPages('renamed@else'), [other.email]);
    assert.deepEqual(await allPages(oldEmail), []);
    assert.deepEqual(await allPages('zz'), expected(agents, 'zz'));
    assert.deepEqual(await allPages('mark'), expected(agents, 'mark'));
  });

  test('an unknown cursor either way is refused, not a 500', async () => {
    assert.equal(await listAgents(db, ACCOUNT, { limit: 5, cursor: 'nope' }, now), 'invalid_cursor');
    assert.equal(await listAgents(db, ACCOUNT, { limit: 5, before: 'nope' }, now), 'invalid_cursor');
  });

  test('prefixUpperBound is just past every string with the prefix', () => {
    assert.equal(prefixUpperBound('abc'), 'abd');
    assert.equal(prefixUpperBound('a\u{10FFFF}'), 'b');
    assert.equal(prefixUpperBound('\u{D7FF}'), '\u{E000}');
    assert.equal(prefixUpperBound('\u{10FFFF}'), null);
  });

  test('foldForSearch folds case, accents and ß, the same for the search and the stored text', () => {
    assert.equal(foldForSearch('  Müller  '), 'muller');
    assert.equal(foldForSearch('JOSÉ'), 'jose');
    assert.equal(foldForSearch('Straße'), 'strasse');
    assert.equal(foldForSearch('ẞ'), 'ss');
    assert.equal(foldForSearch('Łukasz Søren'), 'lukasz soren');
    assert.equal(foldForSearch('Ｍary\t\tAnn'), 'mary ann');
    assert.equal(foldForSearch('Tomás O’Brien'), "tomas o'brien", 'a curly apostrophe is the one on the keyboard');
    assert.equal(foldForSearch("O'Brien"), foldForSearch('O‘Brien'));
  });
});

describe('last sign-in and the new status filters through the API', () => {
  let t: TestApp;
  let ownerToken: string;
  let agentRoleId: string;

  before(async () => {
    t = await TestApp.start();
    ({ ownerToken, agentRoleId } = await t.setup());
  });
  after(async () => t?.close());

  const findByEmail = async (email: string) => {
    const answer = await t.get(`/api/v1/agents?search=${encodeURIComponent(email)}`, ownerToken);
    assert.equal(answer.status, 200, answer.raw);
    return answer.body.agents.find((a: { email: string }) => a.email === email);
  };

  test('a sign-in sets lastSignInAt in its transaction; a failed one does not; an invited agent has never signed in', async () => {
    const bea = await t.addAgent(ownerToken, { email: 'bea.muller@acme.test', name: 'Béa Müller', roleId: agentRoleId, password: 'Glacier-Harbor-Violet-73' });
    const first = (await findByEmail('bea.muller@acme.test')).lastSignInAt;
    assert.equal(first, t.clock.now().toISOString());
    t.clock.advanceSeconds(3600);
    const wrong = await t.post('/api/v1/auth/login', { email: 'bea.muller@acme.test', password: 'not-her-password-at-all' });
    assert.equal(wrong.status, 401);
    assert.equal((await findByEmail('bea.muller@acme.test')).lastSignInAt, first, 'a refused sign-in changes nothing');
    await t.login('bea.muller@acme.test', 'Glacier-Harbor-Violet-73');
    assert.equal((await findByEmail('bea.muller@acme.test')).lastSignInAt, t.clock.now().toISOString());
    const stored = await t.app.deskpass.deps.db.selectFrom('agents').select('last_sign_in_at').where('id', '=', bea.id).executeTakeFirstOrThrow();
    assert.equal(stored.last_sign_in_at, t.clock.now().toISOString());

    const invited = await t.post('/api/v1/agents', { email: 'ivo.invited@acme.test', name: 'Ivo Invited', roleId: agentRoleId }, ownerToken);
    assert.equal(invited.status, 201, invited.raw);
    assert.equal(invited.body.lastSignInAt, null);
    // "Muller" finds Béa Müller through the API too
    const found = await t.get('/api/v1/agents?search=Muller', ownerToken);
    assert.deepEqual(found.body.agents.map((a: { name: string }) => a.name), ['Béa Müller']);
    assert.equal((await findByEmail(OWNER.email)).lastSignInAt !== null, true);
  });

  test('status=locked, password_change_pending, invitation_expired; existing values unchanged; a bad value is a 400', async () => {
    await t.addAgent(ownerToken, { email: 'lou.locked@acme.test', name: 'Lou Locked', roleId: agentRoleId, password: 'Pebble-Canyon-Orchid-58' });
    for (let i = 0; i < 5; i++) await t.post('/api/v1/auth/login', { email: 'lou.locked@acme.test', password: `wrong-guess-number-${i}` });
    const list = async (status: string) => {
      const answer = await t.get(`/api/v1/agents?status=${status}`, ownerToken);
      assert.equal(answer.status, 200, answer.raw);
      return answer.body.agents.map((a: { email: string }) => a.email);
    };
    assert.deepEqual(await list('locked'), ['lou.locked@acme.test']);
    const pat = await t.addAgent(ownerToken, { email: 'pat.pending@acme.test', name: 'Pat Pending', roleId: agentRoleId, password: 'Marble-Fjord-Tulip-64' });
    assert.equal((await t.post('/api/v1/auth/reauthenticate', { password: OWNER.password }, ownerToken)).status, 204);
    const set = await t.put(`/api/v1/agents/${pat.id}/password`, { password: 'Temporary-Quokka-Lamp-19', requireChangeAtNextLogin: true }, ownerToken);
    assert.equal(set.status, 204, set.raw);
    assert.deepEqual(await list('password_change_pending'), ['pat.pending@acme.test']);
    assert.deepEqual(await list('invitation_expired'), []);
    t.clock.advanceSeconds(8 * 24 * 3600); // past the 7-day invitation
    ownerToken = await t.login(OWNER.email, OWNER.password);
    assert.deepEqual(await list('invitation_expired'), ['ivo.invited@acme.test']);
    assert.deepEqual(await list('invited'), ['ivo.invited@acme.test']);
    assert.ok((await list('active')).includes('pat.pending@acme.test'));
    assert.equal((await t.get('/api/v1/agents?status=sleeping', ownerToken)).status, 400);
  });
});
