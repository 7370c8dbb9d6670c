// Creates the benchmark's help desk through the real setup API, then seeds agents and audit
// events with bulk SQL. All agents share one argon2id hash of one password made by the server
// itself (at the production cost): verifying against it costs exactly what any agent's would.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './processes.mjs';

export const ADMIN = { email: 'ada.admin@bench.example', name: 'Ada Admin', password: 'Quartz-Lantern-Meadow-1987-dusk' };
export const AGENT_PASSWORD = ADMIN.password;

const FIRST = 'james mary robert patricia john jennifer michael linda david elizabeth william barbara richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew donna joshua michelle kenneth carol kevin amanda brian dorothy george melissa timothy deborah ronald stephanie edward rebecca jason sharon jeffrey laura ryan cynthia jacob kathleen gary amy nicholas angela eric shirley jonathan anna stephen brenda larry pamela justin emma scott nicole brandon helen benjamin samantha samuel katherine gregory christine alexander debra frank rachel patrick carolyn raymond janet jack maria dennis olivia'.split(' ');
const LAST = 'smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster'.split(' ');

/** A small deterministic PRNG (mulberry32): the same agents on every run. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const capital = (word) => word[0].toUpperCase() + word.slice(1);

/** One agent in 50 has an accented last name (the search folds them: "muller" finds "Müller"). */
const ACCENTED_LAST = ['Müller', 'Núñez', 'Öztürk', 'Straße', 'Dvořák'];

/** The i-th seeded agent: "First Last", first.last{i}@bench.example. */
export function seededAgent(i, random) {
  const first = FIRST[Math.floor(random() * FIRST.length)];
  let last = LAST[Math.floor(random() * LAST.length)];
  if (i % 50 === 7) last = ACCENTED_LAST[Math.floor(i / 50) % ACCENTED_LAST.length];
  const emailLast = last.normalize('NFKD').replace(/\p{M}+/gu, '').replace('ß', 'ss').toLowerCase();
  return { email: `${first}.${emailLast}${i}@bench.example`, name: `${capital(first)} ${capital(last)}` };
}

/** Waits for the one-time setup link the server prints on an empty database, then uses it. */
export async function setUpHelpDesk(baseUrl, logFile) {
  let token;
  for (let i = 0; i < 100 && !token; i++) {
    token = /\/setup\/([A-Za-z0-9_-]{20,})/.exec(readFileSync(logFile, 'utf8'))?.[1];
    if (!token) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!token) throw new Error('the server printed no setup link');
  const response = await fetch(`${baseUrl}/api/v1/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, accountName: 'Bench Support', adminName: ADMIN.name, adminEmail: ADMIN.email, password: ADMIN.password }),
  });
  if (response.status !== 201) throw new Error(`setup answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/**
 * The app's own rules for its agent search index, when this build has one
 * (src/store/agent-search-terms.repo.ts); seeding by SQL must fill those tables (and the folded
 * columns, from migration 007) as insertAgent would.
 */
async function loadSearchRules() {
  const file = join(REPO_ROOT, 'dist/store/agent-search-terms.repo.js');
  if (!existsSync(file)) return {};
  const module = await import(pathToFileURL(file).href);
  return { termRows: module.agentSearchTermRows ?? null, gramRows: module.agentSearchGramRows ?? null, fold: module.foldForSearch ?? null };
}

/** Agents past the sign-in load's, in states the list's status filter finds (about 1% each). */
const STATE_EVERY = { locked: 97, pending: 89, invitationExpired: 83 };

/**
 * Inserts `count` agents (role Agent) that all have the administrator's password hash.
 * Returns the emails of the first `loginAgents` (the sign-in load rotates over them, all active)
 * and the search queries the latency figures use. Past those, about 1% each are locked, must
 * change their password, or are invited with an expired link; a third have signed in before.
 */
export async function seedAgents(store, { count, loginAgents = 1000 }) {
  const [admin] = await store.query('select id, account_id, password_hash from agents where is_account_administrator = 1');
  const [role] = await store.query("select id from roles where account_id = ? and name = 'Agent'", [admin.account_id]);
  const now = new Date().toISOString();
  const hoursFromNow = (h) => new Date(Date.now() + h * 3_600_000).toISOString();
  const random = prng(42);
  const agents = [];
  for (let i = 1; i <= count; i++) {
    const { email, name } = seededAgent(i, random);
    const state = i <= loginAgents ? null : i % STATE_EVERY.locked === 0 ? 'locked' : i % STATE_EVERY.pending === 0 ? 'pending' : i % STATE_EVERY.invitationExpired === 0 ? 'invitationExpired' : null;
    agents.push({ id: randomUUID(), email, name, state, signedIn: i % 3 === 0 });
  }
  const { termRows, gramRows, fold } = await loadSearchRules();
  const columns = ['id', 'account_id', 'email', 'email_normalized', 'name', 'name_normalized', 'role_id', 'is_account_administrator', 'status', 'password_hash', 'password_changed_at', 'password_change_required', 'temporary_password_expires_at', 'created_at', 'updated_at'];
  if (fold) columns.push('name_folded', 'email_folded', 'last_sign_in_at');
  await store.insertMany(
    `insert into agents (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`,
    agents.map((a, index) => {
      const invited = a.state === 'invitationExpired';
      const row = [a.id, admin.account_id, a.email, a.email, a.name, a.name.toLowerCase(), role.id, 0, invited ? 'invited' : 'active', invited ? null : admin.password_hash, invited ? null : now, a.state === 'pending' ? 1 : 0, a.state === 'pending' ? hoursFromNow(72) : null, now, now];
      if (fold) row.push(fold(a.name), fold(a.email), a.signedIn && !invited ? hoursFromNow(-(index % 500)) : null);
      return row;
    }),
  );
  const searchable = (a) => ({ accountId: admin.account_id, agentId: a.id, emailNormalized: a.email, nameNormalized: a.name.toLowerCase(), nameFolded: fold ? fold(a.name) : a.name.toLowerCase(), emailFolded: fold ? fold(a.email) : a.email });
  let searchTerms = 0;
  for (const rule of [termRows && { rule: termRows, table: 'agent_search_terms' }, gramRows && { rule: gramRows, table: 'agent_search_grams' }].filter(Boolean)) {
    // in slices, so that the millions of gram rows are never all in memory at once
    for (let start = 0; start < agents.length; start += 10_000) {
      const rows = agents.slice(start, start + 10_000).flatMap((a) => rule.rule(searchable(a)));
      if (rows.length === 0) continue;
      const keys = Object.keys(rows[0]);
      await store.insertText(rule.table, keys, rows.map((r) => keys.map((c) => r[c])));
      searchTerms += rows.length;
    }
  }
  const locked = agents.filter((a) => a.state === 'locked');
  if (locked.length > 0) {
    await store.insertMany(
      'insert into login_attempts (account_id, email_normalized, client, failed_count, last_failed_at, locked_until) values (?, ?, ?, ?, ?, ?)',
      locked.map((a) => [admin.account_id, a.email, '', 5, now, hoursFromNow(24)]),
    );
  }
  const expired = agents.filter((a) => a.state === 'invitationExpired');
  if (expired.length > 0) {
    await store.insertMany(
      'insert into password_reset_tokens (id, account_id, agent_id, token_hash, purpose, created_by_agent_id, created_at, expires_at, used_at, revoked_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      expired.map((a) => [randomUUID(), admin.account_id, a.id, randomUUID(), 'invitation', admin.id, hoursFromNow(-200), hoursFromNow(-32), null, null]),
    );
  }
  // What autovacuum does within a minute of a bulk load: fresh planner statistics, and the
  // visibility map that lets index-only scans skip the table (the search index is covering).
  if (store.dialect === 'postgres') await store.query('vacuum analyze');
  return { adminId: admin.id, accountId: admin.account_id, loginEmails: agents.slice(0, loginAgents).map((a) => a.email), searchPrefixes: searchPrefixes(agents), searchTerms };
}

/**
 * What people type into the agent search box, in kinds whose cost differs: one letter and two
 * letters (word starts: ranges, or a walk when common), the start of a first name (= the start
 * of the email), the start of a last name, a piece from inside a name, a piece of an email,
 * an accented name typed without accents, a whole email (one agent) and nothing that matches.
 */
function searchPrefixes(agents) {
  const pick = (i) => agents[Math.floor((i * agents.length) / 7) % agents.length];
  return [
    ...['m', 'j', 's', 'a', 'k'].map((p) => ({ kind: 'one letter', prefix: p })),
    ...['ma', 'jo', 'sm', 'ke', 'ro'].map((p) => ({ kind: 'two letters', prefix: p })),
    ...[0, 1, 2, 3, 4].map((i) => ({ kind: 'first-name start', prefix: pick(i).name.split(' ')[0].slice(0, 3).toLowerCase() })),
    ...[0, 1, 2, 3, 4].map((i) => ({ kind: 'last-name start', prefix: pick(i).name.split(' ')[1].slice(0, 4).toLowerCase() })),
    ...['ller', 'rtin', 'abet', 'hael', 'ndez'].map((p) => ({ kind: 'inside a name', prefix: p })),
    ...['s.smith1', 'n.garcia', 'a.lee99', 'bench.ex', 'h.exam'].map((p) => ({ kind: 'inside an email', prefix: p })),
    ...['Muller', 'nunez', 'OZTURK', 'strasse', 'dvorak'].map((p) => ({ kind: 'folded accents', prefix: p })),
    ...[0, 1, 2, 3, 4].map((i) => ({ kind: 'whole email', prefix: pick(i).email })),
    ...['zzq', 'xylo', 'qwv', 'ü', 'o%_', 'example.c', 'smithjohnson'].map((p) => ({ kind: 'no match', prefix: p })),
  ];
}

/**
 * `count` audit events, as one INSERT … SELECT over a generated series (a recursive CTE on
 * SQLite, generate_series on PostgreSQL): four event types, the administrator or no one as the
 * actor, a seeded agent as the target, one second apart before the benchmark started.
 */
export async function seedAuditEvents(store, { count, accountId, adminId }) {
  if (store.dialect === 'sqlite') {
    const [{ n }] = await store.query('select count(*) as n from agents');
    await store.query(
      `with recursive series(i) as (select 1 union all select i + 1 from series where i < ?)
       insert into audit_events (account_id, type, actor_agent_id, target_agent_id, target_email, method, ip, user_agent, details, created_at)
       select ?, case i % 4 when 0 then 'login.succeeded' when 1 then 'login.failed' when 2 then 'password.changed' else 'session.revoked' end,
              case when i % 4 = 1 then null else ? end,
              (select id from agents where rowid = 1 + (i % ?)),
              null, 'api', '127.0.0.1', 'deskpass-bench', null,
              strftime('%Y-%m-%dT%H:%M:%fZ', '2025-01-01T00:00:00', '+' || i || ' seconds')
       from series`,
      [count, accountId, adminId, n],
    );
  } else {
    await store.query(
      `insert into audit_events (account_id, type, actor_agent_id, target_agent_id, target_email, method, ip, user_agent, details, created_at)
       select ?, (array['login.succeeded', 'login.failed', 'password.changed', 'session.revoked'])[1 + g % 4],
              case when g % 4 = 1 then null else ? end,
              ids[1 + g % cardinality(ids)],
              null, 'api', '127.0.0.1', 'deskpass-bench', null,
              to_char(timestamp '2025-01-01' + g * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
       from generate_series(1, ?) g cross join (select array(select id from agents order by id limit 10000) as ids) a`,
      [accountId, adminId, count],
    );
    // What autovacuum does within a minute of a bulk load: fresh planner statistics.
    await store.query('analyze');
  }
}
