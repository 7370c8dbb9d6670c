import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Clock } from '../domain/clock.js';
import type { Db } from '../store/db.js';
import { iso } from '../store/convert.js';
import { findAppByClientId } from '../store/apps.repo.js';
import { clientMetadataOf } from './clients.js';

/**
 * One Kysely adapter for every model oidc-provider persists, on SQLite and PostgreSQL alike:
 * a row per (model, id) in oidc_payloads, with the grant id (revokeByGrantId), a session's uid
 * (findByUid) and the expiry the sweep uses. Clients are not stored here: they are the apps
 * (store/apps.repo), read through clientMetadataOf.
 */
export function kyselyAdapter(db: Db, clock: Clock): new (model: string) => Adapter {
  return class KyselyAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const row = {
        payload: JSON.stringify(payload),
        grant_id: payload.grantId ?? null,
        uid: payload.uid ?? null,
        expires_at: expiresIn ? iso(new Date(clock.now().getTime() + expiresIn * 1000)) : null,
        // a provider Session carries one Deskpass session: the sid of its authorizations
        deskpass_session_id: this.model === 'Session' ? carriedSessionId(payload) : null,
      };
      await db
        .insertInto('oidc_payloads')
        .values({ model: this.model, id, consumed_at: null, ...row })
        .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(row))
        .execute();
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') {
        const found = await findAppByClientId(db, id);
        return found && clientMetadataOf(found);
      }
      const row = await db.selectFrom('oidc_payloads').selectAll().where('model', '=', this.model).where('id', '=', id).executeTakeFirst();
      return row ? this.live(row) : undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const row = await db.selectFrom('oidc_payloads').selectAll().where('model', '=', this.model).where('uid', '=', uid).executeTakeFirst();
      return row ? this.live(row) : undefined;
    }

    async findByUserCode(): Promise<AdapterPayload | undefined> {
      return undefined; // the device flow is not enabled
    }

    async consume(id: string): Promise<void> {
      const now = clock.now();
      const row = await db.selectFrom('oidc_payloads').select('payload').where('model', '=', this.model).where('id', '=', id).executeTakeFirst();
      if (!row) return;
      const payload = { ...(JSON.parse(row.payload) as AdapterPayload), consumed: Math.floor(now.getTime() / 1000) };
      await db.updateTable('oidc_payloads').set({ consumed_at: iso(now), payload: JSON.stringify(payload) }).where('model', '=', this.model).where('id', '=', id).execute();
    }

    async destroy(id: string): Promise<void> {
      await db.deleteFrom('oidc_payloads').where('model', '=', this.model).where('id', '=', id).execute();
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).execute();
    }

    private live(row: { payload: string; expires_at: string | null }): AdapterPayload | undefined {
      if (row.expires_at !== null && row.expires_at <= iso(clock.now())) return undefined;
      return JSON.parse(row.payload) as AdapterPayload;
    }
  };
}

function carriedSessionId(payload: AdapterPayload): string | null {
  const authorizations = (payload as { authorizations?: Record<string, { sid?: string }> }).authorizations ?? {};
  for (const authorization of Object.values(authorizations)) if (authorization.sid) return authorization.sid;
  return null;
}
