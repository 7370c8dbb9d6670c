import { parseSettings, type AccountSettings } from '../domain/account-settings.js';
import type { Account } from '../domain/models.js';
import type { Executor } from './db.js';
import type { AccountRow } from './schema.js';
import { iso } from './convert.js';

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
export async function findOnlyAccount(db: Executor): Promise<Account | undefined> {
  const row = await db.selectFrom('accounts').selectAll().orderBy('created_at').limit(1).executeTakeFirst();
  return row && toAccount(row);
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
