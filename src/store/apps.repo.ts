import type { App, AppType } from '../domain/apps.js';
import type { Executor } from './db.js';
import type { AppRow } from './schema.js';
import { iso } from './convert.js';

export function toApp(row: AppRow): App {
  return {
    id: row.id,
    accountId: row.account_id,
    clientId: row.client_id,
    name: row.name,
    type: row.type as AppType,
    redirectUris: JSON.parse(row.redirect_uris) as string[],
    postLogoutRedirectUris: JSON.parse(row.post_logout_redirect_uris) as string[],
    backchannelLogoutUri: row.backchannel_logout_uri,
    launchUrl: row.launch_url,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** An app with the hash of its secret, for the provider's client authentication only. */
export interface AppWithSecret {
  app: App;
  secretHash: string | null;
}

export async function insertApp(db: Executor, app: App, secretHash: string | null): Promise<void> {
  await db
    .insertInto('apps')
    .values({
      id: app.id,
      account_id: app.accountId,
      client_id: app.clientId,
      name: app.name,
      type: app.type,
      secret_hash: secretHash,
      redirect_uris: JSON.stringify(app.redirectUris),
      post_logout_redirect_uris: JSON.stringify(app.postLogoutRedirectUris),
      backchannel_logout_uri: app.backchannelLogoutUri,
      launch_url: app.launchUrl,
      created_at: iso(app.createdAt),
      updated_at: iso(app.updatedAt),
    })
    .execute();
}

export async function listApps(db: Executor, accountId: string): Promise<App[]> {
  const rows = await db.selectFrom('apps').selectAll().where('account_id', '=', accountId).orderBy('created_at').orderBy('id').execute();
  return rows.map(toApp);
}

export async function findAppById(db: Executor, accountId: string, id: string): Promise<App | undefined> {
  const row = await db.selectFrom('apps').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  return row && toApp(row);
}

export async function findAppByClientId(db: Executor, clientId: string): Promise<AppWithSecret | undefined> {
  const row = await db.selectFrom('apps').selectAll().where('client_id', '=', clientId).executeTakeFirst();
  return row && { app: toApp(row), secretHash: row.secret_hash };
}

export async function updateApp(
  db: Executor,
  accountId: string,
  id: string,
  changes: { name?: string; redirectUris?: string[]; postLogoutRedirectUris?: string[]; backchannelLogoutUri?: string | null; launchUrl?: string | null },
  now: Date,
): Promise<void> {
  await db
    .updateTable('apps')
    .set({
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.redirectUris !== undefined ? { redirect_uris: JSON.stringify(changes.redirectUris) } : {}),
      ...(changes.postLogoutRedirectUris !== undefined ? { post_logout_redirect_uris: JSON.stringify(changes.postLogoutRedirectUris) } : {}),
      ...(changes.backchannelLogoutUri !== undefined ? { backchannel_logout_uri: changes.backchannelLogoutUri } : {}),
      ...(changes.launchUrl !== undefined ? { launch_url: changes.launchUrl } : {}),
      updated_at: iso(now),
    })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .execute();
}

export async function setAppSecretHash(db: Executor, accountId: string, id: string, secretHash: string, now: Date): Promise<void> {
  await db.updateTable('apps').set({ secret_hash: secretHash, updated_at: iso(now) }).where('account_id', '=', accountId).where('id', '=', id).execute();
}

export async function deleteApp(db: Executor, accountId: string, id: string): Promise<number> {
  const result = await db.deleteFrom('apps').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows);
}
