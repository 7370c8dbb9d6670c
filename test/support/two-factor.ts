import assert from 'node:assert/strict';
import { totpCodeAt, TOTP_PERIOD_SECONDS } from '../../src/domain/totp.js';
import { relyingPartyOf } from '../../src/flows/passkeys.js';
import { hashToken } from '../../src/security/tokens.js';
import { OWNER, type Answer, type TestApp } from './harness.js';
import { SoftPasskey } from './soft-passkey.js';

/** The second factor through the API, as a client does it (API.md "Second factor"). */

export const LOGIN = '/api/v1/auth/login';
export const SECOND_STEP = '/api/v1/auth/login/two-factor';
export const STATUS = '/api/v1/me/two-factor';
export const TOTP = '/api/v1/me/two-factor/totp';
export const CONFIRM = '/api/v1/me/two-factor/totp/confirm';
export const RECOVERY_CODES = '/api/v1/me/two-factor/recovery-codes';
export const REAUTHENTICATE = '/api/v1/auth/reauthenticate';

/** Ten codes of 16 Crockford base32 letters in groups of four: 80 bits each. */
export const RECOVERY_CODE_FORMAT = /^[0-9abcdefghjkmnpqrstvwxyz]{4}(-[0-9abcdefghjkmnpqrstvwxyz]{4}){3}$/;

/** The code the agent's app shows now (the server reads the same clock). */
export function codeNow(t: TestApp, secret: string): string {
  return totpCodeAt(secret, t.clock.now());
}

/** Moves the clock to the next 30-second step and returns its code: a code not used yet. */
export function nextCode(t: TestApp, secret: string): string {
  t.clock.advanceSeconds(TOTP_PERIOD_SECONDS);
  return codeNow(t, secret);
}

/** Remembers a recovery code for the secret searches, as shown and as the server normalises it. */
function rememberCodes(t: TestApp, codes: string[]): void {
  for (const code of codes) {
    t.secrets.add(code);
    t.secrets.add(code.replace(/-/g, ''));
  }
}

/** Begins and confirms an authenticator app on a fresh session: its secret, and the recovery codes when it is the first factor. */
export async function enrolTotp(t: TestApp, token: string): Promise<{ secret: string; recoveryCodes: string[] }> {
  const begun = await t.post(TOTP, undefined, token);
  assert.equal(begun.status, 200, begun.raw);
  const secret: string = begun.body.secret;
  t.secrets.add(secret);
  const confirmed = await t.post(CONFIRM, { code: codeNow(t, secret) }, token);
  assert.equal(confirmed.status, 200, confirmed.raw);
  const recoveryCodes: string[] = confirmed.body.recoveryCodes ?? [];
  rememberCodes(t, recoveryCodes);
  return { secret, recoveryCodes };
}

/** New recovery codes on a fresh session. */
export async function regenerateCodes(t: TestApp, token: string): Promise<string[]> {
  const answer = await t.post(RECOVERY_CODES, undefined, token);
  assert.equal(answer.status, 200, answer.raw);
  rememberCodes(t, answer.body.recoveryCodes);
  return answer.body.recoveryCodes;
}

/** The password step of an agent with a factor: the challenge. */
export async function challengeFor(t: TestApp, email: string, password: string, ip?: string): Promise<string> {
  const answer = await t.request('POST', LOGIN, { body: { email, password }, ip });
  assert.equal(answer.status, 200, answer.raw);
  assert.equal(answer.body.twoFactorRequired, true, answer.raw);
  t.secrets.add(answer.body.challenge);
  return answer.body.challenge;
}

/** Both steps with the authenticator: a session token (the clock moves one step first, so the code is unused). */
export async function signInWithTotp(t: TestApp, email: string, password: string, secret: string): Promise<string> {
  const challenge = await challengeFor(t, email, password);
  const answer = await t.post(SECOND_STEP, { challenge, code: nextCode(t, secret) });
  assert.equal(answer.status, 200, answer.raw);
  t.secrets.add(answer.body.token);
  return answer.body.token;
}

/** Both steps with a recovery code. */
export async function secondStepWithRecoveryCode(t: TestApp, email: string, password: string, recoveryCode: string): Promise<Answer> {
  const challenge = await challengeFor(t, email, password);
  return t.post(SECOND_STEP, { challenge, recoveryCode });
}

/** A software passkey for this server's relying party (PUBLIC_URL's host and origin). */
export function softPasskey(t: TestApp): SoftPasskey {
  const rp = relyingPartyOf(t.config.publicUrl);
  return new SoftPasskey(rp.id, rp.origin);
}

/** Registers a passkey on a fresh session: the answer of POST /me/passkeys. */
export async function addPasskey(t: TestApp, token: string, passkey: SoftPasskey, name = 'Work laptop'): Promise<Answer> {
  const options = await t.post('/api/v1/me/passkeys/registration-options', undefined, token);
  assert.equal(options.status, 200, options.raw);
  const answer = await t.post('/api/v1/me/passkeys', { name, response: passkey.register(options.body) }, token);
  if (answer.body?.recoveryCodes) rememberCodes(t, answer.body.recoveryCodes);
  return answer;
}

/** A passkey assertion for a fresh sign-in challenge (POST /auth/passkey/options). */
export async function passkeyAssertion(t: TestApp, passkey: SoftPasskey, overrides: { origin?: string; counter?: number } = {}): Promise<Record<string, unknown>> {
  const options = await t.post('/api/v1/auth/passkey/options', {});
  assert.equal(options.status, 200, options.raw);
  return passkey.assert(options.body, overrides);
}

/** The number of rows of a table that belong to an agent (agent_id). */
export async function rowsOf(t: TestApp, table: 'two_factor_totp' | 'passkeys' | 'recovery_codes' | 'sessions' | 'two_factor_challenges', agentId: string): Promise<number> {
  const rows = await t.app.deskpass.deps.db.selectFrom(table).select('agent_id').where('agent_id', '=', agentId).execute();
  return rows.length;
}

/** The audit events of a type about an agent, oldest first, from the store (details included). */
export async function auditOf(t: TestApp, type: string, targetAgentId: string): Promise<{ actor_agent_id: string | null; details: Record<string, unknown> | null; method: string }[]> {
  const rows = await t.app.deskpass.deps.db
    .selectFrom('audit_events')
    .select(['actor_agent_id', 'details', 'method', 'id'])
    .where('type', '=', type)
    .where('target_agent_id', '=', targetAgentId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ actor_agent_id: r.actor_agent_id, method: r.method, details: typeof r.details === 'string' ? JSON.parse(r.details) : (r.details as Record<string, unknown> | null) }));
}

export interface TestAgent {
  id: string;
  name: string;
  email: string;
  password: string;
  /** a session of the agent's, fresh when made */
  token: string;
}

const made = new WeakMap<TestApp, number>();

/**
 * A new active agent (invited by `adminToken`'s agent, by default the Account Administrator
 * signed in with the password, first password set through the link), signed in.
 */
export async function createAgent(t: TestApp, roleId: string, adminToken?: string): Promise<TestAgent> {
  const n = (made.get(t) ?? 0) + 1;
  made.set(t, n);
  const email = `tf${n}@acme.test`;
  const password = `Lantern-Quarry-${n}-Thistle`;
  const name = `Toni Factor ${n}`;
  const admin = adminToken ?? (await t.login(OWNER.email, OWNER.password));
  const { id, token } = await t.addAgent(admin, { email, name, roleId, password });
  return { id, name, email, password, token };
}

/** A new agent with an authenticator app, signed in again with both factors (a fresh session). */
export async function createAgentWithTotp(t: TestApp, roleId: string, adminToken?: string): Promise<TestAgent & { secret: string; recoveryCodes: string[] }> {
  const agent = await createAgent(t, roleId, adminToken);
  const { secret, recoveryCodes } = await enrolTotp(t, agent.token);
  const token = await signInWithTotp(t, agent.email, agent.password, secret);
  return { ...agent, token, secret, recoveryCodes };
}

/** Rows of the outbox for a recipient and template (queued in the transaction of the change). */
export async function outboxCount(t: TestApp, recipient: string, template = 'two_factor_changed'): Promise<number> {
  const rows = await t.app.deskpass.deps.db.selectFrom('mail_outbox').select('id').where('recipient', '=', recipient).where('template', '=', template).execute();
  return rows.length;
}

/** How the session of this token was authenticated (sessions.amr). */
export async function amrOf(t: TestApp, token: string): Promise<string[]> {
  const row = await t.app.deskpass.deps.db.selectFrom('sessions').select('amr').where('token_hash', '=', hashToken(token)).executeTakeFirstOrThrow();
  return JSON.parse(row.amr!) as string[];
}
