import { isValidEmail } from '../domain/email.js';
import { addMs, MS_PER_MINUTE } from '../domain/clock.js';
import { passwordExpired } from '../domain/password-policy.js';
import { fail, type ErrorCode, type Failure, type Result } from '../domain/errors.js';
import { normalizeEmail, type Account, type Agent, type AuthenticationMethod, type RequestContext, type Session } from '../domain/models.js';
import { findAgentByEmail, findAgentById, lockAgentCredentials, recordSignIn, updateAgent } from '../store/agents.repo.js';
import { clearLoginAttempt, releaseLoginAttempt, reserveLoginAttempt, UNKNOWN_DEVICES, type AttemptReservation } from '../store/login-attempts.repo.js';
import { issueDeviceToken, newDeviceId, trustedDeviceId } from '../security/device-tokens.js';
import { markSessionAuthenticated, sessionRowOf } from '../store/sessions.repo.js';
import { auditRowOf, type NewAuditEvent } from '../store/audit.repo.js';
import { admitInOneStatement, admitsInOneStatement } from '../store/sign-in-admission.repo.js';
import { audit, tellAuditObservers } from './consequences.js';
import { enqueueMail, type OutboxMessage } from '../store/outbox.repo.js';
import type { MailPreparer } from '../mail/outbox-worker.js';
import { findAccountById } from '../store/accounts.repo.js';
import type { FlowDeps } from './deps.js';
import type { Executor } from '../store/db.js';
import { keyedHash } from '../security/sealed.js';
import { hashToken, isWellFormedToken, newRandomToken } from '../security/tokens.js';
import { findLiveChallenge, findPasskeyByCredentialId, insertChallenge, passkeyStillRegistered, useChallenge } from '../store/two-factor.repo.js';
import { methodsOf, proofOfCode, proveSecondFactor, type FactorProof, type SecondFactorMethod } from './two-factor.js';
import { claimedCredentialId, spendChallengeOf, verifyAssertion } from './passkeys.js';
import { isFresh, isTemporaryPasswordExpired, newSession, startSession, type Authenticated } from './sessions.js';
import { policyViolationsAtSignIn } from './password-rules.js';

/** A session: the sign-in is complete. */
export interface SignedIn {
  ok: true;
  kind: 'session';
  token: string;
  session: Session;
  agent: Agent;
  passwordChangeRequired: boolean;
  deviceToken: string;
  /** the lock of the agent's unknown-devices door (the agent object's `locked`) as this sign-in left it, when it knows it without a read: null when it came through that door, which it cleared */
  agentLockedUntil?: Date | null;
}

/** The password was right and the agent has a second factor: no session yet, a challenge for the second step. */
export interface SecondStepNeeded {
  ok: true;
  kind: 'two_factor';
  challenge: string;
  methods: SecondFactorMethod[];
  expiresAt: Date;
  agent: Agent;
}

export type SignInResult = Result<SignedIn | SecondStepNeeded, 'invalid_credentials' | 'temporary_password_expired' | 'account_locked'>;

/** Which lockout door a sign-in or password proof knocks on (see login-attempts.repo). */
type Door = { email: string; client: string };

/** How long the second step waits for its factor (API.md: a challenge older than 5 minutes is invalid). */
export const CHALLENGE_LIFETIME_MS = 5 * MS_PER_MINUTE;
const CHALLENGE_HASH = 'deskpass/two-factor-challenge/v1';

/**
 * Email + password: the first step of the one gate (DESIGN.md "One gate"), which every way in
 * goes through (the portal, the API, reset and invitation links and one-time passwords, which
 * all end at this sign-in, and an app's sign-in, which is the portal's). Unknown, deactivated
 * and wrong answers are one answer, and each costs one argon2 verification, so neither the
 * answer nor the time tells them apart. The attempt is counted before the password is verified
 * (reserveLoginAttempt), so parallel guesses never get more verifications than the lockout
 * threshold. `deviceTokens` are the client's device tokens: one signed for this address puts its
 * failures on that device's own door, which a stranger cannot lock. An agent with a second factor
 * gets a challenge, not a session (completeSecondStep); the failures counted so far stay counted.
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
    return refuseAttempt(deps, account, door, reservation, agent, input.context, now, { type: 'login.failed', reason: 'invalid_credentials' }, 'invalid_credentials');
  }

  return givingBackOnError(deps, account, door, reservation, () => afterRightPassword(deps, account, agent, { door, deviceId, lockedByThis: reservation.locks, password: input.password, context: input.context, now }));
}

/** A right password of an active agent: the session, or the second step's challenge. */
async function afterRightPassword(
  deps: FlowDeps,
  account: Account,
  agent: Agent,
  input: { door: Door; deviceId: string | null; lockedByThis: boolean; password: string; context: RequestContext; now: Date },
): Promise<SignInResult> {
  const { hasher } = deps;
  const { door, deviceId, now } = input;
  if (isTemporaryPasswordExpired(agent, now)) return refuseExpiredTemporaryPassword(deps, account, agent, door, input.lockedByThis, input.context, now);

  // Upgrade a hash made with weaker parameters while we hold the password (before the transaction).
  const upgradedHash = agent.passwordHash && hasher.needsRehash(agent.passwordHash) ? await hasher.hash(input.password) : null;
  const changeReason = agent.passwordChangeRequired ? null : await reasonToRequireChange(account, agent, input.password, now);
  // Written with the admission (a session, or the second step's challenge), on the row as it is
  // then; none for most sign-ins, whose admission is then one statement on PostgreSQL.
  const alongside =
    upgradedHash || changeReason
      ? async (trx: Executor) => {
          if (upgradedHash) await updateAgent(trx, account.id, agent.id, { password_hash: upgradedHash }, now);
          if (changeReason) {
            await updateAgent(trx, account.id, agent.id, { password_change_required: 1, temporary_password_expires_at: null }, now);
            await audit(trx, { accountId: account.id, type: 'password.change_required', actorAgentId: null, targetAgentId: agent.id, context: input.context, details: { reason: changeReason }, at: now });
          }
        }
      : undefined;
  const passwordHash = upgradedHash ?? agent.passwordHash;
  const signedInAgent = { ...agent, passwordChangeRequired: agent.passwordChangeRequired || changeReason !== null };

  if (agent.twoFactorEnabled) {
    const challenge = await openSecondStep(deps, account, signedInAgent, { door, deviceId, lockedByThis: input.lockedByThis, expectedHash: agent.passwordHash, newHash: passwordHash, alongside, now });
    return challenge ?? fail('invalid_credentials');
  }
  const signedIn = await admit(deps, account, signedInAgent, { door, deviceId, amr: ['pwd'], expectedHash: agent.passwordHash, newHash: passwordHash, alongside, context: input.context, details: {}, now });
  return signedIn ?? fail('invalid_credentials');
}

/** thrown inside admit's transaction to roll it back: the row changed under the proof */
const NOT_ADMITTED = new Error('not admitted: the credentials changed under the proof');

interface Admission {
  door: Door;
  deviceId: string | null;
  /** the password hash the proof was checked against: a change committed meanwhile wins */
  expectedHash: string | null;
  /** the hash stored once admitted (an upgraded one if this sign-in rehashed) */
  newHash: string | null;
  alongside?: (trx: Executor) => Promise<void>;
  now: Date;
}

/**
 * The end of the gate, for every way in: in one transaction on the agent's row as it is now
 * (a reset, an admin set or a deactivation that committed while the proof was verified wins),
 * the door the proof came through opens again, a session starts, and the sign-in is audited.
 * Null when the row changed under the proof.
 */
async function admit(
  deps: FlowDeps,
  account: Account,
  agent: Agent,
  args: Admission & { amr: AuthenticationMethod[]; context: RequestContext; details: Record<string, unknown>; before?: (trx: Executor) => Promise<boolean> },
): Promise<SignedIn | null> {
  const { door, now } = args;
  const event: NewAuditEvent = { accountId: account.id, type: 'login.succeeded', actorAgentId: agent.id, targetAgentId: agent.id, context: args.context, details: { device: args.deviceId ? 'trusted' : 'new', ...args.details }, at: now };
  // Nothing else to write in its commit (no rehash, no required change, no challenge to spend):
  // on PostgreSQL the whole admission is one statement, with the same conditions and rows.
  if (!args.before && !args.alongside && admitsInOneStatement(deps.db)) {
    const started = newSession(account, agent, args.context, now, args.amr);
    const admission = { accountId: account.id, agentId: agent.id, expectedHash: args.expectedHash, doorEmail: door.email, doorClient: door.client };
    if (!(await admitInOneStatement(deps.db, admission, sessionRowOf(started.session, hashToken(started.token)), auditRowOf(event)))) return null;
    tellAuditObservers(event);
    return signedInAs(deps, account, agent, args, started);
  }
  const started = await deps.db
    .transaction()
    .execute(async (trx) => {
      // the row as it is now, held on PostgreSQL; a change under the proof rolls all of it back
      const current = await recordSignIn(trx, account.id, agent.id, now);
      if (!current || current.passwordHash !== args.expectedHash || current.status === 'deactivated') throw NOT_ADMITTED;
      if (args.before && !(await args.before(trx))) throw NOT_ADMITTED;
      await args.alongside?.(trx);
      // Only this door opens again: a success on the owner's own browser leaves strangers locked out.
      await clearLoginAttempt(trx, account.id, door.email, door.client);
      const started = await startSession(trx, account, agent, args.context, now, args.amr);
      await audit(trx, event);
      return started;
    })
    .catch((error: unknown) => {
      if (error === NOT_ADMITTED) return null;
      throw error;
    });
  return started && signedInAs(deps, account, agent, args, started);
}

/** The answer to an admitted sign-in: its session, and a device token for its door. */
function signedInAs(deps: FlowDeps, account: Account, agent: Agent, args: Admission, started: { token: string; session: Session }): SignedIn {
  const { door, now } = args;
  // Bound to the hash now stored (an upgraded one if this sign-in rehashed).
  const binding = { accountId: account.id, emailNormalized: door.email, passwordHash: args.newHash };
  const deviceToken = issueDeviceToken(deps.secretKey, binding, args.deviceId ?? newDeviceId(), now);
  const agentLockedUntil = door.client === UNKNOWN_DEVICES ? null : undefined;
  return { ok: true, kind: 'session', token: started.token, session: started.session, agent, passwordChangeRequired: agent.passwordChangeRequired, deviceToken, agentLockedUntil };
}

/**
 * A right password of an agent with a second factor: the failure its reservation counted is
 * given back (the earlier ones stay: knowing the password must not reset the count between
 * guesses of the code), and a challenge is stored as a keyed hash with the door, the device and
 * a fingerprint of the password hash. Null when the row changed under the proof.
 */
async function openSecondStep(
  deps: FlowDeps,
  account: Account,
  agent: Agent,
  args: Admission & { lockedByThis: boolean },
): Promise<SecondStepNeeded | null> {
  const challenge = newRandomToken();
  const expiresAt = addMs(args.now, CHALLENGE_LIFETIME_MS);
  // Everything the answer needs is read inside: once this commits (its door's reservation given
  // back with it), nothing may fail and give it back a second time (givingBackOnError).
  const methods = await deps.db.transaction().execute(async (trx) => {
    const current = await lockAgentCredentials(trx, account.id, agent.id);
    if (!current || current.passwordHash !== args.expectedHash || current.status === 'deactivated') return null;
    await args.alongside?.(trx);
    await releaseLoginAttempt(trx, { accountId: account.id, ...args.door }, args.lockedByThis);
    await insertChallenge(trx, {
      idHash: keyedHash(deps.secretKey, CHALLENGE_HASH, challenge),
      accountId: account.id,
      agentId: agent.id,
      doorClient: args.door.client,
      deviceId: args.deviceId,
      credentialFingerprint: fingerprint(args.newHash),
      expiresAt,
      now: args.now,
    });
    return methodsOf(trx, agent.id);
  });
  if (!methods) return null;
  return { ok: true, kind: 'two_factor', challenge, methods, expiresAt, agent };
}

function fingerprint(passwordHash: string | null): string {
  return hashToken(passwordHash ?? '');
}

const AMR_OF: Record<SecondFactorMethod, AuthenticationMethod[]> = {
  totp: ['pwd', 'otp', 'mfa'],
  recovery_code: ['pwd', 'otp', 'mfa'],
  passkey: ['pwd', 'hwk', 'mfa'],
};

export type SecondStepResult = Result<SignedIn, 'two_factor_challenge_invalid' | 'two_factor_code_incorrect' | 'account_locked'>;

/**
 * The second step: a live challenge and one proof of the agent's factor (a code, a recovery code
 * or a passkey) → the session. A wrong proof counts on the door the password came through, with
 * the same atomic reservation as a password (parallel guesses get at most the threshold), and
 * locks it like wrong passwords do. The challenge is used once, by the first right proof.
 */
export async function completeSecondStep(deps: FlowDeps, account: Account, input: { challenge: string; proof: FactorProof; context: RequestContext }): Promise<SecondStepResult> {
  const now = deps.clock.now();
  const idHash = keyedHash(deps.secretKey, CHALLENGE_HASH, input.challenge);
  const challenge = isWellFormedToken(input.challenge) ? await findLiveChallenge(deps.db, idHash, now) : undefined;
  const agent = challenge && challenge.accountId === account.id ? await findAgentById(deps.db, account.id, challenge.agentId) : undefined;
  // A challenge proved with a one-time password dies with it: no session opens past its expiry.
  if (!challenge || !agent || agent.status === 'deactivated' || fingerprint(agent.passwordHash) !== challenge.credentialFingerprint || isTemporaryPasswordExpired(agent, now)) return fail('two_factor_challenge_invalid');
  const door: Door = { email: normalizeEmail(agent.email), client: challenge.doorClient };
  const reservation = await reserveAttempt(deps, account, door, now);
  if (!reservation.reserved) return fail('account_locked', undefined, secondsUntil(reservation.lockedUntil, now));
  const method = await proveSecondFactor(deps, account, agent, input.proof, input.context);
  if (!method) {
    const proofMethod = 'code' in input.proof ? 'totp' : 'recoveryCode' in input.proof ? 'recovery_code' : 'passkey';
    return refuseAttempt(deps, account, door, reservation, agent, input.context, now, { type: 'login.two_factor_failed', reason: proofMethod }, 'two_factor_code_incorrect');
  }
  const signedIn = await givingBackOnError(deps, account, door, reservation, () => admit(deps, account, agent, {
    door,
    deviceId: challenge.deviceId,
    expectedHash: agent.passwordHash,
    newHash: agent.passwordHash,
    amr: AMR_OF[method],
    context: input.context,
    details: { secondFactor: method },
    now,
    before: (trx) => useChallenge(trx, idHash, now),
  }));
  return signedIn ?? fail('two_factor_challenge_invalid');
}

/** The methods a live second-step challenge offers (the portal's second-step page); null when it is unknown, used or expired. */
export async function secondStepMethods(deps: FlowDeps, challenge: string): Promise<SecondFactorMethod[] | null> {
  if (!isWellFormedToken(challenge)) return null;
  const found = await findLiveChallenge(deps.db, keyedHash(deps.secretKey, CHALLENGE_HASH, challenge), deps.clock.now());
  return found ? methodsOf(deps.db, found.agentId) : null;
}

/**
 * A passkey alone: user-verified, it is both factors (something the agent has, unlocked by
 * something they know or are). Through the same gate: the door of this client (a trusted
 * device's own, else the one strangers share) must be open, a failed assertion of a known
 * passkey counts there, and the session goes on to the required password change like any other.
 */
export async function signInWithPasskey(deps: FlowDeps, account: Account, input: { response: unknown; context: RequestContext; deviceTokens?: readonly string[] }): Promise<Result<SignedIn, 'invalid_credentials' | 'account_locked' | 'temporary_password_expired'>> {
  const now = deps.clock.now();
  const credentialId = claimedCredentialId(input.response);
  const claimed = credentialId ? await findPasskeyByCredentialId(deps.db, credentialId) : undefined;
  const agent = claimed && claimed.accountId === account.id ? await findAgentById(deps.db, account.id, claimed.agentId) : undefined;
  if (!agent || agent.status === 'deactivated') {
    // Spends the challenge and verifies nothing: verifying a deactivated agent's passkey would
    // record a use (counter, lastUsedAt) of a sign-in that is refused.
    await spendChallengeOf(deps, input.response);
    return fail('invalid_credentials');
  }
  const email = normalizeEmail(agent.email);
  const deviceId = trustedDeviceId(deps.secretKey, { accountId: account.id, emailNormalized: email, passwordHash: agent.passwordHash }, input.deviceTokens ?? [], now);
  const door: Door = { email, client: deviceId ?? UNKNOWN_DEVICES };
  const reservation = await reserveAttempt(deps, account, door, now);
  if (!reservation.reserved) return fail('account_locked', undefined, secondsUntil(reservation.lockedUntil, now));
  const passkey = await verifyAssertion(deps, input.response, agent.id);
  if (!passkey) {
    return refuseAttempt(deps, account, door, reservation, agent, input.context, now, { type: 'login.failed', reason: 'passkey_invalid' }, 'invalid_credentials');
  }
  return givingBackOnError(deps, account, door, reservation, async () => {
    if (isTemporaryPasswordExpired(agent, now)) return refuseExpiredTemporaryPassword(deps, account, agent, door, reservation.locks, input.context, now);
    // The passkey must still be the agent's when the session opens: admit() holds the agent's row,
    // which a factor reset holds first, so a reset that committed meanwhile is seen here.
    const before = (trx: Executor) => passkeyStillRegistered(trx, agent.id, passkey.id);
    const signedIn = await admit(deps, account, agent, { door, deviceId, expectedHash: agent.passwordHash, newHash: agent.passwordHash, amr: ['hwk', 'mfa'], context: input.context, details: { method: 'passkey', passkeyId: passkey.id }, before, now });
    return signedIn ?? fail('invalid_credentials');
  });
}

/**
 * Why a correct password must still be replaced right after this sign-in: it is older than the
 * account's password expiry, or the policy changed with "existing passwords that fail it must be
 * changed" and this one fails it (only now, holding the plaintext, can that be checked).
 */
async function reasonToRequireChange(account: Account, agent: Agent, password: string, now: Date): Promise<'password_expired' | 'policy_changed' | null> {
  const policy = account.settings.passwordPolicy;
  if (passwordExpired(agent.passwordChangedAt, policy.expiryDays, now)) return 'password_expired';
  if ((await policyViolationsAtSignIn(password, policy, { email: agent.email, name: agent.name, accountName: account.name })).length > 0) return 'policy_changed';
  return null;
}

function reserveAttempt(deps: FlowDeps, account: Account, door: Door, now: Date): Promise<AttemptReservation> {
  const { lockoutThreshold, lockoutMinutes } = account.settings;
  return reserveLoginAttempt(deps.db, { accountId: account.id, ...door }, { threshold: lockoutThreshold, lockUntil: addMs(now, lockoutMinutes * MS_PER_MINUTE) }, now);
}

type Reserved = Extract<AttemptReservation, { reserved: true }>;

/**
 * Runs what follows a right proof (the admission, the second step's challenge, a rehash). If it
 * fails with an error (the store down, or a schema broken under it), the failure the reservation
 * counted is given back before the error goes on: an outage must not lock out the agents who
 * typed their password right (five such sign-ins used to lock the address for an hour). Best
 * effort: while the store is down the giving back fails too, and is not retried. `afterProof`
 * must end with the commit that opens the door or gives the reservation back, and read nothing
 * after it: a failure after that commit would give back a failure counted since, one guess more
 * (found by the outside tester: the second step's methods, read after its commit). Only a commit
 * whose answer was lost can still do that, and no client chooses when a connection drops.
 */
async function givingBackOnError<T>(deps: FlowDeps, account: Account, door: Door, reservation: Reserved, afterProof: () => Promise<T>): Promise<T> {
  try {
    return await afterProof();
  } catch (error) {
    await releaseLoginAttempt(deps.db, { accountId: account.id, ...door }, reservation.locks).catch(() => undefined);
    throw error;
  }
}

/**
 * The right proof, but the one-time password has expired: its own reserved failure is given back,
 * and nothing opens. Only its own: the door keeps the failures counted before it, wrong codes of a
 * second step among them (clearing the door here let wrong codes and an expired password take
 * turns without limit; found by the outside tester).
 */
async function refuseExpiredTemporaryPassword(deps: FlowDeps, account: Account, agent: Agent, door: Door, lockedByThis: boolean, context: RequestContext, now: Date): Promise<Failure<'temporary_password_expired'>> {
  // One commit: a failure after the reservation was given back would give it back again.
  await deps.db.transaction().execute(async (trx) => {
    await releaseLoginAttempt(trx, { accountId: account.id, ...door }, lockedByThis);
    await audit(trx, { accountId: account.id, type: 'login.failed', actorAgentId: null, targetAgentId: agent.id, context, details: { reason: 'temporary_password_expired' }, at: now });
  });
  return fail('temporary_password_expired');
}

/**
 * Writes the audit event of a wrong proof (password, code, passkey) whose failure the reservation
 * already counted; the failure that reached the threshold (exactly one per lock) also audits the
 * lock and emails the agent. Answers `code`, or 423 account_locked when this failure locked the door.
 */
async function refuseAttempt<C extends ErrorCode>(
  deps: FlowDeps,
  account: Account,
  door: Door,
  reservation: Reserved,
  agent: Agent | undefined,
  context: RequestContext,
  now: Date,
  event: { type: string; reason: string },
  code: C,
): Promise<Failure<C | 'account_locked'>> {
  const target = { targetAgentId: agent?.id ?? null, targetEmail: agent ? null : auditableEmail(door.email) };
  const lockedUntil = reservation.locks ? reservation.lockedUntil : null;
  const doorName = door.client === UNKNOWN_DEVICES ? 'unknown_devices' : door.client.startsWith(SESSION_DOOR) ? 'session' : 'device';
  await deps.db.transaction().execute(async (trx) => {
    await audit(trx, { accountId: account.id, type: event.type, actorAgentId: null, ...target, context, details: { reason: event.reason }, at: now });
    if (!lockedUntil) return;
    await audit(trx, { accountId: account.id, type: 'account.locked', actorAgentId: null, ...target, context, details: { failures: reservation.count, lockedUntil: lockedUntil.toISOString(), door: doorName }, at: now });
    // Queued for every locked address, resolved by the worker at its next round (not woken
    // now): a known address costs no extra query, and no work follows this request at once.
    await enqueueMail(trx, { accountId: account.id, recipient: door.email, template: LOCK_NOTICE_REQUEST, payload: { email: door.email, lockedUntil: lockedUntil.toISOString(), door: doorName, cause: SECOND_FACTOR_REASONS.has(event.reason) ? 'second_factor' : 'password', ip: context.ip, userAgent: context.userAgent } }, now);
  });
  return lockedUntil ? fail('account_locked', undefined, secondsUntil(lockedUntil, now)) : fail(code);
}

/** Failures that are wrong second factors, not wrong passwords: whoever made them knew the password. */
const SECOND_FACTOR_REASONS = new Set(['totp', 'recovery_code', 'passkey', 'two_factor_code_incorrect']);

export type PasswordProof = { ok: true } | Failure<'current_password_incorrect' | 'account_locked'>;

/** Re-authentication has a door per session: a stolen session gets `threshold` guesses, and strangers cannot close it. */
const SESSION_DOOR = 'session:';

function sessionDoor(auth: Authenticated): Door {
  return { email: normalizeEmail(auth.agent.email), client: SESSION_DOOR + auth.session.id };
}

/**
 * Checks the signed-in agent's own password (re-authentication, change password). A wrong one
 * counts toward a lockout of this session's own, reserved before verifying like sign-in, so a
 * stolen session cannot guess it without limit; while locked, the answer is 423 whatever the password.
 * `codeFollows`: a second factor must still be proved, so a right password gives back only its
 * own reservation and the earlier failures stay (as at sign-in: openSecondStep).
 */
export async function proveOwnPassword(
  deps: FlowDeps,
  auth: Authenticated,
  password: string,
  context: RequestContext,
  failedEventType: 'reauthentication.failed' | 'password.change_failed',
  codeFollows = false,
): Promise<PasswordProof> {
  const { agent, account } = auth;
  const door = sessionDoor(auth);
  const now = deps.clock.now();
  const reservation = await reserveAttempt(deps, account, door, now);
  if (!reservation.reserved) return fail('account_locked', undefined, secondsUntil(reservation.lockedUntil, now));
  const matches = agent.passwordHash ? await deps.hasher.verify(agent.passwordHash, password) : false;
  if (matches) {
    // Clearing the door here would let whoever holds the session and knows the password reset
    // the count between guesses of the code, and guess it without limit: for an agent with a
    // second factor, the door's failures may be wrong codes even when none follows now (a fresh
    // session changing its password; found by the outside tester), so only this one is given back.
    if (codeFollows || agent.twoFactorEnabled) await releaseLoginAttempt(deps.db, { accountId: account.id, ...door }, reservation.locks);
    else await clearLoginAttempt(deps.db, account.id, door.email, door.client);
    return { ok: true };
  }
  return refuseAttempt(deps, account, door, reservation, agent, context, now, { type: failedEventType, reason: 'current_password_incorrect' }, 'current_password_incorrect');
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

export type IdentityFailure = Failure<'current_password_incorrect' | 'account_locked' | 'two_factor_code_required' | 'two_factor_code_incorrect' | 'passkey_invalid'>;

/**
 * The signed-in agent proves who they are again (ASVS 7.5.1): the password, and for an agent
 * with a second factor a code too (an authenticator code or a recovery code), or a passkey alone
 * (user-verified, both factors). `factor: 'unless_fresh'` (changing one's password) asks for the
 * code only outside the 10-minute freshness. Every wrong answer counts on the session's own door.
 */
export async function proveIdentity(
  deps: FlowDeps,
  auth: Authenticated,
  proof: { password: string; code?: string } | { passkey: unknown },
  context: RequestContext,
  failedEventType: 'reauthentication.failed' | 'password.change_failed',
  factor: 'always' | 'unless_fresh' = 'always',
): Promise<{ ok: true } | IdentityFailure> {
  const { agent, account } = auth;
  const door = sessionDoor(auth);
  if ('passkey' in proof) {
    const now = deps.clock.now();
    const reservation = await reserveAttempt(deps, account, door, now);
    if (!reservation.reserved) return fail('account_locked', undefined, secondsUntil(reservation.lockedUntil, now));
    if (await verifyAssertion(deps, proof.passkey, agent.id)) {
      await clearLoginAttempt(deps.db, account.id, door.email, door.client);
      return { ok: true };
    }
    return refuseAttempt(deps, account, door, reservation, agent, context, now, { type: failedEventType, reason: 'passkey_invalid' }, 'passkey_invalid');
  }
  const needsFactor = agent.twoFactorEnabled && (factor === 'always' || !isFresh(auth.session, deps.clock.now()));
  // Asked before the password is tried, so a missing code costs no attempt.
  if (needsFactor && !proof.code?.trim()) return fail('two_factor_code_required');
  const password = await proveOwnPassword(deps, auth, proof.password, context, failedEventType, needsFactor);
  if (!password.ok || !needsFactor) return password;
  const now = deps.clock.now();
  const reservation = await reserveAttempt(deps, account, door, now);
  if (!reservation.reserved) return fail('account_locked', undefined, secondsUntil(reservation.lockedUntil, now));
  if (await proveSecondFactor(deps, account, agent, proofOfCode(proof.code!), context)) {
    await clearLoginAttempt(deps.db, account.id, door.email, door.client);
    return { ok: true };
  }
  return refuseAttempt(deps, account, door, reservation, agent, context, now, { type: failedEventType, reason: 'two_factor_code_incorrect' }, 'two_factor_code_incorrect');
}

/** Proves the password (and the factor) again: the session counts as freshly authenticated for 10 minutes. */
export async function reauthenticate(deps: FlowDeps, auth: Authenticated, proof: { password: string; code?: string } | { passkey: unknown }, context: RequestContext): Promise<Result<object, IdentityFailure['code']>> {
  const proved = await proveIdentity(deps, auth, proof, context, 'reauthentication.failed');
  if (!proved.ok) return proved;
  await markSessionAuthenticated(deps.db, auth.session.id, deps.clock.now());
  return { ok: true };
}

export const LOCK_NOTICE_REQUEST = 'account_locked_request';

/** Turns a queued lock notice into an email to the agent who has the address, if any and not deactivated. */
export function lockNoticePreparer(deps: Pick<FlowDeps, 'db'>): MailPreparer {
  return async (message: OutboxMessage) => {
    const payload = message.payload as { email: string; lockedUntil: string; door?: string; cause?: string; ip: string | null; userAgent: string | null };
    const account = await findAccountById(deps.db, message.accountId);
    const agent = account && (await findAgentByEmail(deps.db, account.id, payload.email));
    if (!account || !agent || agent.status === 'deactivated') return { send: false };
    return {
      send: true,
      recipient: agent.email,
      template: 'account_locked',
      payload: { agentName: agent.name, accountName: account.name, lockedUntil: payload.lockedUntil, door: payload.door ?? 'unknown_devices', cause: payload.cause ?? 'password', ip: payload.ip, userAgent: payload.userAgent },
    };
  };
}
