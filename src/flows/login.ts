import { isValidEmail } from '../domain/email.js';
import { addMs, MS_PER_MINUTE } from '../domain/clock.js';
import { checkPasswordAtSignIn, passwordExpired } from '../domain/password-policy.js';
import { fail, type Failure, type Result } from '../domain/errors.js';
import { normalizeEmail, type Account, type Agent, type RequestContext, type Session } from '../domain/models.js';
import { findAgentByEmail, lockAgentCredentials, updateAgent } from '../store/agents.repo.js';
import { clearLoginAttempt, reserveLoginAttempt, UNKNOWN_DEVICES, type AttemptReservation } from '../store/login-attempts.repo.js';
import { issueDeviceToken, newDeviceId, trustedDeviceId } from '../security/device-tokens.js';
import { markSessionAuthenticated } from '../store/sessions.repo.js';
import { audit } from './consequences.js';
import { enqueueMail, type OutboxMessage } from '../store/outbox.repo.js';
import type { MailPreparer } from '../mail/outbox-worker.js';
import { findAccountById } from '../store/accounts.repo.js';
import type { FlowDeps } from './deps.js';
import { isTemporaryPasswordExpired, startSession, type Authenticated } from './sessions.js';

export type SignInResult = Result<
  { token: string; session: Session; agent: Agent; passwordChangeRequired: boolean; deviceToken: string },
  'invalid_credentials' | 'temporary_password_expired' | 'account_locked'
>;

/** Which lockout door a sign-in or password proof knocks on (see login-attempts.repo). */
type Door = { email: string; client: string };

/**
 * Email + password → a new session. Unknown, deactivated and wrong answers are one answer,
 * and each costs one argon2 verification, so neither the answer nor the time tells them apart.
 * The attempt is counted before the password is verified (reserveLoginAttempt), so parallel
 * guesses never get more verifications than the lockout threshold. `deviceTokens` are the
 * client's device tokens: one signed for this address puts its failures on that device's own
 * door, which a stranger cannot lock.
 */
export async function signIn(deps: FlowDeps, account: Account, input: { email: string; password: string; context: RequestContext; deviceTokens?: readonly string[] }): Promise<SignInResult> {
  const { db, clock, hasher } = deps;
  const email = normalizeEmail(input.email);
  const now = clock.now();
  // The same statements and (while unlocked) one verification on every path: known, unknown, deactivated.
  const agent = await findAgentByEmail(db, account.id, email);
  const binding = { accountId: account.id, emailNormalized: email, passwordHash: agent?.passwordHash ?? null };
  const deviceId = trustedDeviceId(deps.secretKey, binding, input.deviceTokens ?? [], now);
  const door: Door = { email, client: deviceId ?? UNKNOWN_DEVICES };
  const reservation = await reserveAttempt(deps, account, door, now);
  if (!reservation.reserved) return fail('account_locked', undefined, secondsUntil(reservation.lockedUntil, now));
  const passwordMatches = await hasher.verify(agent?.passwordHash ?? (await hasher.dummyHash()), input.password);

  if (!passwordMatches || !agent || agent.status === 'deactivated') {
    return recordFailure(deps, account, door, reservation, agent, input.context, now);
  }

  if (isTemporaryPasswordExpired(agent, now)) {
    // The right password: the reserved failure is taken back.
    await clearLoginAttempt(db, account.id, email, door.client);
    await audit(db, { accountId: account.id, type: 'login.failed', actorAgentId: null, targetAgentId: agent.id, context: input.context, details: { reason: 'temporary_password_expired' }, at: now });
    return fail('temporary_password_expired');
  }

  // Upgrade a hash made with weaker parameters while we hold the password (before the transaction).
  const upgradedHash = agent.passwordHash && hasher.needsRehash(agent.passwordHash) ? await hasher.hash(input.password) : null;
  const changeReason = agent.passwordChangeRequired ? null : reasonToRequireChange(account, agent, input.password, now);

  const started = await db.transaction().execute(async (trx) => {
    // The password was verified against a hash read before this transaction. If a reset, an
    // admin set or a deactivation committed meanwhile, this sign-in must neither open a session
    // (the change ended them all) nor write its upgraded hash over the new password.
    const current = await lockAgentCredentials(trx, account.id, agent.id);
    if (!current || current.passwordHash !== agent.passwordHash || current.status === 'deactivated') return null;
    if (upgradedHash) await updateAgent(trx, account.id, agent.id, { password_hash: upgradedHash }, now);
    if (changeReason) {
      await updateAgent(trx, account.id, agent.id, { password_change_required: 1, temporary_password_expires_at: null }, now);
      await audit(trx, { accountId: account.id, type: 'password.change_required', actorAgentId: null, targetAgentId: agent.id, context: input.context, details: { reason: changeReason }, at: now });
    }
    // Only this door opens again: a success on the owner's own browser leaves strangers locked out.
    await clearLoginAttempt(trx, account.id, email, door.client);
    const started = await startSession(trx, account, agent, input.context, now);
    await audit(trx, { accountId: account.id, type: 'login.succeeded', actorAgentId: agent.id, targetAgentId: agent.id, context: input.context, details: { device: deviceId ? 'trusted' : 'new' }, at: now });
    return started;
  });
  if (!started) return fail('invalid_credentials');
  const passwordChangeRequired = agent.passwordChangeRequired || changeReason !== null;
  // Bound to the hash now stored (an upgraded one if this sign-in rehashed).
  const deviceToken = issueDeviceToken(deps.secretKey, { ...binding, passwordHash: upgradedHash ?? agent.passwordHash }, deviceId ?? newDeviceId(), now);
  return { ok: true, token: started.token, session: started.session, agent: { ...agent, passwordChangeRequired }, passwordChangeRequired, deviceToken };
}

/**
 * Why a correct password must still be replaced right after this sign-in: it is older than the
 * account's password expiry, or the policy changed with "existing passwords that fail it must be
 * changed" and this one fails it (only now, holding the plaintext, can that be checked).
 */
function reasonToRequireChange(account: Account, agent: Agent, password: string, now: Date): 'password_expired' | 'policy_changed' | null {
  const policy = account.settings.passwordPolicy;
  if (passwordExpired(agent.passwordChangedAt, policy.expiryDays, now)) return 'password_expired';
  if (checkPasswordAtSignIn(password, policy, { email: agent.email, name: agent.name, accountName: account.name }).length > 0) return 'policy_changed';
  return null;
}

function reserveAttempt(deps: FlowDeps, account: Account, door: Door, now: Date): Promise<AttemptReservation> {
  const { lockoutThreshold, lockoutMinutes } = account.settings;
  return reserveLoginAttempt(deps.db, { accountId: account.id, ...door }, { threshold: lockoutThreshold, lockUntil: addMs(now, lockoutMinutes * MS_PER_MINUTE) }, now);
}

async function recordFailure(deps: FlowDeps, account: Account, door: Door, reservation: Reserved, agent: Agent | undefined, context: RequestContext, now: Date): Promise<SignInResult> {
  const lockedUntil = await countPasswordFailure(deps, account, door, reservation, agent, context, now, { type: 'login.failed', reason: 'invalid_credentials' });
  return lockedUntil ? fail('account_locked', undefined, secondsUntil(lockedUntil, now)) : fail('invalid_credentials');
}

type Reserved = Extract<AttemptReservation, { reserved: true }>;

/**
 * Writes the audit event of a wrong password whose failure the reservation already counted; the
 * failure that reached the threshold (exactly one per lock) also audits the lock and emails the
 * agent. Returns the end of the lock when this failure locked the door.
 */
async function countPasswordFailure(
  deps: FlowDeps,
  account: Account,
  door: Door,
  reservation: Reserved,
  agent: Agent | undefined,
  context: RequestContext,
  now: Date,
  event: { type: string; reason: string },
): Promise<Date | null> {
  const target = { targetAgentId: agent?.id ?? null, targetEmail: agent ? null : auditableEmail(door.email) };
  const lockedUntil = reservation.locks ? reservation.lockedUntil : null;
  const doorName = door.client === UNKNOWN_DEVICES ? 'unknown_devices' : door.client.startsWith(SESSION_DOOR) ? 'session' : 'device';
  await deps.db.transaction().execute(async (trx) => {
    await audit(trx, { accountId: account.id, type: event.type, actorAgentId: null, ...target, context, details: { reason: event.reason }, at: now });
    if (!lockedUntil) return;
    await audit(trx, { accountId: account.id, type: 'account.locked', actorAgentId: null, ...target, context, details: { failures: reservation.count, lockedUntil: lockedUntil.toISOString(), door: doorName }, at: now });
    // Queued for every locked address, resolved by the worker at its next round (not woken
    // now): a known address costs no extra query, and no work follows this request at once.
    await enqueueMail(trx, { accountId: account.id, recipient: door.email, template: LOCK_NOTICE_REQUEST, payload: { email: door.email, lockedUntil: lockedUntil.toISOString(), door: doorName, ip: context.ip, userAgent: context.userAgent } }, now);
  });
  return lockedUntil;
}

export type PasswordProof = { ok: true } | Failure<'current_password_incorrect' | 'account_locked'>;

/** Re-authentication has a door per session: a stolen session gets `threshold` guesses, and strangers cannot close it. */
const SESSION_DOOR = 'session:';

/**
 * Checks the signed-in agent's own password (re-authentication, change password). A wrong one
 * counts toward a lockout of this session's own, reserved before verifying like sign-in, so a
 * stolen session cannot guess it without limit; while locked, the answer is 423 whatever the password.
 */
export async function proveOwnPassword(deps: FlowDeps, auth: Authenticated, password: string, context: RequestContext, failedEventType: 'reauthentication.failed' | 'password.change_failed'): Promise<PasswordProof> {
  const { agent, account } = auth;
  const door: Door = { email: normalizeEmail(agent.email), client: SESSION_DOOR + auth.session.id };
  const now = deps.clock.now();
  const reservation = await reserveAttempt(deps, account, door, now);
  if (!reservation.reserved) return fail('account_locked', undefined, secondsUntil(reservation.lockedUntil, now));
  const matches = agent.passwordHash ? await deps.hasher.verify(agent.passwordHash, password) : false;
  if (matches) {
    await clearLoginAttempt(deps.db, account.id, door.email, door.client);
    return { ok: true };
  }
  const lockedUntil = await countPasswordFailure(deps, account, door, reservation, agent, context, now, { type: failedEventType, reason: 'current_password_incorrect' });
  return lockedUntil ? fail('account_locked', undefined, secondsUntil(lockedUntil, now)) : fail('current_password_incorrect');
}

/**
 * What the audit log keeps of an address no agent has: the address, if it is one. People type
 * their password into the email field; that text is not an address and is not kept.
 */
export function auditableEmail(typed: string): string | null {
  return isValidEmail(typed) ? typed : null;
}

function secondsUntil(at: Date, now: Date): number {
  return Math.max(1, Math.ceil((at.getTime() - now.getTime()) / 1000));
}

/** Proves the password again: the session counts as freshly authenticated for 10 minutes. */
export async function reauthenticate(deps: FlowDeps, auth: Authenticated, password: string, context: RequestContext): Promise<Result<object, 'current_password_incorrect' | 'account_locked'>> {
  const proof = await proveOwnPassword(deps, auth, password, context, 'reauthentication.failed');
  if (!proof.ok) return proof;
  await markSessionAuthenticated(deps.db, auth.session.id, deps.clock.now());
  return { ok: true };
}

export const LOCK_NOTICE_REQUEST = 'account_locked_request';

/** Turns a queued lock notice into an email to the agent who has the address, if any and not deactivated. */
export function lockNoticePreparer(deps: Pick<FlowDeps, 'db'>): MailPreparer {
  return async (message: OutboxMessage) => {
    const payload = message.payload as { email: string; lockedUntil: string; door?: string; ip: string | null; userAgent: string | null };
    const account = await findAccountById(deps.db, message.accountId);
    const agent = account && (await findAgentByEmail(deps.db, account.id, payload.email));
    if (!account || !agent || agent.status === 'deactivated') return { send: false };
    return {
      send: true,
      recipient: agent.email,
      template: 'account_locked',
      payload: { agentName: agent.name, accountName: account.name, lockedUntil: payload.lockedUntil, door: payload.door ?? 'unknown_devices', ip: payload.ip, userAgent: payload.userAgent },
    };
  };
}
