import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { ManualClock } from '../src/domain/clock.js';
import { OutboxWorker, retryDelayMs } from '../src/mail/outbox-worker.js';
import { MAIL_TEMPLATES, MailRenderError, renderMail, type MailTemplate, type RenderContext } from '../src/mail/templates.js';
import { createMailTransport, type MailTransport } from '../src/mail/transport.js';
import { deriveLinkToken, hashToken, isWellFormedToken } from '../src/security/tokens.js';
import { migrateToLatest, openDatabase, type Db } from '../src/store/db.js';
import { dropDatabase, freshDatabaseUrl } from './support/harness.js';
import { enqueueMail } from '../src/store/outbox.repo.js';
import { SmtpCapture, type CapturedMail } from './support/smtp-capture.js';
import { OWNER, TestApp } from './support/harness.js';
import { enrolTotp, signInWithTotp } from './support/two-factor.js';
import { resetAdminTwoFactor } from '../src/flows/recover-admin.js';

const PUBLIC_URL = 'https://desk.example.com';
const MAIL_FROM = 'Deskpass <no-reply@desk.example.com>';
const SECRET_KEY = randomBytes(32);
const ctx: RenderContext = {
  publicUrl: PUBLIC_URL,
  resetLinkFor: (tokenId) => `${PUBLIC_URL}/reset-password/${deriveLinkToken(SECRET_KEY, tokenId)}`,
};

function samplePayload(template: MailTemplate, names: { person?: string; account?: string } = {}): Record<string, unknown> {
  const agentName = names.person ?? 'Ana Lima';
  const accountName = names.account ?? 'Acme Support';
  const person = names.person;
  switch (template) {
    case 'invitation':
      return { agentName, accountName, invitedByName: person ?? 'Bea Admin', invitedByRole: 'Team Lead', email: 'ana@acme.test', tokenId: randomUUID(), expiresAt: '2026-11-27T14:05:00.000Z' };
    case 'reset_link':
      return { agentName, accountName, purpose: 'admin', sentByName: person ?? 'Bea Admin', sentByRole: 'Team Lead', tokenId: randomUUID(), expiresAt: '2026-11-27T14:05:00.000Z', lifetimeHours: 48 };
    case 'password_changed':
      return { agentName, accountName, changedAt: '2026-11-27T14:05:00.000Z', how: 'self_change', ip: person ?? '203.0.113.9', userAgent: person ?? 'Firefox/140' };
    case 'password_set_by_admin':
      return { agentName, accountName, adminName: person ?? 'Bea Admin', adminRole: 'Team Lead', adminEmail: person ?? 'bea@acme.test', changedAt: '2026-11-27T14:05:00.000Z', contactName: person ?? 'Carl Owner', contactEmail: person ?? 'carl@acme.test' };
    case 'password_change_required':
      return {
        agentName,
        accountName,
        adminName: person ?? 'Bea Admin',
        adminRole: 'Team Lead',
        adminEmail: person ?? 'bea@acme.test',
        changedAt: '2026-11-27T14:05:00.000Z',
        expiresAt: '2026-11-30T14:05:00.000Z',
        contactName: person ?? 'Carl Owner',
        contactEmail: person ?? 'carl@acme.test',
        loginUrl: `${PUBLIC_URL}/login`,
      };
    case 'account_locked':
      return { agentName, accountName, lockedUntil: '2026-11-27T14:05:00.000Z', ip: person ?? '203.0.113.9', userAgent: person ?? 'Firefox/140' };
    case 'two_factor_changed':
      return { agentName, accountName, change: 'reset_by_admin', passkeyName: null, remaining: null, lastFactor: false, byName: person ?? 'Bea Admin', byRole: 'Team Lead', changedAt: '2026-11-27T14:05:00.000Z', ip: '203.0.113.9', userAgent: 'Firefox/140' };
  }
}

describe('mail templates', () => {
  test('every template renders a subject, a text part and an HTML part', () => {
    assert.equal(MAIL_TEMPLATES.length, 7);
    for (const template of MAIL_TEMPLATES) {
      const mail = renderMail(template, samplePayload(template), ctx);
      assert.ok(mail.subject.length > 0, template);
      assert.match(mail.text, /^Hello Ana Lima,\n/, template);
      assert.match(mail.text, /Acme Support/, template);
      assert.match(mail.html, /^<!DOCTYPE html>/, template);
      assert.match(mail.html, /Hello Ana Lima,/, template);
      assert.doesNotMatch(mail.text, /<%|%>|undefined|null|\[object/, template);
      assert.doesNotMatch(mail.html, /<%|%>|undefined|null|\[object/, template);
    }
  });

  test('times read like "27 November 2026, 14:05 UTC" and the link states its lifetime', () => {
    const mail = renderMail('reset_link', samplePayload('reset_link'), ctx);
    assert.match(mail.text, /valid for 48 hours, until 27 November 2026, 14:05 UTC, and works once/);
    assert.match(mail.html, /valid for 48 hours, until 27 November 2026, 14:05 UTC, and works once/);
  });

  test('a reset link is worded by who asked for it', () => {
    const base = samplePayload('reset_link');
    const self = renderMail('reset_link', { ...base, purpose: 'self_service', sentByName: null }, ctx);
    assert.match(self.text, /If it was not you, ignore this email/);
    const admin = renderMail('reset_link', { ...base, purpose: 'admin', sentByName: 'Bea Admin' }, ctx);
    assert.match(admin.text, /Bea Admin \(Team Lead\) sent you this link to choose a new password for your Acme Support help desk account/);
    const operator = renderMail('reset_link', { ...base, purpose: 'operator_recovery', sentByName: null }, ctx);
    assert.match(operator.text, /server operator issued a recovery link/);
  });

  test('HTML escapes every interpolated value, names included', () => {
    const evil = `<script>alert("x")</script> & 'co'`;
    for (const template of MAIL_TEMPLATES) {
      const mail = renderMail(template, samplePayload(template, { person: evil, account: evil }), ctx);
      assert.doesNotMatch(mail.html, /<script|alert\("x"\)| & 'co'/, template);
      assert.match(mail.html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; &#39;co&#39;/, template);
      assert.match(mail.subject + mail.text, /<script>alert\("x"\)<\/script>/, template); // plain text needs no escaping
    }
  });

  test('every second-factor change has its own wording; the count left only for a used recovery code, the client only when the agent made the change', () => {
    const base = samplePayload('two_factor_changed');
    const render = (fields: Record<string, unknown>) => renderMail('two_factor_changed', { ...base, ...fields }, ctx);
    const expected: [string, RegExp][] = [
      ['totp_added', /An authenticator app was set up as a second factor/],
      ['totp_replaced', /A new authenticator app replaced the one you had/],
      ['totp_removed', /Your authenticator app was removed/],
      ['passkey_added', /A passkey named "Laptop" was added/],
      ['passkey_removed', /The passkey "Laptop" was removed/],
      ['recovery_code_used', /A recovery code was used to sign in/],
      ['recovery_codes_regenerated', /New recovery codes were made; the old ones no longer work/],
      ['reset_by_admin', /Bea Admin \(Team Lead\) removed your authenticator app, passkeys and recovery codes/],
      ['reset_by_operator', /The operator of the server removed your authenticator app, passkeys and recovery codes/],
    ];
    for (const [change, wording] of expected) {
      const mail = render({ change, passkeyName: 'Laptop', remaining: 2 });
      assert.match(mail.text, wording, change);
      assert.match(mail.html.replace(/&quot;/g, '"'), wording, change);
      assert.equal(/recovery codes? left/.test(mail.text), change === 'recovery_code_used', change);
      assert.equal(mail.text.includes('203.0.113.9'), !change.startsWith('reset_'), change);
      assert.doesNotMatch(mail.text, /undefined|null|\[object/, change);
    }
    assert.match(render({ change: 'recovery_code_used', remaining: 2 }).text, /You have 2 recovery codes left\. Make new ones/);
    assert.match(render({ change: 'recovery_code_used', remaining: 1 }).text, /You have 1 recovery code left\./);
    assert.doesNotMatch(render({ change: 'recovery_code_used', remaining: 9 }).text, /Make new ones/);
    assert.match(render({ change: 'totp_removed', lastFactor: true }).text, /no longer has a second factor/);
    assert.throws(() => render({ change: 'secret_shown' }), /field "change" must be one of/);
  });

  test('an email about what another agent did names them "Name (Role)"; the server operator when nobody did', () => {
    const sam = { name: 'Sam Supervisor', role: 'Supervisor' };
    const cases: [MailTemplate, Record<string, unknown>, RegExp][] = [
      ['invitation', { invitedByName: sam.name, invitedByRole: sam.role }, /Sam Supervisor \(Supervisor\) has invited you to the Acme Support help desk/],
      ['reset_link', { purpose: 'admin', sentByName: sam.name, sentByRole: sam.role }, /Sam Supervisor \(Supervisor\) sent you this link to choose a new password/],
      ['reset_link', { purpose: 'permissions_grew', sentByName: sam.name, sentByRole: sam.role }, /Sam Supervisor \(Supervisor\) gave your Acme Support help desk account more permissions/],
      ['password_set_by_admin', { adminName: sam.name, adminRole: sam.role }, /Sam Supervisor \(Supervisor\) set a new password for your Acme Support help desk account/],
      ['password_change_required', { adminName: sam.name, adminRole: sam.role }, /Sam Supervisor \(Supervisor\) set a one-time password for your Acme Support help desk account/],
      ['two_factor_changed', { change: 'reset_by_admin', byName: sam.name, byRole: sam.role }, /Sam Supervisor \(Supervisor\) removed your authenticator app, passkeys and recovery codes/],
      ['password_set_by_admin', { adminName: 'Ada Lovelace', adminRole: 'Administrator' }, /Ada Lovelace \(Administrator\) set a new password/],
      ['invitation', { invitedByName: null, invitedByRole: null, invitedByOperator: true }, /The server operator has invited you to the Acme Support help desk/],
      ['reset_link', { purpose: 'operator_recovery', sentByName: null, sentByRole: null }, /The server operator issued a recovery link/],
      ['two_factor_changed', { change: 'reset_by_operator', byName: null, byRole: null }, /The operator of the server removed your authenticator app, passkeys and recovery codes/],
    ];
    for (const [template, fields, wording] of cases) {
      const mail = renderMail(template, { ...samplePayload(template), ...fields }, ctx);
      assert.match(mail.text, wording, template);
      assert.match(mail.html.replace(/<\/?strong>/g, ''), wording, template);
      for (const part of [mail.subject, mail.text, mail.html]) assert.doesNotMatch(part, /\ban administrator\b/i, `${template}: "${part.slice(0, 80)}"`);
      assert.doesNotMatch(mail.subject, /Sam|Ada/, 'no agent-chosen name in a subject line');
    }
    // a row queued before the role was recorded still names the agent
    assert.match(renderMail('password_set_by_admin', { ...samplePayload('password_set_by_admin'), adminRole: undefined }, ctx).text, /^Bea Admin set a new password/m);
    // an invitation that names nobody (a link the agent asked for again) says so plainly
    assert.match(renderMail('invitation', { ...samplePayload('invitation'), invitedByName: null, invitedByRole: null }, ctx).text, /You've been invited to the Acme Support help desk/);
  });

  test('an actor\'s name is plain text in the text part, escaped in HTML, and no link in either', () => {
    const name = '<b>Eve</b> https://evil.example';
    const forms: [MailTemplate, Record<string, unknown>][] = [
      ['invitation', { invitedByName: name, invitedByRole: 'Supervisor' }],
      ['reset_link', { purpose: 'admin', sentByName: name, sentByRole: 'Supervisor' }],
      ['reset_link', { purpose: 'permissions_grew', sentByName: name, sentByRole: 'Supervisor' }],
      ['password_set_by_admin', { adminName: name, adminRole: 'Supervisor' }],
      ['password_change_required', { adminName: name, adminRole: 'Supervisor' }],
      ['two_factor_changed', { change: 'reset_by_admin', byName: name, byRole: 'Supervisor' }],
    ];
    for (const [template, fields] of forms) {
      const mail = renderMail(template, { ...samplePayload(template), ...fields }, ctx);
      const label = `${template} ${String(fields.purpose ?? '')}`;
      // text: the name as typed, tags and all (a zero-width space after "." and ":" is all that differs)
      assert.ok(mail.text.replace(/\u200b/g, '').includes('<b>Eve</b> https://evil.example (Supervisor)'), label);
      // HTML: escaped, never markup
      assert.ok(mail.html.includes('&lt;b&gt;Eve&lt;/b&gt;'), label);
      assert.doesNotMatch(mail.html, /<b>Eve/, label);
      // no link: not one we make (no anchor to it), nor one a mail client would make from the text
      assert.doesNotMatch(mail.html, /<a\b[^>]*evil/i, label);
      for (const part of [mail.text, mail.html]) assert.doesNotMatch(part, /https:\/\/evil|evil\.example/, label);
      assert.doesNotMatch(mail.subject, /Eve|evil/, label);
    }
  });

  test('the invitation says which address to sign in with, and gives the sign-in page, the link and its expiry', () => {
    const mail = renderMail('invitation', { ...samplePayload('invitation'), email: 'ada@example.com' }, ctx);
    for (const part of [mail.text, mail.html.replace(/<\/?strong>/g, '')]) {
      assert.match(part, /sign in with ada@example\.com and the password you chose/i);
      assert.ok(part.includes(`${PUBLIC_URL}/login`), 'the sign-in page');
      assert.match(part, new RegExp(`${PUBLIC_URL}/reset-password/[A-Za-z0-9_-]{43}`), 'the set-password link');
      assert.match(part, /valid until 27 November 2026, 14:05 UTC and works once/);
    }
    assert.match(mail.html, new RegExp(`<a href="${PUBLIC_URL}/login"`));
    // a row queued before the address was recorded still gives the page
    const older = renderMail('invitation', { ...samplePayload('invitation'), email: undefined }, ctx);
    assert.match(older.text, new RegExp(`After that, sign in and the password you chose at:\\n\\n${PUBLIC_URL}/login`));
  });

  test('every email names the client "Chrome on Linux", never the User-Agent nor its version; an unknown one is "an unrecognised browser or app"', () => {
    const chromeOnLinux = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
    const withClient: [MailTemplate, Record<string, unknown>][] = [
      ['password_changed', {}],
      ['account_locked', {}],
      ['two_factor_changed', { change: 'totp_added' }],
    ];
    for (const [template, fields] of withClient) {
      const chrome = renderMail(template, { ...samplePayload(template), ...fields, userAgent: chromeOnLinux }, ctx);
      for (const part of [chrome.text, chrome.html]) {
        assert.match(part, /Browser: Chrome on Linux(\n|<)/, template);
        assert.doesNotMatch(part, /Mozilla|AppleWebKit|131|x86_64/, template);
      }
      const unknown = renderMail(template, { ...samplePayload(template), ...fields, userAgent: 'curl/8.5.0' }, ctx);
      for (const part of [unknown.text, unknown.html]) {
        assert.match(part, /Browser: an unrecognised browser or app(\n|<)/, template);
        assert.doesNotMatch(part, /curl|8\.5/, template);
      }
    }
  });

  test('no email says "log in": every template, in every variant, signs in', () => {
    const variants: [MailTemplate, Record<string, unknown>][] = [
      ['invitation', {}],
      ['invitation', { invitedByName: null, invitedByRole: null, invitedByOperator: true }],
      ...['self_service', 'admin', 'permissions_grew', 'operator_recovery'].map((purpose): [MailTemplate, Record<string, unknown>] => ['reset_link', { purpose }]),
      ['password_changed', { how: 'self_change' }],
      ['password_changed', { how: 'reset_link' }],
      ['password_set_by_admin', {}],
      ['password_change_required', {}],
      ...['unknown_devices', 'device', 'session'].flatMap((door) =>
        ['password', 'second_factor'].map((cause): [MailTemplate, Record<string, unknown>] => ['account_locked', { door, cause }]),
      ),
      ...['totp_added', 'totp_replaced', 'totp_removed', 'passkey_added', 'passkey_removed', 'recovery_code_used', 'recovery_codes_regenerated', 'reset_by_admin', 'reset_by_operator'].map(
        (change): [MailTemplate, Record<string, unknown>] => ['two_factor_changed', { change, remaining: 1, lastFactor: true, passkeyName: 'Laptop' }],
      ),
    ];
    assert.deepEqual(new Set(variants.map(([template]) => template)), new Set(MAIL_TEMPLATES), 'every template is looked at');
    for (const [template, fields] of variants) {
      const mail = renderMail(template, { ...samplePayload(template), ...fields }, ctx);
      for (const part of [mail.subject, mail.text, mail.html]) {
        // addresses keep their paths (/login is a URL, not a word)
        const words = part.replace(/https?:\/\/[^\s"<]+/g, 'URL');
        assert.doesNotMatch(words, /log ?in|logged in|log on|log-in/i, `${template} ${JSON.stringify(fields)}`);
      }
    }
  });

  test('a name cannot start a line of its own in any part', () => {
    const name = 'Ana\r\n\r\nUrgent: sign in at https://evil.test\u2028now';
    const mail = renderMail('account_locked', samplePayload('account_locked', { person: name }), ctx);
    assert.match(mail.text, /^Hello Ana Urgent: sign in at https:\/\/evil\.test now,\n/);
    assert.doesNotMatch(mail.subject, /[\r\n]/);
  });

  test('no email carries a password: a payload with a secret-looking field is refused', () => {
    for (const template of MAIL_TEMPLATES) {
      for (const field of ['password', 'temporaryPassword', 'newPassword', 'passwordHash', 'token', 'secret']) {
        assert.throws(() => renderMail(template, { ...samplePayload(template), [field]: 'S3cret-Temp-Pass!' }, ctx), MailRenderError, `${template}.${field}`);
      }
    }
    for (const template of ['password_set_by_admin', 'password_change_required'] as const) {
      const mail = renderMail(template, samplePayload(template), ctx);
      assert.match(mail.text, /does not contain/);
      assert.match(mail.text, /another channel/);
      assert.match(mail.text, /contact Carl Owner \(carl@acme\.test\)/);
    }
  });

  test('an unknown template or a missing field is refused, naming the field but not its value', () => {
    assert.throws(() => renderMail('welcome_back', {}, ctx), /unknown mail template "welcome_back"/);
    const { tokenId: _tokenId, ...withoutToken } = samplePayload('invitation');
    assert.throws(() => renderMail('invitation', withoutToken, ctx), /field "tokenId" is missing/);
    assert.throws(() => renderMail('reset_link', { ...samplePayload('reset_link'), purpose: 'whim' }, ctx), /field "purpose" must be one of/);
    assert.throws(() => renderMail('password_changed', { ...samplePayload('password_changed'), changedAt: 'yesterday' }, ctx), /field "changedAt"/);
    assert.throws(() => renderMail('password_change_required', { ...samplePayload('password_change_required'), loginUrl: 'javascript:alert(1)' }, ctx), /field "loginUrl"/);
    assert.throws(() => renderMail('account_locked', { ...samplePayload('account_locked'), agentName: 'Secret Agent 99', accountName: 42 }, ctx), (err: Error) => !err.message.includes('Secret Agent'));
  });
});

// ---------------------------------------------------------------------------------------------

interface Harness {
  db: Db;
  clock: ManualClock;
  accountId: string;
  logLines: string[];
  logger: Logger;
  dir: string;
  /** a SQLite file or a fresh PostgreSQL schema, as DIALECT says */
  databaseUrl: string;
}

async function freshHarness(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'deskpass-mail-'));
  const databaseUrl = await freshDatabaseUrl(dir);
  const db = openDatabase(databaseUrl);
  await migrateToLatest(db);
  const accountId = randomUUID();
  await db.insertInto('accounts').values({ id: accountId, name: 'Acme Support', slug: 'acme', plan: 'enterprise', settings: '{}', created_at: new Date().toISOString() }).execute();
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  return { db, clock: new ManualClock(), accountId, logLines, logger, dir, databaseUrl };
}

async function closeHarness(h: Harness): Promise<void> {
  await h.db.destroy();
  await dropDatabase(h.databaseUrl);
  await rm(h.dir, { recursive: true, force: true });
}

function newWorker(h: Harness, transport: MailTransport, options: { db?: Db; pollIntervalMs?: number } = {}): OutboxWorker {
  return new OutboxWorker({ db: options.db ?? h.db, transport, clock: h.clock, secretKey: SECRET_KEY, publicUrl: PUBLIC_URL, mailFrom: MAIL_FROM, logger: h.logger, pollIntervalMs: options.pollIntervalMs });
}

async function queue(h: Harness, recipient: string, template: string, payload: Record<string, unknown>): Promise<void> {
  await enqueueMail(h.db, { accountId: h.accountId, recipient, template, payload }, h.clock.now());
}

function outboxRows(h: Harness) {
  return h.db.selectFrom('mail_outbox').selectAll().orderBy('id').execute();
}

function greeting(mail: CapturedMail): string {
  return /^Hello (.*),/.exec(mail.text)?.[1] ?? '';
}

describe('outbox worker over a real SMTP server', () => {
  let smtp: SmtpCapture;
  let h: Harness;
  let transport: MailTransport;

  before(async () => {
    smtp = await SmtpCapture.start();
  });
  after(async () => {
    await smtp.stop();
  });
  beforeEach(async () => {
    smtp.clear();
    smtp.failNext(0);
    h = await freshHarness();
    transport = createMailTransport({ smtpUrl: smtp.url, mailDir: join(h.dir, 'mail') });
  });
  afterEach(async () => {
    await transport.close();
    await closeHarness(h);
  });

  test('a kicked worker delivers a reset link within two seconds, and its token hashes to the stored hash', async () => {
    const worker = newWorker(h, transport, { pollIntervalMs: 60_000 }); // only the kick can wake it
    worker.start();
    const tokenId = randomUUID();
    const storedHash = hashToken(deriveLinkToken(SECRET_KEY, tokenId)); // what the flow keeps in password_reset_tokens
    const committedAt = Date.now();
    await queue(h, 'ana@acme.test', 'reset_link', { ...samplePayload('reset_link'), tokenId });
    worker.kick();
    const mail = await smtp.waitFor((m) => m.to.includes('ana@acme.test'), 2000);
    assert.ok(Date.now() - committedAt < 2000);
    await worker.stop();

    const link = /https:\/\/desk\.example\.com\/reset-password\/([A-Za-z0-9_-]+)/.exec(mail.text);
    assert.ok(link, 'the text part carries the link');
    const token = link[1];
    assert.ok(isWellFormedToken(token));
    assert.equal(hashToken(token), storedHash);
    assert.ok(mail.html.includes(`href="${link[0]}"`), 'the HTML button carries the same link');
    assert.match(mail.from, /^"?Deskpass"? <no-reply@desk\.example\.com>$/);
    assert.match(mail.raw, /Message-ID:\s+<outbox\.\d+\.[0-9a-f-]+@desk\.example\.com>/i);

    const [row] = await outboxRows(h);
    assert.equal(row.status, 'sent');
    assert.equal(row.payload, null, 'a sent message keeps no body');
    assert.ok(row.sent_at);

    const logs = h.logLines.join('');
    assert.match(logs, /"outboxId":1/);
    assert.match(logs, /"template":"reset_link"/);
    assert.match(logs, /"attempt":1/);
    assert.ok(!logs.includes(token) && !logs.includes('/reset-password/') && !logs.includes(tokenId), 'logs never hold the link, the token or its row id');
  });

  test('mail queued by another instance is delivered by polling within two seconds', async () => {
    const worker = newWorker(h, transport); // default 500 ms poll, never kicked
    worker.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const committedAt = Date.now();
    await queue(h, 'ana@acme.test', 'account_locked', samplePayload('account_locked'));
    await smtp.waitFor(() => true, 2000);
    assert.ok(Date.now() - committedAt < 2000);
    await worker.stop();
  });

  test("one agent's emails arrive in the order they were queued", async () => {
    for (let i = 1; i <= 4; i++) {
      await queue(h, 'ana@acme.test', 'invitation', samplePayload('invitation', { person: `ana ${i}` }));
      await queue(h, 'ben@acme.test', 'invitation', samplePayload('invitation', { person: `ben ${i}` }));
    }
    const worker = newWorker(h, transport);
    assert.equal(await worker.runOnce(), 8);
    const names = (who: string) => smtp.messages.filter((m) => m.to.includes(`${who}@acme.test`)).map(greeting);
    assert.deepEqual(names('ana'), ['ana 1', 'ana 2', 'ana 3', 'ana 4']);
    assert.deepEqual(names('ben'), ['ben 1', 'ben 2', 'ben 3', 'ben 4']);
  });

  test('a failing SMTP server delays mail by 2 s, then 4 s, but never loses it', async () => {
    const worker = newWorker(h, transport);
    const queuedAt = h.clock.now().getTime();
    await queue(h, 'ana@acme.test', 'password_changed', samplePayload('password_changed'));
    smtp.failNext(2);

    assert.equal(await worker.runOnce(), 0);
    let [row] = await outboxRows(h);
    assert.equal(row.status, 'pending');
    assert.equal(row.attempts, 1);
    assert.equal(row.next_attempt_at, new Date(queuedAt + 2000).toISOString());
    assert.match(row.last_error ?? '', /451/);
    assert.notEqual(row.payload, null);

    h.clock.advanceMs(1999);
    assert.equal(await worker.runOnce(), 0, 'one millisecond early: not retried');
    h.clock.advanceMs(1);
    assert.equal(await worker.runOnce(), 0, 'second attempt fails too');
    [row] = await outboxRows(h);
    assert.equal(row.attempts, 2);
    assert.equal(row.next_attempt_at, new Date(queuedAt + 2000 + 4000).toISOString());

    h.clock.advanceMs(4000);
    assert.equal(await worker.runOnce(), 1);
    assert.equal(smtp.messages.length, 1);
    [row] = await outboxRows(h);
    assert.equal(row.status, 'sent');
    assert.equal(row.payload, null);
    assert.match(h.logLines.join(''), /"attempt":2.*451/);
  });

  test("a retried message still arrives before the same agent's later mail", async () => {
    const worker = newWorker(h, transport);
    await queue(h, 'ana@acme.test', 'invitation', samplePayload('invitation', { person: 'first' }));
    await queue(h, 'ana@acme.test', 'invitation', samplePayload('invitation', { person: 'second' }));
    smtp.failNext(1);
    assert.equal(await worker.runOnce(), 0, 'the second waits behind the first');
    h.clock.advanceSeconds(2);
    assert.equal(await worker.runOnce(), 2);
    assert.deepEqual(smtp.messages.map(greeting), ['first', 'second']);
  });

  test('the retry delay doubles from 2 seconds and stops growing at 15 minutes', async () => {
    assert.deepEqual([1, 2, 3, 9].map(retryDelayMs), [2000, 4000, 8000, 512_000]);
    assert.equal(retryDelayMs(10), 15 * 60_000);
    assert.equal(retryDelayMs(40), 15 * 60_000);

    const worker = newWorker(h, transport);
    await queue(h, 'ana@acme.test', 'account_locked', samplePayload('account_locked'));
    await h.db.updateTable('mail_outbox').set({ attempts: 12 }).execute();
    smtp.failNext(1);
    await worker.runOnce();
    const [row] = await outboxRows(h);
    assert.equal(row.attempts, 13);
    assert.equal(row.next_attempt_at, new Date(h.clock.now().getTime() + 15 * 60_000).toISOString());
  });

  test('a message that cannot be rendered is kept, retried with backoff and logged', async () => {
    const worker = newWorker(h, transport);
    await queue(h, 'ana@acme.test', 'no_such_template', { agentName: 'Ana' });
    assert.equal(await worker.runOnce(), 0);
    const [row] = await outboxRows(h);
    assert.equal(row.status, 'pending');
    assert.equal(row.attempts, 1);
    assert.match(row.last_error ?? '', /unknown mail template/);
    assert.match(h.logLines.join(''), /"template":"no_such_template".*unknown mail template/);
    assert.equal(smtp.messages.length, 0);
  });

  test('two workers on one database never send one message twice', async () => {
    // a second connection to the same file, as a second instance would have
    const otherDb = openDatabase(h.databaseUrl);
    const otherTransport = createMailTransport({ smtpUrl: smtp.url, mailDir: join(h.dir, 'mail') });
    try {
      for (let i = 1; i <= 20; i++) {
        await queue(h, `agent${i % 7}@acme.test`, 'invitation', samplePayload('invitation', { person: `message ${i}` }));
      }
      const a = newWorker(h, transport);
      const b = newWorker(h, otherTransport, { db: otherDb });
      const [sentByA, sentByB] = await Promise.all([a.runOnce(), b.runOnce()]);
      assert.equal(sentByA + sentByB, 20);
      const received = smtp.messages.map(greeting).sort();
      assert.equal(received.length, 20);
      assert.equal(new Set(received).size, 20, 'no message arrived twice');
      const rows = await outboxRows(h);
      assert.ok(rows.every((r) => r.status === 'sent'));
    } finally {
      await otherTransport.close();
      await otherDb.destroy();
    }
  });

  test('stop() lets the batch in flight finish and leaves no message claimed', async () => {
    const worker = newWorker(h, transport);
    for (let i = 1; i <= 5; i++) await queue(h, `agent${i}@acme.test`, 'account_locked', samplePayload('account_locked'));
    worker.start();
    worker.kick();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await worker.stop();
    const rows = await outboxRows(h);
    for (const row of rows) {
      assert.ok(row.status === 'sent' || row.locked_until === null, `row ${row.id} is sent or free to claim`);
    }
    assert.equal(smtp.messages.length, rows.filter((r) => r.status === 'sent').length);
  });
});

describe('file transport', () => {
  test('without SMTP_URL each message is an .eml file readable only by its owner', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'deskpass-eml-'));
    try {
      const mailDir = join(dir, 'data', 'mail'); // does not exist yet
      const transport = createMailTransport({ mailDir });
      const mail = renderMail('account_locked', samplePayload('account_locked'), ctx);
      await transport.send({ from: MAIL_FROM, to: 'ana@acme.test', ...mail, messageId: '<outbox.1.test@desk.example.com>' });
      await transport.send({ from: MAIL_FROM, to: 'ben@acme.test', ...mail });
      await transport.close();

      const files = (await readdir(mailDir)).sort();
      assert.equal(files.length, 2);
      for (const file of files) {
        assert.match(file, /^\d{4}-\d{2}-\d{2}T\d{6}\.\d{3}Z-[0-9a-f]{12}\.eml$/);
        assert.equal((await stat(join(mailDir, file))).mode & 0o777, 0o600);
      }
      const contents = await Promise.all(files.map((f) => readFile(join(mailDir, f), 'utf8')));
      const ana = contents.find((c) => /^To: ana@acme\.test$/m.test(c));
      assert.ok(ana);
      assert.match(ana, /^Subject: Sign-in to your Acme Support help desk account is locked for now$/m);
      assert.match(ana, /^Message-ID: <outbox\.1\.test@desk\.example\.com>$/m);
      assert.match(ana, /Content-Type: text\/plain/);
      assert.match(ana, /Content-Type: text\/html/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('emails say who did it, queued by the flows and read over real SMTP', () => {
  const CHROME_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
  let t: TestApp;
  let agentRoleId: string;
  let ownerToken: string;
  let sam: { id: string; token: string };
  let n = 0;

  /** An active agent with the Agent role, signed in (their token unused here). */
  async function newAgent(): Promise<{ id: string; email: string; password: string }> {
    n += 1;
    const email = `target${n}@acme.test`;
    const password = `Harbour-Juniper-${n}-Quill`;
    const { id } = await t.addAgent(ownerToken, { email, name: `Tara Target ${n}`, roleId: agentRoleId, password });
    return { id, email, password };
  }

  /** The payload of the last row queued for a recipient and template, as the outbox holds it. */
  async function queuedPayload(recipient: string, template: string): Promise<Record<string, unknown>> {
    const row = await t.app.deskpass.deps.db.selectFrom('mail_outbox').select('payload').where('recipient', '=', recipient).where('template', '=', template).orderBy('id', 'desc').executeTakeFirstOrThrow();
    return typeof row.payload === 'string' ? JSON.parse(row.payload) : (row.payload as Record<string, unknown>);
  }

  before(async () => {
    t = await TestApp.start();
    ({ agentRoleId, ownerToken } = await t.setup());
    const supervisorRoleId = await t.role(ownerToken, 'Supervisor', ['manage_agents', 'manage_agent_password']);
    sam = await t.addAgent(ownerToken, { email: 'sam@acme.test', name: 'Sam Supervisor', roleId: supervisorRoleId, password: 'Copper-Lantern-Meadow-58' });
  });
  after(async () => {
    await t.close();
  });

  test('the invitation names "Sam Supervisor (Supervisor)", the address to sign in with and {PUBLIC_URL}/login', async () => {
    const since = t.smtp.messages.length;
    // The worker waits while the payload is read (it is erased once the mail is sent).
    await t.app.deskpass.mailWorker.stop();
    const created = await t.post('/api/v1/agents', { email: 'ada@example.com', name: 'Ada Lovelace', roleId: agentRoleId }, sam.token);
    assert.equal(created.status, 201, created.raw);
    // who, as they were when it was queued: a rename later does not rewrite it
    assert.partialDeepStrictEqual(await queuedPayload('ada@example.com', 'invitation'), { invitedByName: 'Sam Supervisor', invitedByRole: 'Supervisor', email: 'ada@example.com' });
    t.app.deskpass.mailWorker.start();
    const mail = await t.mailTo('ada@example.com', /invited/, since);
    for (const part of [mail.text, mail.html.replace(/<\/?strong>/g, '')]) {
      assert.match(part, /Sam Supervisor \(Supervisor\) has invited you to the Acme Support help desk/);
      assert.match(part, /sign in with ada@example\.com/i);
      assert.ok(part.includes(`${t.config.publicUrl}/login`), 'the sign-in page');
    }
    t.linkToken(mail); // and the set-password link
  });

  test('a reset link sent by a supervisor names them with their role', async () => {
    const target = await newAgent();
    const since = t.smtp.messages.length;
    assert.equal((await t.post(`/api/v1/agents/${target.id}/password-reset-email`, undefined, sam.token)).status, 202);
    const mail = await t.mailTo(target.email, /Reset your password/, since);
    assert.match(mail.text, /^Sam Supervisor \(Supervisor\) sent you this link to choose a new password for your Acme Support help desk account\.$/m);
    assert.doesNotMatch(mail.text + mail.html, /\ban administrator\b/i);
    t.linkToken(mail);
  });

  test('a password and a one-time password set by a supervisor name them with their role; by the Account Administrator, "(Administrator)"', async () => {
    const target = await newAgent();
    let since = t.smtp.messages.length;
    t.secrets.add('Saffron-Kettle-Basalt-31');
    assert.equal((await t.put(`/api/v1/agents/${target.id}/password`, { password: 'Saffron-Kettle-Basalt-31', requireChangeAtNextLogin: false }, sam.token)).status, 204);
    const set = await t.mailTo(target.email, /a new password was set/i, since);
    assert.match(set.text, /^Sam Supervisor \(Supervisor\) set a new password for your Acme Support help desk account on /m);

    since = t.smtp.messages.length;
    t.secrets.add('Walnut-Ember-Cobalt-77');
    assert.equal((await t.put(`/api/v1/agents/${target.id}/password`, { password: 'Walnut-Ember-Cobalt-77', requireChangeAtNextLogin: true }, sam.token)).status, 204);
    const oneTime = await t.mailTo(target.email, /next sign-in/, since);
    assert.match(oneTime.text, /^Sam Supervisor \(Supervisor\) set a one-time password for your Acme Support help desk account on /m);
    assert.equal((await queuedPayload(target.email, 'password_change_required')).adminRole, 'Supervisor');

    since = t.smtp.messages.length;
    t.secrets.add('Tangerine-Orbit-Fennel-12');
    assert.equal((await t.put(`/api/v1/agents/${target.id}/password`, { password: 'Tangerine-Orbit-Fennel-12', requireChangeAtNextLogin: false }, ownerToken)).status, 204);
    const byOwner = await t.mailTo(target.email, /a new password was set/i, since);
    assert.ok(byOwner.text.includes(`${OWNER.name} (Administrator) set a new password`), byOwner.text);
    for (const mail of [set, oneTime, byOwner]) {
      assert.doesNotMatch(mail.subject + mail.text + mail.html, /\ban administrator\b/i, mail.subject);
      assert.deepEqual(t.leakedSecrets(mail.raw), [], 'no password in the notice');
    }
  });

  test('a second factor reset by a supervisor names them; the CLI\'s recover-admin says the operator', async () => {
    const target = await newAgent();
    const signedIn = await t.login(target.email, target.password);
    await enrolTotp(t, signedIn);
    let since = t.smtp.messages.length;
    assert.equal((await t.delete(`/api/v1/agents/${target.id}/two-factor`, sam.token)).status, 204);
    const reset = await t.mailTo(target.email, /second factor was reset/, since);
    assert.match(reset.text, /^Sam Supervisor \(Supervisor\) removed your authenticator app, passkeys and recovery codes/m);

    // the Account Administrator's factor, removed by the operator through the CLI's flow
    const { secret } = await enrolTotp(t, ownerToken);
    await signInWithTotp(t, OWNER.email, OWNER.password, secret);
    since = t.smtp.messages.length;
    const cli = await resetAdminTwoFactor(t.app.deskpass.deps, { context: { method: 'cli', ip: null, userAgent: 'deskpass-cli' } });
    assert.ok(cli.ok && cli.hadFactor);
    await t.app.deskpass.mailWorker.runOnce();
    const byOperator = await t.mailTo(OWNER.email, /second factor was reset/, since);
    assert.match(byOperator.text, /^The operator of the server removed your authenticator app, passkeys and recovery codes/m);
    assert.doesNotMatch(byOperator.text, /deskpass-cli|Browser:/, 'the CLI is no browser');
    ownerToken = await t.login(OWNER.email, OWNER.password);
  });

  test('the password-changed notice names a real Chrome on Linux "Chrome on Linux", and an unknown client "an unrecognised browser or app"', async () => {
    const target = await newAgent();
    // the notice of the first password, through the invitation: a welcome, not an alarm about sessions
    const welcome = await t.mailTo(target.email, /password is set/);
    assert.match(welcome.subject, /^Welcome to the Acme Support help desk: your password is set$/);
    assert.match(welcome.text, /when you accepted your invitation and chose your first password/);
    assert.doesNotMatch(welcome.text, /sessions were signed out|reset link/);
    for (const [userAgent, expected, next] of [
      [CHROME_ON_LINUX, 'Chrome on Linux', 'Gravel-Pelican-Aster-63'],
      ['HelpdeskSync/2.1 (+https://evil.example/steal)', 'an unrecognised browser or app', 'Marble-Thicket-Osprey-85'],
    ] as const) {
      const token = await t.login(target.email, target.password);
      const since = t.smtp.messages.length;
      t.secrets.add(next);
      const changed = await t.request('POST', '/api/v1/me/password', { token, body: { currentPassword: target.password, newPassword: next }, headers: { 'user-agent': userAgent } });
      assert.equal(changed.status, 204, changed.raw);
      target.password = next;
      const mail = await t.mailTo(target.email, /was changed/, since);
      for (const part of [mail.text, mail.html]) {
        assert.ok(part.includes(`Browser: ${expected}`), part);
        assert.doesNotMatch(part, /Mozilla|131|HelpdeskSync|evil\.example/);
      }
    }
  });
});
