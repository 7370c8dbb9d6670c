import { parseSettings, type AccountSettings } from '../domain/account-settings.js';
import type { Account } from '../domain/models.js';
import { sql } from 'kysely';
import { changesOf, type Db, type Executor } from './db.js';
import { ChangeBoundCache } from './change-bound-cache.js';
import { dialectOf } from './dialect.js';
import type { AccountRow } from './schema.js';
import { deepFreeze, iso } from './convert.js';
import { compiledOnce } from './compiled-once.js';

export function toAccount(row: AccountRow): Account {
  return { id: row.id, name: row.name, slug: row.slug, plan: row.plan, settings: parseSettings(row.settings), createdAt: new Date(row.created_at) };
}

export async function insertAccount(db: Executor, account: Account): Promise<void> {
  await db
    .insertInto('accounts')
    .values({ id: account.id, name: account.name, slug: account.slug, plan: account.plan, settings: JSON.stringify(account.settings), created_at: iso(account.createdAt) })
    .execute();
}

export async function countAccounts(db: Executor): Promise<number> {
  const row = await db.selectFrom('accounts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** One server hosts one help desk for now: the account every public request belongs to. */
const onlyAccount = compiledOnce((db) => db.selectFrom('accounts').selectAll().orderBy('created_at').limit(1));

export async function findOnlyAccount(db: Executor): Promise<Account | undefined> {
  const row = (await onlyAccount(db)).rows[0];
  return row && toAccount(row);
}

/**
 * findOnlyAccount through a cache that no committed change outlives (change-bound-cache.ts): a
 * public request (a sign-in, a reset link) reads the account from memory. Frozen: shared.
 */
export function cachedOnlyAccount(db: Db): () => Promise<Account | undefined> {
  // watching the account's own changes: a sign-in writes holders, never the account
  const changes = changesOf(db);
  const cache = new ChangeBoundCache<Account>({ version: () => changes.accountsVersion() }, { maxEntries: 1 });
  const load = async () => {
    const account = await findOnlyAccount(db);
    return account && deepFreeze(account);
  };
  return async () => (await cache.find('only', load)).row;
}

export async function findAccountById(db: Executor, id: string): Promise<Account | undefined> {
  const row = await db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toAccount(row);
}

export async function findAccountBySlug(db: Executor, slug: string): Promise<Account | undefined> {
  const row = await db.selectFrom('accounts').selectAll().where('slug', '=', slug).executeTakeFirst();
  return row && toAccount(row);
}

export async function updateAccountSettings(db: Executor, accountId: string, settings: AccountSettings): Promise<void> {
  await db.updateTable('accounts').set({ settings: JSON.stringify(settings) }).where('id', '=', accountId).execute();
}

/** The settings as stored now, the row held until the transaction ends on PostgreSQL (SQLite writes one at a time). */
export async function lockAccountSettings(db: Executor, accountId: string): Promise<AccountSettings | undefined> {
  let q = db.selectFrom('accounts').select('settings').where('id', '=', accountId);
  if (dialectOf(db) === 'postgres') q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row && parseSettings(row.settings);
}

/**
 * One server hosts one help desk for now: on PostgreSQL two concurrent setups would both see no
 * account under READ COMMITTED, so setup takes this transaction-scoped lock before it looks.
 */
export async function lockAccountCreation(db: Executor): Promise<void> {
  if (dialectOf(db) === 'postgres') await sql`select pg_advisory_xact_lock(${ACCOUNT_CREATION_LOCK})`.execute(db);
}

const ACCOUNT_CREATION_LOCK = 0x6465736b; // "desk"
