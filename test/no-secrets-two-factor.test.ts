import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Secret } from 'otpauth';
import { TestApp, OWNER } from './support/harness.js';
import { Browserish } from './support/browserish.js';
import { CONFIRM, LOGIN, REAUTHENTICATE, RECOVERY_CODES, SECOND_STEP, TOTP, codeNow, createAgent, nextCode, softPasskey } from './support/two-factor.js';

// Every second-factor operation once, then searches for every secret it made — the TOTP secrets
// (base32, and their raw bytes), every recovery code (as shown and as normalised), the sign-in
// challenges and the passkey ceremonies' challenges — wherever a secret must never rest: emails,
// log lines, audit events, the database (the file, or every table), and every API answer but
// the one that created it (API.md "Second factor": "Secrets at rest").

let t: TestApp;
/** secret → the indexes of the API answers allowed to carry it (the one that created it) */
const createdIn = new Map<string, Set<number>>();
const totpSecrets: string[] = [];
const recoveryCodes: string[] = [];
const FRESH_S = 10 * 60;

const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

/** A secret the last API answer created: remembered for the searches, allowed in that answer only. */
function createdByLastAnswer(secret: string): string {
  t.secrets.add(secret);
  const allowed = createdIn.get(secret) ?? new Set<number>();
  allowed.add(t.answers.length - 1);
  createdIn.set(secret, allowed);
  return secret;
}

function codesOfLastAnswer(codes: string[]): string[] {
  for (const code of codes) {
    recoveryCodes.push(code);
    createdByLastAnswer(code);
    t.secrets.add(code.replace(/-/g, ''));
  }
  return codes;
}

async function beginTotp(token: string): Promise<string> {
  const begun = await t.post(TOTP, undefined, token);
  assert.equal(begun.status, 200, begun.raw);
  totpSecrets.push(begun.body.secret);
  return createdByLastAnswer(begun.body.secret);
}

async function confirm(token: string, secret: string): Promise<string[]> {
  const confirmed = await t.post(CONFIRM, { code: codeNow(t, secret) }, token);
  assert.equal(confirmed.status, 200, confirmed.raw);
  return codesOfLastAnswer(confirmed.body.recoveryCodes ?? []);
}

async function challenge(email: string, password: string): Promise<string> {
  const answer = await t.post(LOGIN, { email, password });
  assert.equal(answer.body.twoFactorRequired, true, answer.raw);
  return createdByLastAnswer(answer.body.challenge);
}

async function secondStep(body: Record<string, unknown>): Promise<string> {
  const answer = await t.post(SECOND_STEP, body);
  assert.equal(answer.status, 200, answer.raw);
  return answer.body.token;
}

async function passkeyOptions(url: string, token?: string): Promise<{ challenge: string; user: { id: string } }> {
  const options = await t.post(url, token ? undefined : {}, token);
  assert.equal(options.status, 200, options.raw);
  createdByLastAnswer(options.body.challenge);
  return options.body;
}

function parse(body: string): any {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Every search form of the TOTP secrets: base32 as handed out, and the raw key as hex, base64 and bytes. */
function rawForms(): string[] {
  return totpSecrets.flatMap((secret) => {
    const bytes = Buffer.from(Secret.fromBase32(secret).bytes);
    return [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('latin1')];
  });
}

before(async () => {
  t = await TestApp.start();
  const { ownerToken, agentRoleId } = await t.setup();
  const leadRoleId = await t.role(ownerToken, 'Team Lead', ['manage_agents', 'manage_agent_password']);
  const lead = await createAgent(t, leadRoleId);
  const sam = await createAgent(t, agentRoleId);
  const pat = await createAgent(t, agentRoleId);

  // Sam: an authenticator, a wrong confirmation, the sign-in steps with each proof, a wrong code and a wrong recovery code.
  const first = await beginTotp(sam.token);
  assert.equal((await t.post(CONFIRM, { code: '000000' }, sam.token)).status, 400);
  const samCodes = await confirm(sam.token, first);
  assert.equal(samCodes.length, 10);
  let samToken = await secondStep({ challenge: await challenge(sam.email, sam.password), code: nextCode(t, first) });
  await secondStep({ challenge: await challenge(sam.email, sam.password), recoveryCode: samCodes[0] });
  const wrongOnes = await challenge(sam.email, sam.password);
  assert.equal((await t.post(SECOND_STEP, { challenge: wrongOnes, code: '123456' })).status, 401);
  assert.equal((await t.post(SECOND_STEP, { challenge: wrongOnes, recoveryCode: samCodes[0] })).status, 401, 'a used code');
  // A replacement authenticator, new recovery codes, re-authentication with each kind of code, a password change with a code.
  const second = await beginTotp(samToken);
  assert.deepEqual(await confirm(samToken, second), []);
  const regenerated = await t.post(RECOVERY_CODES, undefined, samToken);
  const samNewCodes = codesOfLastAnswer(regenerated.body.recoveryCodes);
  t.clock.advanceSeconds(FRESH_S + 1);
  assert.equal((await t.post(REAUTHENTICATE, { password: sam.password, code: samNewCodes[2] }, samToken)).status, 204);
  t.clock.advanceSeconds(FRESH_S + 1);
  assert.equal((await t.post(REAUTHENTICATE, { password: sam.password, code: nextCode(t, second) }, samToken)).status, 204);
  t.clock.advanceSeconds(FRESH_S + 1);
  const samChanged = 'Harbor-Thimble-Saffron-58';
  t.secrets.add(samChanged);
  assert.equal((await t.post('/api/v1/me/password', { currentPassword: sam.password, newPassword: samChanged, code: nextCode(t, second) }, samToken)).status, 204);

  // Pat: a passkey first (its codes), a passkey sign-in, then an authenticator too, and the portal's second step.
  const passkey = softPasskey(t);
  const patToken = await t.login(pat.email, pat.password);
  const creation = await passkeyOptions('/api/v1/me/passkeys/registration-options', patToken);
  const added = await t.post('/api/v1/me/passkeys', { name: 'Laptop', response: passkey.register(creation) }, patToken);
  assert.equal(added.status, 201, added.raw);
  codesOfLastAnswer(added.body.recoveryCodes);
  const request = await passkeyOptions('/api/v1/auth/passkey/options');
  const patSession = await t.post('/api/v1/auth/passkey', { response: passkey.assert(request) });
  assert.equal(patSession.status, 200, patSession.raw);
  const patSecret = await beginTotp(patSession.body.token);
  await confirm(patSession.body.token, patSecret);
  const browser = new Browserish(t);
  assert.equal((await browser.submit('/login', { email: pat.email, password: pat.password })).headers.location, '/login/two-factor');
  t.secrets.add(browser.cookies.get('deskpass_two_factor')!);
  const csrf = Browserish.csrfOf((await browser.get('/login')).body);
  assert.equal((await browser.post('/login/two-factor', { _csrf: csrf, code: nextCode(t, patSecret) })).statusCode, 303);
  t.secrets.add(browser.cookies.get('deskpass_session')!);
  const removed = await t.delete(`/api/v1/me/passkeys/${added.body.id}`, patSession.body.token);
  assert.equal(removed.status, 204, removed.raw);

  // The lead resets Sam's factor; Sam enrols again, then removes it.
  const leadToken = await t.login(lead.email, lead.password);
  assert.equal((await t.delete(`/api/v1/agents/${sam.id}/two-factor`, leadToken)).status, 204);
  samToken = await t.login(sam.email, samChanged);
  const again = await beginTotp(samToken);
  await confirm(samToken, again);
  assert.equal((await t.delete(TOTP, samToken)).status, 204);

  // Reading, so the list and status answers are searched too.
  const owner = await t.login(OWNER.email, OWNER.password);
  assert.equal((await t.get('/api/v1/agents?limit=200', owner)).status, 200);
  assert.equal((await t.get(`/api/v1/agents/${pat.id}`, owner)).status, 200);
  assert.equal((await t.get('/api/v1/me/two-factor', patSession.body.token)).status, 200);
  await t.app.deskpass.mailWorker.runOnce();
  await t.smtp.waitFor((m) => m.to.includes(sam.email) && /removed/i.test(m.subject));
});

after(async () => {
  await t.close();
});

test('the lifecycle made the secrets the searches look for', () => {
  assert.equal(totpSecrets.length, 4);
  assert.equal(recoveryCodes.length, 40);
  assert.ok(t.smtp.messages.filter((m) => /authenticator|passkey|recovery|second factor/i.test(m.subject)).length >= 10);
});

test('no secret in any email', () => {
  const LINK = /\/reset-password\/([A-Za-z0-9_-]{43})/g;
  for (const mail of t.smtp.messages) {
    const own = [...mail.text.matchAll(LINK)].map((m) => m[1]);
    for (const haystack of [mail.raw, mail.raw.replace(/=\r?\n/g, ''), mail.text, mail.html, mail.subject]) {
      assert.deepEqual(t.leakedSecrets(haystack, own), [], `secret in "${mail.subject}" to ${mail.to.join(',')}`);
    }
  }
});

test('no secret in any log line', () => {
  const logs = t.logs.join('\n');
  assert.ok(t.logs.length > 50);
  assert.deepEqual(t.leakedSecrets(logs), []);
  assert.deepEqual(rawForms().filter((form) => logs.includes(form)), []);
});

test('each secret is in the API answer that created it and in no other', () => {
  let created = 0;
  t.answers.forEach((raw, index) => {
    const body = parse(raw);
    const ownToken = body && typeof body.token === 'string' && body.agent ? [body.token] : [];
    const allowed = [...createdIn].filter(([, indexes]) => indexes.has(index)).map(([secret]) => secret);
    created += allowed.length;
    assert.deepEqual(t.leakedSecrets(raw, [...ownToken, ...allowed]), [], `answer #${index}: ${raw.slice(0, 200)}`);
  });
  assert.equal(created, createdIn.size, 'every created secret was found where it was created');
  for (const [secret, indexes] of createdIn) for (const index of indexes) assert.ok(t.answers[index]!.includes(secret));
});

test('no secret in the database in clear, and recovery codes and challenges only as keyed hashes (not a plain SHA-256)', async () => {
  const contents = await t.databaseContents();
  assert.ok(contents.length > 0);
  assert.deepEqual(t.leakedSecrets(contents), []);
  assert.deepEqual(rawForms().filter((form) => contents.includes(form)), [], 'a TOTP key in clear');
  const plainHashes = [...recoveryCodes, ...recoveryCodes.map((c) => c.replace(/-/g, '')), ...[...createdIn.keys()]].map(sha256Hex);
  assert.deepEqual(plainHashes.filter((hash) => contents.includes(hash)), []);
  // the search reads the real store: the sealed secrets and the hashed codes are in it
  const db = t.app.deskpass.deps.db;
  const sealed = await db.selectFrom('two_factor_totp').select('sealed_secret').execute();
  assert.ok(sealed.length > 0 && sealed.every((row) => contents.includes(row.sealed_secret)));
  const hashes = await db.selectFrom('recovery_codes').select('code_hash').execute();
  assert.ok(hashes.length > 0 && hashes.every((row) => contents.includes(row.code_hash)));
});

test('no secret in any audit event, and every audit type of API.md "Second factor" is there', async () => {
  const owner = await t.login(OWNER.email, OWNER.password);
  const pages: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await t.get(`/api/v1/audit-events?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, owner);
    assert.equal(page.status, 200);
    pages.push(page.raw);
    cursor = page.body.nextCursor;
  } while (cursor);
  assert.deepEqual(t.leakedSecrets(pages.join('\n')), []);
  const types = new Set(pages.flatMap((raw) => JSON.parse(raw).events.map((e: { type: string }) => e.type)));
  for (const type of ['two_factor.enabled', 'two_factor.disabled', 'two_factor.reset_by_admin', 'two_factor.recovery_code_used', 'two_factor.recovery_codes_regenerated', 'passkey.added', 'passkey.removed', 'login.two_factor_failed']) {
    assert.ok(types.has(type), `no ${type} event`);
  }
});

test('every kind of factor change was emailed', () => {
  const subjects = t.smtp.messages.map((m) => m.subject);
  for (const kind of [/authenticator app was added/, /authenticator app was replaced/, /authenticator app was removed/, /passkey was added/, /passkey was removed/, /recovery code was used/, /New recovery codes were made/, /second factor was reset/]) {
    assert.ok(subjects.some((s) => kind.test(s)), `no email matching ${kind}`);
  }
});
