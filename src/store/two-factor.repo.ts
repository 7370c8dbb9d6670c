import type { Executor } from './db.js';
import { flag, iso } from './convert.js';
import { dialectOf } from './dialect.js';

/** The stored second factors of agents: authenticator apps, passkeys, recovery codes, and the challenges between steps. */

export interface TotpRecord {
  id: string;
  agentId: string;
  sealedSecret: string;
  createdAt: Date;
  confirmedAt: Date | null;
  lastUsedStep: number | null;
  /** a pending one: the session that started it */
  sessionId: string | null;
}

export interface PasskeyRecord {
  id: string;
  accountId: string;
  agentId: string;
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  name: string;
  deviceType: string;
  backedUp: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
}

// ---- authenticator app

/** The agent's authenticator rows: the active one (confirmed) and the one waiting for its first code. */
export async function findTotp(db: Executor, agentId: string): Promise<{ active: TotpRecord | null; pending: TotpRecord | null }> {
  const rows = await db.selectFrom('two_factor_totp').selectAll().where('agent_id', '=', agentId).execute();
  const records = rows.map((r) => ({
    id: r.id,
    agentId: r.agent_id,
    sealedSecret: r.sealed_secret,
    createdAt: new Date(r.created_at),
    confirmedAt: r.confirmed_at ? new Date(r.confirmed_at) : null,
    lastUsedStep: r.last_used_step === null ? null : Number(r.last_used_step),
    sessionId: r.session_id,
  }));
  return { active: records.find((r) => r.confirmedAt) ?? null, pending: records.find((r) => !r.confirmedAt) ?? null };
}

/** A new secret waiting for its first code; an older pending one is replaced. */
export async function insertPendingTotp(db: Executor, row: { id: string; accountId: string; agentId: string; sessionId: string; sealedSecret: string; now: Date }): Promise<void> {
  await db.deleteFrom('two_factor_totp').where('agent_id', '=', row.agentId).where('confirmed_at', 'is', null).execute();
  await db.insertInto('two_factor_totp').values({ id: row.id, account_id: row.accountId, agent_id: row.agentId, sealed_secret: row.sealedSecret, created_at: iso(row.now), confirmed_at: null, last_used_step: null, session_id: row.sessionId }).execute();
}

/** The pending secret becomes the agent's authenticator (replacing an older one), its confirming code's step used. False if it is gone. */
export async function confirmTotp(db: Executor, agentId: string, id: string, step: number, now: Date): Promise<boolean> {
  const updated = await db
    .updateTable('two_factor_totp')
    .set({ confirmed_at: iso(now), last_used_step: step })
    .where('id', '=', id)
    .where('agent_id', '=', agentId)
    .where('confirmed_at', 'is', null)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) !== 1) return false;
  await db.deleteFrom('two_factor_totp').where('agent_id', '=', agentId).where('id', '!=', id).execute();
  return true;
}

/**
 * Uses a code's step, atomically: of two requests carrying the same code, one moves the step and
 * the other finds it moved (a replay). True when this call moved it.
 */
export async function useTotpStep(db: Executor, id: string, step: number): Promise<boolean> {
  const updated = await db
    .updateTable('two_factor_totp')
    .set({ last_used_step: step })
    .where('id', '=', id)
    .where('confirmed_at', 'is not', null)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

/** Removes the agent's authenticator (the active one; with `pending`, the one waiting for its first code too). */
export async function deleteTotp(db: Executor, agentId: string, including: 'active' | 'pending' = 'active'): Promise<number> {
  let q = db.deleteFrom('two_factor_totp').where('agent_id', '=', agentId);
  if (including === 'active') q = q.where('confirmed_at', 'is not', null);
  const result = await q.executeTakeFirst();
  return Number(result.numDeletedRows);
}

// ---- passkeys

function toPasskey(r: { id: string; account_id: string; agent_id: string; credential_id: string; public_key: string; counter: number | string; transports: string; name: string; device_type: string; backed_up: number; created_at: string; last_used_at: string | null }): PasskeyRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    agentId: r.agent_id,
    credentialId: r.credential_id,
    publicKey: r.public_key,
    counter: Number(r.counter),
    transports: JSON.parse(r.transports) as string[],
    name: r.name,
    deviceType: r.device_type,
    backedUp: r.backed_up === 1,
    createdAt: new Date(r.created_at),
    lastUsedAt: r.last_used_at ? new Date(r.last_used_at) : null,
  };
}

export async function listPasskeys(db: Executor, agentId: string): Promise<PasskeyRecord[]> {
  const rows = await db.selectFrom('passkeys').selectAll().where('agent_id', '=', agentId).orderBy('created_at').orderBy('id').execute();
  return rows.map(toPasskey);
}

export async function findPasskeyByCredentialId(db: Executor, credentialId: string): Promise<PasskeyRecord | undefined> {
  const row = await db.selectFrom('passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
  return row && toPasskey(row);
}

export async function insertPasskey(db: Executor, passkey: Omit<PasskeyRecord, 'lastUsedAt'>): Promise<void> {
  await db
    .insertInto('passkeys')
    .values({
      id: passkey.id,
      account_id: passkey.accountId,
      agent_id: passkey.agentId,
      credential_id: passkey.credentialId,
      public_key: passkey.publicKey,
      counter: passkey.counter,
      transports: JSON.stringify(passkey.transports),
      name: passkey.name,
      device_type: passkey.deviceType,
      backed_up: flag(passkey.backedUp),
      created_at: iso(passkey.createdAt),
      last_used_at: null,
    })
    .execute();
}

/**
 * Records a use: the new signature counter, moved only forward (a counter that did not grow, on
 * an authenticator that counts, is a cloned key: the caller refuses it), and the time.
 */
export async function recordPasskeyUse(db: Executor, id: string, counter: number, now: Date): Promise<boolean> {
  const updated = await db
    .updateTable('passkeys')
    .set({ counter, last_used_at: iso(now) })
    .where('id', '=', id)
    .where((eb) => (counter === 0 ? eb('counter', '=', 0) : eb('counter', '<', counter)))
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

/**
 * Is this passkey still the agent's, inside the transaction that admits a sign-in with it? Held
 * (FOR SHARE on PostgreSQL) until that transaction ends: a removal or a factor reset that
 * committed first is seen, one that comes later waits for the sign-in.
 */
export async function passkeyStillRegistered(trx: Executor, agentId: string, id: string): Promise<boolean> {
  let q = trx.selectFrom('passkeys').select('id').where('agent_id', '=', agentId).where('id', '=', id);
  if (dialectOf(trx) === 'postgres') q = q.forShare();
  return (await q.executeTakeFirst()) !== undefined;
}

export async function deletePasskey(db: Executor, agentId: string, id: string): Promise<PasskeyRecord | undefined> {
  const row = await db.deleteFrom('passkeys').where('agent_id', '=', agentId).where('id', '=', id).returningAll().executeTakeFirst();
  return row && toPasskey(row);
}

export async function deletePasskeys(db: Executor, agentId: string): Promise<number> {
  const result = await db.deleteFrom('passkeys').where('agent_id', '=', agentId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

// ---- recovery codes

/** Ten new codes (their keyed hashes); the old ones are dead. */
export async function replaceRecoveryCodes(db: Executor, row: { accountId: string; agentId: string; hashes: readonly string[]; ids: readonly string[]; now: Date }): Promise<void> {
  await deleteRecoveryCodes(db, row.agentId);
  await db
    .insertInto('recovery_codes')
    .values(row.hashes.map((codeHash, i) => ({ id: row.ids[i], account_id: row.accountId, agent_id: row.agentId, code_hash: codeHash, created_at: iso(row.now), used_at: null })))
    .execute();
}

/** Spends a code, atomically (two requests with one code: one wins). True when this call spent it. */
export async function useRecoveryCode(db: Executor, agentId: string, codeHash: string, now: Date): Promise<boolean> {
  const updated = await db.updateTable('recovery_codes').set({ used_at: iso(now) }).where('agent_id', '=', agentId).where('code_hash', '=', codeHash).where('used_at', 'is', null).executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

export async function countRecoveryCodes(db: Executor, agentId: string): Promise<number> {
  const row = await db.selectFrom('recovery_codes').select((eb) => eb.fn.countAll<number>().as('n')).where('agent_id', '=', agentId).where('used_at', 'is', null).executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function deleteRecoveryCodes(db: Executor, agentId: string): Promise<void> {
  await db.deleteFrom('recovery_codes').where('agent_id', '=', agentId).execute();
}

// ---- whether the agent has a factor

/**
 * Sets agents.two_factor_enabled from the factors the agent has now (a confirmed authenticator
 * or a passkey), in the caller's transaction, after any change to them. Returns the new value.
 */
export async function refreshTwoFactorEnabled(db: Executor, agentId: string): Promise<boolean> {
  const totp = await db.selectFrom('two_factor_totp').select('id').where('agent_id', '=', agentId).where('confirmed_at', 'is not', null).executeTakeFirst();
  const passkey = totp ? undefined : await db.selectFrom('passkeys').select('id').where('agent_id', '=', agentId).limit(1).executeTakeFirst();
  const enabled = !!(totp ?? passkey);
  await db.updateTable('agents').set({ two_factor_enabled: flag(enabled) }).where('id', '=', agentId).execute();
  return enabled;
}

// ---- the second step of a sign-in

export interface ChallengeRecord {
  accountId: string;
  agentId: string;
  doorClient: string;
  deviceId: string | null;
  credentialFingerprint: string;
  expiresAt: Date;
}

export async function insertChallenge(db: Executor, row: ChallengeRecord & { idHash: string; now: Date }): Promise<void> {
  await db
    .insertInto('two_factor_challenges')
    .values({
      id_hash: row.idHash,
      account_id: row.accountId,
      agent_id: row.agentId,
      door_client: row.doorClient,
      device_id: row.deviceId,
      credential_fingerprint: row.credentialFingerprint,
      created_at: iso(row.now),
      expires_at: iso(row.expiresAt),
      used_at: null,
    })
    .execute();
}

/** A challenge that is neither used nor expired. */
export async function findLiveChallenge(db: Executor, idHash: string, now: Date): Promise<ChallengeRecord | undefined> {
  const row = await db.selectFrom('two_factor_challenges').selectAll().where('id_hash', '=', idHash).where('used_at', 'is', null).where('expires_at', '>', iso(now)).executeTakeFirst();
  return row && { accountId: row.account_id, agentId: row.agent_id, doorClient: row.door_client, deviceId: row.device_id, credentialFingerprint: row.credential_fingerprint, expiresAt: new Date(row.expires_at) };
}

/** Uses the challenge, atomically: of two answers to it, one session. True when this call used it. */
export async function useChallenge(db: Executor, idHash: string, now: Date): Promise<boolean> {
  const updated = await db.updateTable('two_factor_challenges').set({ used_at: iso(now) }).where('id_hash', '=', idHash).where('used_at', 'is', null).where('expires_at', '>', iso(now)).executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

/** Every open challenge of the agent dies (their factors were reset, their password changed). */
export async function endAgentChallenges(db: Executor, agentId: string, now: Date): Promise<void> {
  await db.updateTable('two_factor_challenges').set({ used_at: iso(now) }).where('agent_id', '=', agentId).where('used_at', 'is', null).execute();
}

// ---- passkey ceremonies

export async function insertWebauthnChallenge(db: Executor, row: { challengeHash: string; purpose: 'registration' | 'authentication'; agentId: string | null; sessionId: string | null; now: Date; expiresAt: Date }): Promise<void> {
  await db
    .insertInto('webauthn_challenges')
    .values({ challenge_hash: row.challengeHash, purpose: row.purpose, agent_id: row.agentId, session_id: row.sessionId, created_at: iso(row.now), expires_at: iso(row.expiresAt) })
    .execute();
}

/** Consumes a ceremony challenge (deletes it): true when it existed, was live, and was issued for this purpose (and this session). */
export async function consumeWebauthnChallenge(db: Executor, challengeHash: string, purpose: 'registration' | 'authentication', sessionId: string | null, now: Date): Promise<boolean> {
  let q = db.deleteFrom('webauthn_challenges').where('challenge_hash', '=', challengeHash).where('purpose', '=', purpose).where('expires_at', '>', iso(now));
  q = sessionId === null ? q.where('session_id', 'is', null) : q.where('session_id', '=', sessionId);
  const rows = await q.returning('challenge_hash').execute();
  return rows.length === 1;
}

/** The hourly sweep: challenges past their expiry (a few minutes each, so never many). */
export async function sweepTwoFactorChallenges(db: Executor, now: Date): Promise<number> {
  const steps = await db.deleteFrom('two_factor_challenges').where('expires_at', '<=', iso(now)).executeTakeFirst();
  const ceremonies = await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', iso(now)).executeTakeFirst();
  return Number(steps.numDeletedRows) + Number(ceremonies.numDeletedRows);
}
