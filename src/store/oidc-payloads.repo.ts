import type { Executor } from './db.js';
import { iso } from './convert.js';

/** What the hourly sweep removes: provider records past their expiry. */
export async function sweepProviderRecords(db: Executor, now: Date, batchSize = 1000): Promise<number> {
  const rows = await db.selectFrom('oidc_payloads').select(['model', 'id']).where('expires_at', '<=', iso(now)).limit(batchSize).execute();
  for (const row of rows) await db.deleteFrom('oidc_payloads').where('model', '=', row.model).where('id', '=', row.id).execute();
  return rows.length;
}
