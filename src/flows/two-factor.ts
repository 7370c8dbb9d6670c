import { randomBytes } from 'node:crypto';
import { twoFactorRequiredFor } from '../domain/account-settings.js';
import { fail, type Failure, type Result } from '../domain/errors.js';
import type { Account, Agent, RequestContext } from '../domain/models.js';
import { acceptTotpCode, newTotpSecret, normalizeTotpCode, totpUri } from '../domain/totp.js';
import { keyedHash, seal, unseal } from '../security/sealed.js';
import { newId } from '../security/tokens.js';
import type { Executor } from '../store/db.js';
import { isUniqueViolation } from '../store/dialect.js';
import {
  confirmTotp,
  countRecoveryCodes,
  deletePasskey,
  deletePasskeys,
  endAgentChallenges,
  findPasskeyByCredentialId,
  deleteRecoveryCodes,
  deleteTotp,
  findTotp,
  insertPasskey,
  insertPendingTotp,
  listPasskeys,
  refreshTwoFactorEnabled,
  replaceRecoveryCodes,
  useRecoveryCode,
  useTotpStep,
  type TotpRecord,
} from '../store/two-factor.repo.js';
import { lockAgentForChange } from '../store/agents.repo.js';
import { deleteAgentSessions, lockLiveSession } from '../store/sessions.repo.js';
import { audit, queueMail } from './consequences.js';
import type { FlowDeps } from './deps.js';
import { registrationOptions, verifyAssertion, verifyRegistration } from './passkeys.js';
import { isFresh, type Authenticated } from './sessions.js';

/**
 * The agent's own second factors: an authenticator app (TOTP), passkeys, and recovery codes
 * (API.md "Second factor"). Every change needs a fresh session (ASVS 7.5.1: the password, and
 * the factor when there is one, proved in the last 10 minutes), is audited and emailed, and the
 * emails and audit events never carry a secret or a code.
 */

const TOTP_SEAL = 'deskpass/totp-secret/v1';
const RECOVERY_CODE_HASH = 'deskpass/recovery-code/v1';
export const RECOVERY_CODE_COUNT = 10;
/** 16 characters of a 32-letter alphabet: 80 bits each (the issue asks for at least 64) */
const RECOVERY_CODE_CHARS = 16;
// Crockford's base32: no i, l, o, u, so what is read out over the phone is what was written down.
const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export type SecondFactorMethod = 'totp' | 'passkey' | 'recovery_code';

export interface TwoFactorStatus {
  enabled: boolean;
  required: boolean;
  totp: { confirmedAt: Date } | null;
  passkeys: { id: string; name: string; createdAt: Date; lastUsedAt: Date | null }[];
  recoveryCodesRemaining: number;
}

export async function twoFactorStatus(deps: FlowDeps, auth: Pick<Authenticated, 'account' | 'agent'>): Promise<TwoFactorStatus> {
  const { agent, account } = auth;
  const [{ active }, passkeys, recoveryCodesRemaining] = await Promise.all([findTotp(deps.db, agent.id), listPasskeys(deps.db, agent.id), countRecoveryCodes(deps.db, agent.id)]);
  return {
    enabled: active !== null || passkeys.length > 0,
    required: twoFactorRequiredFor(account.settings, agent),
    totp: active?.confirmedAt ? { confirmedAt: active.confirmedAt } : null,
    passkeys: passkeys.map((p) => ({ id: p.id, name: p.name, createdAt: p.createdAt, lastUsedAt: p.lastUsedAt })),
    recoveryCodesRemaining,
  };
}

/** The methods the second step of this agent's sign-in offers. */
export async function methodsOf(db: Executor, agentId: string): Promise<SecondFactorMethod[]> {
  const [{ active }, passkeys, codes] = await Promise.all([findTotp(db, agentId), listPasskeys(db, agentId), countRecoveryCodes(db, agentId)]);
  const methods: SecondFactorMethod[] = [];
  if (active) methods.push('totp');
  if (passkeys.length > 0) methods.push('passkey');
  if (codes > 0) methods.push('recovery_code');
  return methods;
}

function requireFresh(deps: FlowDeps, auth: Authenticated): Failure<'reauthentication_required'> | null {
  return isFresh(auth.session, deps.clock.now()) ? null : fail('reauthentication_required');
}

// ---- authenticator app

/** A new secret, not yet active: the agent's app shows codes for it, and the first code confirms it. */
export async function beginTotpEnrolment(deps: FlowDeps, auth: Authenticated): Promise<Result<{ secret: string; otpauthUri: string }, 'reauthentication_required'>> {
  const stale = requireFresh(deps, auth);
  if (stale) return stale;
  const secret = newTotpSecret();
  const id = newId();
  await insertPendingTotp(deps.db, { id, accountId: auth.account.id, agentId: auth.agent.id, sessionId: auth.session.id, sealedSecret: seal(deps.secretKey, TOTP_SEAL, secret, id), now: deps.clock.now() });
  return { ok: true, secret, otpauthUri: totpUri(secret, `${auth.account.name} (Deskpass)`, auth.agent.email) };
}

/** A pending authenticator waits this long for its first code; then the agent starts again. */
export const PENDING_TOTP_LIFETIME_MS = 15 * 60_000;

/**
 * The authenticator this session is setting up and its secret, when it is not older than
 * PENDING_TOTP_LIFETIME_MS: another session of the agent (a stolen one among them) neither sees
 * nor confirms it, and neither does this one once its sign-in is older than 10 minutes.
 */
async function ownPendingTotp(deps: FlowDeps, auth: Authenticated): Promise<{ record: TotpRecord; secret: string } | null> {
  if (!isFresh(auth.session, deps.clock.now())) return null;
  const { pending } = await findTotp(deps.db, auth.agent.id);
  if (!pending || pending.sessionId !== auth.session.id || deps.clock.now().getTime() - pending.createdAt.getTime() > PENDING_TOTP_LIFETIME_MS) return null;
  const secret = openSecret(deps, pending);
  return secret ? { record: pending, secret } : null;
}

/** The authenticator the agent is setting up, to show again (the QR code and the key) until its first code confirms it. */
export async function pendingTotpEnrolment(deps: FlowDeps, auth: Authenticated): Promise<{ secret: string; otpauthUri: string } | null> {
  const pending = await ownPendingTotp(deps, auth);
  return pending ? { secret: pending.secret, otpauthUri: totpUri(pending.secret, `${auth.account.name} (Deskpass)`, auth.agent.email) } : null;
}

function openSecret(deps: FlowDeps, record: { id: string; sealedSecret: string }): string {
  const secret = unseal(deps.secretKey, TOTP_SEAL, record.sealedSecret, record.id);
  // A secret that does not open (another SECRET_KEY) accepts no code: the agent must enrol again.
  return secret ?? '';
}

/**
 * The first code from the app makes the pending secret the agent's authenticator (replacing an
 * older one). The agent's first factor also brings ten recovery codes, returned only here.
 */
export async function confirmTotpEnrolment(deps: FlowDeps, auth: Authenticated, code: string, context: RequestContext): Promise<Result<{ recoveryCodes?: string[] }, 'two_factor_code_incorrect' | 'reauthentication_required'>> {
  const { agent, account } = auth;
  const stale = requireFresh(deps, auth);
  if (stale) return stale;
  const own = await ownPendingTotp(deps, auth);
  const now = deps.clock.now();
  const step = own ? acceptTotpCode(own.secret, code, now, null) : null;
  if (!own || step === null) return fail('two_factor_code_incorrect');
  const pending = own.record;
  const recoveryCodes = newRecoveryCodes();
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const current = await lockAgentForChange(trx, account.id, agent.id);
    // the session must still be live: a reset (or a sign-out everywhere) meanwhile wins
    if (!current || current.status === 'deactivated' || !(await lockLiveSession(trx, auth.session.id, now))) return null;
    const replaced = (await findTotp(trx, agent.id)).active !== null;
    if (!(await confirmTotp(trx, agent.id, pending.id, step, now))) return null;
    const first = !current.twoFactorEnabled;
    if (first) await storeRecoveryCodes(deps, trx, account, agent, recoveryCodes, now);
    await refreshTwoFactorEnabled(trx, agent.id);
    await audit(trx, { accountId: account.id, type: 'two_factor.enabled', actorAgentId: agent.id, targetAgentId: agent.id, context, details: { method: 'totp', replaced }, at: now });
    await notify(trx, account, agent, { change: replaced ? 'totp_replaced' : 'totp_added' }, context, now);
    return { first };
  });
  if (!outcome) return fail('two_factor_code_incorrect');
  deps.notifyMailQueued();
  return { ok: true, ...(outcome.first ? { recoveryCodes } : {}) };
}

export async function removeTotp(deps: FlowDeps, auth: Authenticated, context: RequestContext): Promise<Result<object, 'reauthentication_required' | 'two_factor_required' | 'not_found'>> {
  const stale = requireFresh(deps, auth);
  if (stale) return stale;
  return removeFactor(deps, auth, context, async (trx) => ((await deleteTotp(trx, auth.agent.id)) > 0 ? { type: 'two_factor.disabled', details: { method: 'totp' }, change: 'totp_removed' } : null));
}

export async function removeOwnPasskey(deps: FlowDeps, auth: Authenticated, passkeyId: string, context: RequestContext): Promise<Result<object, 'reauthentication_required' | 'two_factor_required' | 'not_found'>> {
  const stale = requireFresh(deps, auth);
  if (stale) return stale;
  return removeFactor(deps, auth, context, async (trx) => {
    const removed = await deletePasskey(trx, auth.agent.id, passkeyId);
    return removed ? { type: 'passkey.removed', details: { passkeyId: removed.id, name: removed.name }, change: 'passkey_removed', passkeyName: removed.name } : null;
  });
}

type Removal = { type: string; details: Record<string, unknown>; change: string; passkeyName?: string };

/**
 * Removes one factor in a transaction that holds the agent's row: when the account requires a
 * factor of this agent, the last one stays (409 two_factor_required, nothing removed); the last
 * one's recovery codes go with it (they would otherwise be a factor of their own).
 */
async function removeFactor(deps: FlowDeps, auth: Authenticated, context: RequestContext, remove: (trx: Executor) => Promise<Removal | null>): Promise<Result<object, 'two_factor_required' | 'not_found'>> {
  const { account, agent } = auth;
  const now = deps.clock.now();
  const outcome = await deps.db.transaction().execute(async (trx) => {
    await lockAgentForChange(trx, account.id, agent.id);
    const removal = await remove(trx);
    if (!removal) return 'not_found' as const;
    const stillEnabled = await refreshTwoFactorEnabled(trx, agent.id);
    if (!stillEnabled && twoFactorRequiredFor(account.settings, agent)) throw new KeepLastFactor();
    if (!stillEnabled) await deleteRecoveryCodes(trx, agent.id);
    await audit(trx, { accountId: account.id, type: removal.type, actorAgentId: agent.id, targetAgentId: agent.id, context, details: { ...removal.details, lastFactor: !stillEnabled }, at: now });
    // the last passkey going is two-factor going, as the authenticator's removal is
    if (!stillEnabled && removal.type !== 'two_factor.disabled') await audit(trx, { accountId: account.id, type: 'two_factor.disabled', actorAgentId: agent.id, targetAgentId: agent.id, context, details: { method: 'passkey', lastFactor: true }, at: now });
    await notify(trx, account, agent, { change: removal.change, passkeyName: removal.passkeyName ?? null, lastFactor: !stillEnabled }, context, now);
    return 'done' as const;
  }).catch((error: unknown) => {
    if (error instanceof KeepLastFactor) return 'last' as const;
    throw error;
  });
  if (outcome === 'not_found') return fail('not_found');
  if (outcome === 'last') return fail('two_factor_required');
  deps.notifyMailQueued();
  return { ok: true };
}

/** Rolls the removal back: the account requires the factor being removed. */
class KeepLastFactor extends Error {}

// ---- passkeys

export async function passkeyRegistrationOptions(deps: FlowDeps, auth: Authenticated): Promise<Result<{ options: unknown }, 'reauthentication_required'>> {
  const stale = requireFresh(deps, auth);
  if (stale) return stale;
  return { ok: true, options: await registrationOptions(deps, auth.account, auth.agent, auth.session.id) };
}

export async function addPasskey(
  deps: FlowDeps,
  auth: Authenticated,
  input: { name: string; response: unknown; context: RequestContext },
): Promise<Result<{ passkey: { id: string; name: string; createdAt: Date }; recoveryCodes?: string[] }, 'passkey_invalid'>> {
  const { account, agent } = auth;
  const credential = await verifyRegistration(deps, auth.session.id, input.response);
  if (!credential) return fail('passkey_invalid');
  const now = deps.clock.now();
  const passkey = { id: newId(), accountId: account.id, agentId: agent.id, ...credential, name: input.name.trim(), createdAt: now };
  const recoveryCodes = newRecoveryCodes();
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const current = await lockAgentForChange(trx, account.id, agent.id);
    // the session must still be live: an administrator's reset that ended it while the passkey
    // was being verified must not be followed by a passkey (and fresh recovery codes) it never saw
    if (!current || current.status === 'deactivated' || !(await lockLiveSession(trx, auth.session.id, now))) return null;
    if (await findPasskeyByCredentialId(trx, credential.credentialId)) return null;
    await insertPasskey(trx, passkey);
    const first = !current.twoFactorEnabled;
    if (first) await storeRecoveryCodes(deps, trx, account, agent, recoveryCodes, now);
    await refreshTwoFactorEnabled(trx, agent.id);
    await audit(trx, { accountId: account.id, type: 'passkey.added', actorAgentId: agent.id, targetAgentId: agent.id, context: input.context, details: { passkeyId: passkey.id, name: passkey.name, deviceType: credential.deviceType, backedUp: credential.backedUp }, at: now });
    if (first) await audit(trx, { accountId: account.id, type: 'two_factor.enabled', actorAgentId: agent.id, targetAgentId: agent.id, context: input.context, details: { method: 'passkey' }, at: now });
    await notify(trx, account, agent, { change: 'passkey_added', passkeyName: passkey.name }, input.context, now);
    return { first };
  }).catch((error: unknown) => {
    // Two agents registering one credential id at once (a "none" attestation proves nothing
    // about it) both pass the check above; the unique index refuses the second: the same answer.
    if (isUniqueViolation(error)) return null;
    throw error;
  });
  if (!outcome) return fail('passkey_invalid');
  deps.notifyMailQueued();
  return { ok: true, passkey: { id: passkey.id, name: passkey.name, createdAt: now }, ...(outcome.first ? { recoveryCodes } : {}) };
}

// ---- recovery codes

function newRecoveryCode(): string {
  const bytes = randomBytes(RECOVERY_CODE_CHARS);
  let code = '';
  // 256 is a multiple of 32: every letter equally likely
  for (const byte of bytes) code += RECOVERY_ALPHABET[byte % RECOVERY_ALPHABET.length];
  return code.match(/.{4}/g)!.join('-');
}

function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
}

/** A recovery code as typed: case, spaces and dashes do not matter, and Crockford's look-alikes (o, i, l) read as 0 and 1. */
export function normalizeRecoveryCode(typed: string): string | null {
  const plain = typed.toLowerCase().replace(/[\s-]/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  return plain.length === RECOVERY_CODE_CHARS && [...plain].every((c) => RECOVERY_ALPHABET.includes(c)) ? plain : null;
}

function recoveryCodeHash(deps: Pick<FlowDeps, 'secretKey'>, agentId: string, normalized: string): string {
  return keyedHash(deps.secretKey, RECOVERY_CODE_HASH, `${agentId}:${normalized}`);
}

async function storeRecoveryCodes(deps: FlowDeps, trx: Executor, account: Account, agent: Agent, codes: readonly string[], now: Date): Promise<void> {
  const hashes = codes.map((code) => recoveryCodeHash(deps, agent.id, normalizeRecoveryCode(code)!));
  await replaceRecoveryCodes(trx, { accountId: account.id, agentId: agent.id, hashes, ids: codes.map(() => newId()), now });
}

/** Ten new codes; the old ones die. Only for an agent with a factor (codes alone are no second factor). */
export async function regenerateRecoveryCodes(deps: FlowDeps, auth: Authenticated, context: RequestContext): Promise<Result<{ recoveryCodes: string[] }, 'reauthentication_required' | 'two_factor_not_enabled'>> {
  const stale = requireFresh(deps, auth);
  if (stale) return stale;
  const { account, agent } = auth;
  const recoveryCodes = newRecoveryCodes();
  const now = deps.clock.now();
  const done = await deps.db.transaction().execute(async (trx) => {
    const current = await lockAgentForChange(trx, account.id, agent.id);
    if (!current?.twoFactorEnabled || !(await lockLiveSession(trx, auth.session.id, now))) return false;
    await storeRecoveryCodes(deps, trx, account, agent, recoveryCodes, now);
    await audit(trx, { accountId: account.id, type: 'two_factor.recovery_codes_regenerated', actorAgentId: agent.id, targetAgentId: agent.id, context, details: { count: RECOVERY_CODE_COUNT }, at: now });
    await notify(trx, account, agent, { change: 'recovery_codes_regenerated' }, context, now);
    return true;
  });
  if (!done) return fail('two_factor_not_enabled', [{ reason: 'own_factor_missing' }]);
  deps.notifyMailQueued();
  return { ok: true, recoveryCodes };
}

// ---- proving a factor (the second step of a sign-in, re-authentication)

export type FactorProof = { code: string } | { recoveryCode: string } | { passkey: unknown };

/** One field that takes either (re-authentication, a password change): six digits are an authenticator code, anything else a recovery code. */
export function proofOfCode(typed: string): FactorProof {
  return normalizeTotpCode(typed) ? { code: typed } : { recoveryCode: typed };
}

/**
 * Checks one proof of the agent's second factor and spends it: a TOTP code's step (a replay is
 * refused), a recovery code (used once; its use is audited and emailed with the count left), a
 * passkey assertion (its challenge and counter). Returns the method that succeeded, or null.
 * The caller has already reserved the attempt on the lockout door.
 */
export async function proveSecondFactor(deps: FlowDeps, account: Account, agent: Agent, proof: FactorProof, context: RequestContext): Promise<SecondFactorMethod | null> {
  const now = deps.clock.now();
  if ('code' in proof) {
    const { active } = await findTotp(deps.db, agent.id);
    const secret = active ? openSecret(deps, active) : '';
    const step = active && secret ? acceptTotpCode(secret, proof.code, now, active.lastUsedStep) : null;
    return active && step !== null && (await useTotpStep(deps.db, active.id, step)) ? 'totp' : null;
  }
  if ('recoveryCode' in proof) {
    const normalized = normalizeRecoveryCode(proof.recoveryCode);
    if (!normalized) return null;
    const used = await deps.db.transaction().execute(async (trx) => {
      if (!(await useRecoveryCode(trx, agent.id, recoveryCodeHash(deps, agent.id, normalized), now))) return false;
      const remaining = await countRecoveryCodes(trx, agent.id);
      await audit(trx, { accountId: account.id, type: 'two_factor.recovery_code_used', actorAgentId: agent.id, targetAgentId: agent.id, context, details: { remaining }, at: now });
      await notify(trx, account, agent, { change: 'recovery_code_used', remaining }, context, now);
      return true;
    });
    if (used) deps.notifyMailQueued();
    return used ? 'recovery_code' : null;
  }
  return (await verifyAssertion(deps, proof.passkey, agent.id)) ? 'passkey' : null;
}

/**
 * Every factor of the agent goes (authenticator, pending enrolment, passkeys, recovery codes),
 * every open second step dies, and every session ends (and with them the apps' sessions), in the
 * caller's transaction: an administrator's reset and the operator's last resort. Returns whether
 * the agent had a factor.
 */
export async function removeAllFactors(trx: Executor, agentId: string, now: Date): Promise<boolean> {
  const totp = await deleteTotp(trx, agentId, 'pending');
  const passkeys = await deletePasskeys(trx, agentId);
  await deleteRecoveryCodes(trx, agentId);
  await refreshTwoFactorEnabled(trx, agentId);
  await endAgentChallenges(trx, agentId, now);
  await deleteAgentSessions(trx, agentId, 'two_factor_reset', now);
  return totp + passkeys > 0;
}

/** Queues the email that tells the agent a factor changed (never a secret, a code or a key). */
export async function notify(
  trx: Executor,
  account: Account,
  agent: Agent,
  fields: { change: string; passkeyName?: string | null; remaining?: number; lastFactor?: boolean; byName?: string | null; byRole?: string | null },
  context: RequestContext,
  now: Date,
): Promise<void> {
  await queueMail(trx, account.id, agent.email, 'two_factor_changed', {
    agentName: agent.name,
    accountName: account.name,
    change: fields.change,
    passkeyName: fields.passkeyName ?? null,
    remaining: fields.remaining ?? null,
    lastFactor: fields.lastFactor ?? false,
    byName: fields.byName ?? null,
    byRole: fields.byRole ?? null,
    changedAt: now.toISOString(),
    ip: context.ip,
    userAgent: context.userAgent,
  }, now);
}


