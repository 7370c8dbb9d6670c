import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { SmtpCapture } from './support/smtp-capture.js';

// The real `deskpass` command, as an operator runs it: the built bin, a child process, a temp
// working directory (so ./data is its own), cheap argon2id, mail to a real SMTP capture.

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'deskpass.js');
const TEST_ARGON2ID = 'm=256,t=1,p=1';
const PUBLIC_URL = 'http://localhost:3999';
const LINK = /\/reset-password\/([A-Za-z0-9_-]{43})/;

let smtp: SmtpCapture;
const dirs: string[] = [];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deskpass-cli-'));
  dirs.push(dir);
  return dir;
}

/** The environment of an operator's shell, minus anything that would point away from the temp dir. */
function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ARGON2ID: TEST_ARGON2ID, PUBLIC_URL, LOG_LEVEL: 'info', SMTP_URL: smtp.url };
  for (const name of ['DATABASE_URL', 'SECRET_KEY', 'PORT', 'HOST', 'REDIS_URL', 'MAIL_FROM', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT']) delete env[name];
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Runs `deskpass …` to completion (async: the SMTP capture lives in this process and must keep answering). */
function deskpass(cwd: string, args: string[], env: NodeJS.ProcessEnv = cliEnv()): Promise<Run> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** The Deskpass server on the CLI's store, built in this process as `serve` builds it. */
async function serverOn(cwd: string, logs: string[] = []): Promise<FastifyInstance> {
  const secretKey = readFileSync(join(cwd, 'data', 'secret.key'), 'utf8').trim();
  const config = loadConfig({ DATABASE_URL: `sqlite:${join(cwd, 'data', 'deskpass.sqlite')}`, SECRET_KEY: secretKey, SMTP_URL: smtp.url, PUBLIC_URL, ARGON2ID: TEST_ARGON2ID, LOG_LEVEL: 'info' });
  const logStream = new Writable({ write: (chunk, _e, done) => (logs.push(String(chunk)), done()) });
  const app = await buildApp({ config, logStream });
  await app.ready();
  return app;
}

async function call(app: FastifyInstance, method: 'GET' | 'POST', url: string, body?: unknown, token?: string) {
  const response = await app.inject({ method, url, payload: body === undefined ? undefined : JSON.stringify(body), headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined, raw: response.body };
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePromise(port));
    });
  });
}

/** A `deskpass serve` child process whose output the test reads as it comes. */
class Served {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(cwd: string, env: NodeJS.ProcessEnv, node = process.execPath) {
    this.child = spawn(node, [BIN, 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk) => (this.stdout += String(chunk)));
    this.child.stderr!.on('data', (chunk) => (this.stderr += String(chunk)));
    this.exited = new Promise((resolvePromise) => this.child.once('exit', (code, signal) => resolvePromise({ code, signal })));
  }

  /** Waits until the output matches, or fails with what the process said. */
  async waitFor(pattern: RegExp, where: 'stdout' | 'stderr' = 'stdout', timeoutMs = 20_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this[where]);
      if (match) return match;
      if (this.child.exitCode !== null) throw new Error(`serve exited (${this.child.exitCode}): ${this.stdout}\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`serve never printed ${pattern}: ${this.stdout}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM, as a process manager stops it; returns how it ended. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }

  /** Only for clean-up after a failed test. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

before(async () => {
  // the bin runs dist/: build it from the sources under test
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
  smtp = await SmtpCapture.start();
});

after(async () => {
  await smtp.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('deskpass init, recover-admin and migrate', () => {
  let cwd: string;
  let init: Run;
  let printedToken: string;
  let app: FastifyInstance | undefined;
  let adminToken: string;
  const ADMIN = { email: 'admin@acme.test', password: 'Marble-Tortoise-Kayak-58' };

  before(async () => {
    cwd = tempDir();
    init = await deskpass(cwd, ['init', '--admin-email', ADMIN.email, '--admin-name', 'Ada Admin', '--account-name', 'Acme CLI Desk', '--plan', 'fantastic', '--time-zone', 'Europe/Berlin']);
  });
  after(async () => {
    await app?.close();
  });

  test('init creates the help desk (migrated data/deskpass.sqlite, data/secret.key mode 0600) and prints a /reset-password/ link', () => {
    assert.equal(init.code, 0, init.stderr);
    const match = LINK.exec(init.stdout);
    assert.ok(match, init.stdout);
    assert.ok(init.stdout.includes(`${PUBLIC_URL}/reset-password/${match[1]}`));
    printedToken = match[1];
    assert.ok(existsSync(join(cwd, 'data', 'deskpass.sqlite')));
    const key = statSync(join(cwd, 'data', 'secret.key'));
    assert.equal(key.mode & 0o777, 0o600);
    assert.match(readFileSync(join(cwd, 'data', 'secret.key'), 'utf8').trim(), /^[0-9a-f]{64}$/);
  });

  test('a second init exits non-zero, refuses, and creates nothing', async () => {
    const again = await deskpass(cwd, ['init', '--admin-email', 'other@acme.test']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /refuses/);
    assert.doesNotMatch(again.stdout, LINK);
  });

  test('init refuses an unknown plan and a malformed email with a non-zero exit', async () => {
    const elsewhere = tempDir();
    const badPlan = await deskpass(elsewhere, ['init', '--admin-email', 'x@acme.test', '--plan', 'platinum']);
    assert.notEqual(badPlan.code, 0);
    const badEmail = await deskpass(elsewhere, ['init', '--admin-email', 'not-an-email']);
    assert.notEqual(badEmail.code, 0);
    assert.doesNotMatch(badEmail.stdout, LINK);
    const badZone = await deskpass(elsewhere, ['init', '--admin-email', 'x@acme.test', '--time-zone', 'Mars/Olympus']);
    assert.notEqual(badZone.code, 0);
    assert.match(badZone.stderr, /--time-zone: "Mars\/Olympus" is not an IANA time zone/);
    assert.doesNotMatch(badZone.stdout, LINK);
  });

  test('the server\'s outbox worker delivers the invitation when it starts, and the printed link sets the first password', async () => {
    assert.equal(smtp.messages.filter((m) => m.to.includes(ADMIN.email)).length, 0, 'the CLI itself sends nothing');
    app = await serverOn(cwd);
    const invitation = await smtp.waitFor((m) => m.to.includes(ADMIN.email) && /invit/i.test(m.subject));
    assert.equal(LINK.exec(invitation.text)?.[1], printedToken, 'the emailed link is the printed one');
    assert.match(invitation.text, /\d{2}:\d{2} CES?T/, "init --time-zone Europe/Berlin: the invitation's time is in the help desk's zone");
    // nobody signed in did it: the operator did, and the email says so (and how to sign in later)
    assert.match(invitation.text, /^The server operator has invited you to the Acme CLI Desk help desk/m);
    assert.ok(invitation.text.includes(`sign in with ${ADMIN.email}`), invitation.text);

    const inspect = await call(app, 'GET', `/api/v1/auth/reset-password/${printedToken}`);
    assert.equal(inspect.status, 200, inspect.raw);
    assert.equal(inspect.body.email, ADMIN.email);
    assert.equal((await call(app, 'POST', '/api/v1/auth/reset-password', { token: printedToken, newPassword: ADMIN.password })).status, 204);
    const login = await call(app, 'POST', '/api/v1/auth/login', ADMIN);
    assert.equal(login.status, 200, login.raw);
    assert.equal(login.body.agent.isAccountAdministrator, true);
    adminToken = login.body.token;
    const account = await call(app, 'GET', '/api/v1/account', undefined, adminToken);
    assert.equal(account.body.plan, 'fantastic');
    assert.equal(account.body.name, 'Acme CLI Desk');
    assert.equal((await call(app, 'GET', `/api/v1/auth/reset-password/${printedToken}`)).body.error.details[0].reason, 'used');
  });

  test('recover-admin prints a working link, kills the older link, and writes password.recovery_link_issued with no actor', async () => {
    assert.ok(app && adminToken, 'needs the server of the previous test');
    const since = smtp.messages.length;
    assert.equal((await call(app, 'POST', '/api/v1/auth/forgot-password', { email: ADMIN.email })).status, 202);
    const mailed = await smtp.waitFor((m) => m.to.includes(ADMIN.email) && /reset/i.test(m.subject) && smtp.messages.indexOf(m) >= since);
    const olderToken = LINK.exec(mailed.text)![1];
    assert.equal((await call(app, 'GET', `/api/v1/auth/reset-password/${olderToken}`)).status, 200);

    const recover = await deskpass(cwd, ['recover-admin']);
    assert.equal(recover.code, 0, recover.stderr);
    const recoveryToken = LINK.exec(recover.stdout)?.[1];
    assert.ok(recoveryToken, recover.stdout);
    assert.ok(recover.stdout.includes(ADMIN.email));

    const older = await call(app, 'GET', `/api/v1/auth/reset-password/${olderToken}`);
    assert.equal(older.status, 410);
    assert.deepEqual(older.body.error.details, [{ reason: 'revoked' }]);
    const inspect = await call(app, 'GET', `/api/v1/auth/reset-password/${recoveryToken}`);
    assert.equal(inspect.status, 200, inspect.raw);
    assert.equal(inspect.body.email, ADMIN.email);

    const events = await call(app, 'GET', '/api/v1/audit-events?type=password.recovery_link_issued', undefined, adminToken);
    assert.equal(events.status, 200, events.raw);
    assert.equal(events.body.events.length, 1);
    const [event] = events.body.events;
    assert.equal(event.actor, null);
    assert.equal(event.target.email, ADMIN.email);
    assert.equal(event.method, 'cli');
    assert.ok(!events.raw.includes(recoveryToken!), 'the audit event does not hold the link');

    // a second recovery kills the first recovery link too, and the last one works
    const second = await deskpass(cwd, ['recover-admin', '--account', 'acme-cli-desk']);
    assert.equal(second.code, 0, second.stderr);
    const secondToken = LINK.exec(second.stdout)![1];
    assert.deepEqual((await call(app, 'GET', `/api/v1/auth/reset-password/${recoveryToken}`)).body.error.details, [{ reason: 'revoked' }]);
    assert.equal((await call(app, 'POST', '/api/v1/auth/reset-password', { token: secondToken, newPassword: 'Recovered-Lantern-Fjord-31' })).status, 204);
    assert.equal((await call(app, 'POST', '/api/v1/auth/login', { email: ADMIN.email, password: 'Recovered-Lantern-Fjord-31' })).status, 200);
  });

  test('recover-admin for an unknown account slug exits non-zero and prints no link', async () => {
    const run = await deskpass(cwd, ['recover-admin', '--account', 'no-such-desk']);
    assert.notEqual(run.code, 0);
    assert.doesNotMatch(run.stdout, LINK);
  });

  test('migrate exits 0 on an up-to-date database and on an empty directory', async () => {
    const run = await deskpass(cwd, ['migrate']);
    assert.equal(run.code, 0, run.stderr);
    const fresh = tempDir();
    const first = await deskpass(fresh, ['migrate']);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(existsSync(join(fresh, 'data', 'deskpass.sqlite')));
  });
});

describe('deskpass apps', () => {
  let cwd: string;
  const OSTICKET = ['--name', 'osTicket', '--type', 'confidential', '--redirect-uri', 'https://tickets.acme.test/api/auth/oauth2'];
  const ZAMMAD = [
    '--name', 'Zammad', '--type', 'public',
    '--redirect-uri', 'https://helpdesk.acme.test/auth/openid_connect/callback',
    '--post-logout-redirect-uri', 'https://helpdesk.acme.test/',
    '--backchannel-logout-uri', 'https://helpdesk.acme.test/auth/openid_connect/backchannel_logout',
    '--launch-url', 'https://helpdesk.acme.test/',
  ];
  let confidential: { clientId: string; clientSecret: string };
  let publicApp: { clientId: string };
  let rotatedSecret: string;

  before(async () => {
    cwd = tempDir();
    const init = await deskpass(cwd, ['init', '--admin-email', 'admin@acme.test']);
    assert.equal(init.code, 0, init.stderr);
  });

  test('apps add --json prints one JSON object {clientId, clientSecret?} and nothing else on stdout', async () => {
    const added = await deskpass(cwd, ['apps', 'add', ...OSTICKET, '--json']);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout.trimEnd().split('\n').length, 1, added.stdout);
    confidential = JSON.parse(added.stdout);
    assert.deepEqual(Object.keys(confidential), ['clientId', 'clientSecret']);
    assert.match(confidential.clientId, /^[A-Za-z0-9_-]{32}$/);
    assert.match(confidential.clientSecret, /^[A-Za-z0-9_-]{43}$/);

    const pub = await deskpass(cwd, ['apps', 'add', ...ZAMMAD, '--json']);
    assert.equal(pub.code, 0, pub.stderr);
    publicApp = JSON.parse(pub.stdout);
    assert.deepEqual(Object.keys(publicApp), ['clientId'], 'a public app has no secret');

    const human = await deskpass(cwd, ['apps', 'add', '--name', 'Peppermint', '--type', 'public', '--redirect-uri', 'http://localhost:5003/api/v1/auth/oidc/callback']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /Client id: +[A-Za-z0-9_-]{32}/);
    assert.match(human.stdout, /no secret/);
  });

  test('bad input: a clear message naming the option, a non-zero exit, and nothing registered', async () => {
    const insecure = await deskpass(cwd, ['apps', 'add', '--name', 'Bad', '--type', 'public', '--redirect-uri', 'https://ok.acme.test/cb', '--redirect-uri', 'http://evil.example/cb', '--json']);
    assert.notEqual(insecure.code, 0);
    assert.equal(insecure.stdout, '');
    assert.match(insecure.stderr, /--redirect-uri #2 \(http:\/\/evil\.example\/cb\) must use https:\/\//);
    const fragment = await deskpass(cwd, ['apps', 'add', '--name', 'Bad', '--type', 'public', '--redirect-uri', 'https://ok.acme.test/cb', '--backchannel-logout-uri', 'https://ok.acme.test/#x']);
    assert.notEqual(fragment.code, 0);
    assert.match(fragment.stderr, /--backchannel-logout-uri must not contain a fragment/);
    const type = await deskpass(cwd, ['apps', 'add', '--name', 'Bad', '--type', 'secret', '--redirect-uri', 'https://ok.acme.test/cb']);
    assert.notEqual(type.code, 0);
    assert.match(type.stderr, /public, confidential/);
    const none = await deskpass(cwd, ['apps', 'add', '--name', 'Bad', '--type', 'public']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /--redirect-uri/);
    const list = JSON.parse((await deskpass(cwd, ['apps', 'list', '--json'])).stdout);
    assert.deepEqual(list.apps.map((a: { name: string }) => a.name), ['osTicket', 'Zammad', 'Peppermint']);
  });

  test('apps list shows every app; --json is the API\'s {apps:[…]} without any secret', async () => {
    const text = await deskpass(cwd, ['apps', 'list']);
    assert.equal(text.code, 0, text.stderr);
    for (const id of [confidential.clientId, publicApp.clientId]) assert.ok(text.stdout.includes(id));
    assert.match(text.stdout, /back-channel logout: https:\/\/helpdesk\.acme\.test\/auth\/openid_connect\/backchannel_logout/);
    const json = await deskpass(cwd, ['apps', 'list', '--json']);
    const { apps } = JSON.parse(json.stdout);
    const zammad = apps.find((a: { clientId: string }) => a.clientId === publicApp.clientId);
    assert.deepEqual(
      { type: zammad.type, postLogoutRedirectUris: zammad.postLogoutRedirectUris, launchUrl: zammad.launchUrl },
      { type: 'public', postLogoutRedirectUris: ['https://helpdesk.acme.test/'], launchUrl: 'https://helpdesk.acme.test/' },
    );
    assert.ok(!json.stdout.includes(confidential.clientSecret));
    assert.ok(!json.stdout.includes('clientSecret'));
  });

  test('apps rotate-secret prints a new secret once; a public app and an unknown client id are refused', async () => {
    const rotated = await deskpass(cwd, ['apps', 'rotate-secret', confidential.clientId]);
    assert.equal(rotated.code, 0, rotated.stderr);
    rotatedSecret = /^  ([A-Za-z0-9_-]{43})$/m.exec(rotated.stdout)?.[1] ?? '';
    assert.ok(rotatedSecret, rotated.stdout);
    assert.notEqual(rotatedSecret, confidential.clientSecret);
    const json = await deskpass(cwd, ['apps', 'rotate-secret', confidential.clientId, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const again = JSON.parse(json.stdout);
    assert.deepEqual(Object.keys(again), ['clientId', 'clientSecret']);
    rotatedSecret = again.clientSecret;
    const pub = await deskpass(cwd, ['apps', 'rotate-secret', publicApp.clientId]);
    assert.notEqual(pub.code, 0);
    assert.match(pub.stderr, /public app/);
    const unknown = await deskpass(cwd, ['apps', 'rotate-secret', 'no-such-client']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no app with client id "no-such-client"/);
  });

  test('apps remove removes by client id; an unknown one exits non-zero', async () => {
    const removed = await deskpass(cwd, ['apps', 'remove', publicApp.clientId]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed "Zammad"/);
    const list = JSON.parse((await deskpass(cwd, ['apps', 'list', '--json'])).stdout);
    assert.ok(!list.apps.some((a: { clientId: string }) => a.clientId === publicApp.clientId));
    const again = await deskpass(cwd, ['apps', 'remove', publicApp.clientId]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /no app with client id/);
  });

  test('the store holds only the newest secret\'s SHA-256; every CLI action is audited with method cli, no actor and no secret', async () => {
    const app = await serverOn(cwd);
    try {
      const db = app.deskpass.deps.db;
      const row = await db.selectFrom('apps').select('secret_hash').where('client_id', '=', confidential.clientId).executeTakeFirstOrThrow();
      assert.equal(row.secret_hash, createHash('sha256').update(rotatedSecret).digest('hex'));
      const events = await db.selectFrom('audit_events').selectAll().where('type', 'like', 'app.%').orderBy('id').execute();
      assert.deepEqual(events.map((e) => e.type), ['app.created', 'app.created', 'app.created', 'app.secret_rotated', 'app.secret_rotated', 'app.deleted']);
      for (const event of events) {
        assert.equal(event.method, 'cli');
        assert.equal(event.actor_agent_id, null);
      }
      const all = JSON.stringify(events);
      assert.ok(!all.includes(confidential.clientSecret) && !all.includes(rotatedSecret), 'no secret in the audit log');
      assert.ok(all.includes(confidential.clientId), 'the events name the client id');
    } finally {
      await app.close();
    }
  });
});

describe('deskpass keys rotate', () => {
  test('a new key signs from then on, the old one stays published, a token it signed still verifies; audited', async () => {
    const cwd = tempDir();
    assert.equal((await deskpass(cwd, ['init', '--admin-email', 'admin@acme.test'])).code, 0);
    const app = await serverOn(cwd);
    try {
      const before = await call(app, 'GET', '/oidc/jwks');
      assert.equal(before.body.keys.length, 1);
      const oldKid = before.body.keys[0].kid;
      assert.equal(before.body.keys[0].d, undefined, 'the JWKS is public keys only');
      const rotated = await deskpass(cwd, ['keys', 'rotate']);
      assert.equal(rotated.code, 0, rotated.stderr);
      const newKid = /New signing key (\S+)\./.exec(rotated.stdout)![1];
      assert.ok(rotated.stdout.includes(`Retired ${oldKid}`), rotated.stdout);
      assert.equal(await app.deskpass.oidc.refreshKeys(), true, 'the running server picks the rotation up');
      const after = await call(app, 'GET', '/oidc/jwks');
      assert.deepEqual(after.body.keys.map((k: { kid: string }) => k.kid), [newKid, oldKid]);
      const db = app.deskpass.deps.db;
      const rows = await db.selectFrom('signing_keys').selectAll().execute();
      for (const row of rows) assert.ok(!row.encrypted_jwk.includes('"d"'), 'private keys are stored encrypted');
      const events = await db.selectFrom('audit_events').select(['type', 'method', 'actor_agent_id']).where('type', '=', 'signing_key.rotated').execute();
      assert.deepEqual(events, [{ type: 'signing_key.rotated', method: 'cli', actor_agent_id: null }]);
    } finally {
      await app.close();
    }
  });
});

describe('deskpass serve refuses to start with a sentence, not a stack trace', () => {
  test('a SECRET_KEY that cannot decrypt the stored signing keys, and a port in use', async () => {
    const cwd = tempDir();
    assert.equal((await deskpass(cwd, ['init', '--admin-email', 'admin@acme.test'])).code, 0);
    assert.equal((await deskpass(cwd, ['keys', 'rotate'])).code, 0);
    // the store's key was sealed under data/secret.key; another key cannot open it
    const wrongKey = await deskpass(cwd, ['serve'], cliEnv({ SECRET_KEY: 'ab'.repeat(32), PORT: String(await freePort()) }));
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /^deskpass: the OpenID Connect signing key \S+ in the database cannot be decrypted: SECRET_KEY is not the one/m);
    assert.doesNotMatch(wrongKey.stderr, /\n\s+at /, 'no stack trace');

    const port = await freePort();
    const blocker = createServer().listen(port, '127.0.0.1');
    await new Promise((resolvePromise) => blocker.once('listening', resolvePromise));
    try {
      const busy = await deskpass(cwd, ['serve'], cliEnv({ PORT: String(port) }));
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, new RegExp(`deskpass: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
      assert.doesNotMatch(busy.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      blocker.close();
    }
  });
});

describe('deskpass without SMTP_URL', () => {
  test('without SMTP_URL the mail is written as an .eml file under ./data/mail, readable only by the server\'s user', async () => {
    const cwd = tempDir();
    const env = cliEnv({ SMTP_URL: undefined });
    const init = await deskpass(cwd, ['init', '--admin-email', 'files@acme.test', '--account-name', 'File Desk'], env);
    assert.equal(init.code, 0, init.stderr);
    const token = LINK.exec(init.stdout)![1];

    const port = await freePort();
    const served = new Served(cwd, { ...env, PORT: String(port), HOST: '127.0.0.1' });
    try {
      const mailDir = join(cwd, 'data', 'mail');
      const deadline = Date.now() + 20_000;
      while (!(existsSync(mailDir) && readdirSync(mailDir).some((f) => f.endsWith('.eml')))) {
        assert.ok(Date.now() < deadline, `no .eml file: ${served.stdout}\n${served.stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const [file] = readdirSync(mailDir).filter((f) => f.endsWith('.eml'));
      assert.equal(statSync(join(mailDir, file)).mode & 0o777, 0o600);
      const eml = readFileSync(join(mailDir, file), 'utf8').replace(/=\r?\n/g, '');
      assert.match(eml, /^To: files@acme\.test/m);
      assert.ok(eml.includes(token), 'the file holds the invitation link');
      assert.equal(smtp.messages.filter((m) => m.to.includes('files@acme.test')).length, 0);
    } finally {
      const ended = await served.stop();
      assert.equal(ended.code, 0, served.stderr);
    }
  });
});

describe('deskpass serve', () => {
  test('serve on an empty database prints a /setup/{token} link that creates the help desk once; SIGTERM exits 0', async () => {
    const cwd = tempDir();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const served = new Served(cwd, cliEnv({ PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: base }));
    try {
      const [, token] = await served.waitFor(/\/setup\/([A-Za-z0-9_-]{43})/);
      assert.ok(served.stdout.includes(`${base}/setup/${token}`));

      const check = await fetch(`${base}/api/v1/setup/${token}`);
      assert.equal(check.status, 200);
      assert.equal((await fetch(`${base}/api/v1/setup/${'A'.repeat(43)}`)).status, 410);
      const body = { token, accountName: 'Served Desk', adminName: 'Sara Served', adminEmail: 'sara@acme.test', password: 'Quartz-Hazel-Mariner-84' };
      const created = await fetch(`${base}/api/v1/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(created.status, 201);
      const answer = (await created.json()) as { agent: { email: string; isAccountAdministrator: boolean } };
      assert.equal(answer.agent.email, 'sara@acme.test');
      assert.equal(answer.agent.isAccountAdministrator, true);

      const again = await fetch(`${base}/api/v1/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(again.status, 410);
      assert.equal(((await again.json()) as { error: { code: string } }).error.code.length > 0, true);
      assert.equal((await fetch(`${base}/api/v1/setup/${token}`)).status, 410);
      const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'sara@acme.test', password: body.password }) });
      assert.equal(login.status, 200);

      // the token is printed once for the operator, and in no log line
      const logLines = served.stdout.split('\n').filter((line) => line.startsWith('{'));
      assert.ok(logLines.some((line) => line.includes('/api/v1/setup/[redacted]')), 'the setup GET is logged, redacted');
      assert.ok(!logLines.some((line) => line.includes(token) || line.includes(body.password)));
      assert.ok(!served.stderr.includes(token));
    } catch (error) {
      served.kill();
      throw error;
    }
    const ended = await served.stop();
    assert.equal(ended.code, 0, `exit ${ended.code} ${ended.signal}: ${served.stderr}`);
    assert.match(served.stdout, /shutting down/);
  });
});

/** The first `node` on PATH outside node_modules that is older than the project's runtime, if any. */
function olderSystemNode(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const node = join(dir, 'node');
    if (!dir || dir.includes('node_modules') || !existsSync(node)) continue;
    const major = Number(execFileSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim());
    return major < 24 ? node : undefined;
  }
  return undefined;
}

describe('deskpass on the project runtime', () => {
  test('the suite itself runs on Node.js 24 or newer', () => {
    assert.ok(Number(process.versions.node.split('.')[0]) >= 24, process.version);
  });

  const older = olderSystemNode();
  test('bin/deskpass.js started by an older node serves on the project\'s Node.js 24; SIGTERM reaches it and exits 0', { skip: older ? false : 'no node older than 24 on PATH' }, async () => {
    const cwd = tempDir();
    const port = await freePort();
    const served = new Served(cwd, cliEnv({ PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}` }), older);
    try {
      const [, version] = await served.waitFor(/Server listening at \S+ on Node\.js (v[0-9.]+)/);
      assert.ok(Number(version.slice(1).split('.')[0]) >= 24, `served on ${version}, started by ${older}`);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    } catch (error) {
      served.kill();
      throw error;
    }
    const ended = await served.stop();
    assert.equal(ended.code, 0, `exit ${ended.code} ${ended.signal}: ${served.stderr}`);
    assert.match(served.stdout, /shutting down/);
  });
});
