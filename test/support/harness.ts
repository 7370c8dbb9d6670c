import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/app.js';
import { parseArgon2, type Config } from '../../src/config.js';
import { ManualClock } from '../../src/domain/clock.js';
import { createArgon2Hasher, type PasswordHasher } from '../../src/security/password-hasher.js';
import { SmtpCapture, type CapturedMail } from './smtp-capture.js';
import type { Database } from '../../src/store/schema.js';

/** Cheap argon2id for tests (the ARGON2ID setting); production uses m=19456,t=2,p=1 or more. */
export const TEST_ARGON2ID = 'm=256,t=1,p=1';

export const OWNER = { email: 'owner@acme.test', name: 'Olivia Owner', password: 'Tundra-Mosaic-Falcon-42' };
export const ACCOUNT_NAME = 'Acme Support';

export interface Answer {
  status: number;
  body: any;
  headers: Record<string, string | string[] | number | undefined>;
  raw: string;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** a raw payload, for malformed-input tests */
  payload?: string;
  /**
   * the client address the server sees. By default each request comes from a new loopback
   * address, so the per-IP rate limits stay out of tests that are not about them; the rate-limit
   * tests pass one explicitly.
   */
  ip?: string;
}

/** A hasher that counts its calls, so tests can prove every path does the same work. */
export interface CountingHasher extends PasswordHasher {
  calls: { hash: number; verify: number };
  /** the argon2 parameters (`m=…,t=…,p=…`) of every hash verified against, in order */
  verifiedParams: string[];
}

function countingHasher(inner: PasswordHasher): CountingHasher {
  const calls = { hash: 0, verify: 0 };
  const verifiedParams: string[] = [];
  return {
    calls,
    verifiedParams,
    hash: (p) => ((calls.hash += 1), inner.hash(p)),
    verify: (h, p) => {
      calls.verify += 1;
      verifiedParams.push(/\$(m=\d+,t=\d+,p=\d+)\$/.exec(h)?.[1] ?? 'not-argon2');
      return inner.verify(h, p);
    },
    needsRehash: (h) => inner.needsRehash(h),
    dummyHash: () => inner.dummyHash(),
    close: inner.close ? () => inner.close!() : undefined,
    load: inner.load ? () => inner.load!() : undefined,
    observe: inner.observe ? (listener) => inner.observe!(listener) : undefined,
  };
}

/**
 * A fresh Deskpass for one test file: its own SQLite file in a temp folder, a real SMTP
 * capture, a clock the test moves, and every log line kept for secret searches.
 */
export class TestApp {
  /** every secret the test used: passwords, link tokens, session tokens */
  readonly secrets = new Set<string>();
  /** every API answer body, as text */
  readonly answers: string[] = [];
  /** the SQL text of every statement, in order (the outbox worker's too) */
  queries: string[] = [];
  private requestCount = 0;

  private constructor(
    readonly app: FastifyInstance,
    readonly config: Config,
    readonly clock: ManualClock,
    readonly smtp: SmtpCapture,
    readonly logs: string[],
    readonly dir: string,
    readonly hasher: CountingHasher,
  ) {}

  static async start(overrides: Partial<Config> = {}, appOptions: Pick<AppOptions, 'clientTimeouts'> = {}): Promise<TestApp> {
    const dir = mkdtempSync(join(tmpdir(), 'deskpass-test-'));
    const smtp = await SmtpCapture.start();
    const clock = new ManualClock(new Date());
    const logs: string[] = [];
    const logStream = new Writable({
      write(chunk, _encoding, callback) {
        logs.push(String(chunk));
        callback();
      },
    });
    // a second instance on the first one's store passes its databaseUrl (see oidc-multi-instance)
    const databaseUrl = overrides.databaseUrl ?? (await freshDatabaseUrl(dir));
    const config: Config = {
      port: 0,
      host: '127.0.0.1',
      publicUrl: 'http://localhost:3000',
      databaseUrl,
      smtpUrl: smtp.url,
      mailDir: join(dir, 'mail'),
      mailFrom: 'Deskpass <no-reply@acme.test>',
      redisUrl: undefined,
      rateLimits: true,
      secretKey: randomBytes(32),
      argon2: parseArgon2(TEST_ARGON2ID),
      logLevel: 'info',
      ...overrides,
    };
    const hasher = countingHasher(createArgon2Hasher(config.argon2));
    const queries: string[] = [];
    let app: Awaited<ReturnType<typeof buildApp>>;
    try {
      try {
        app = await buildApp({ ...appOptions, config, clock, hasher, logStream, observeQuery: (sql) => queries.push(sql) });
      } catch (error) {
        // Seen a few times in full PostgreSQL runs, never explained: the migration of a schema
        // created a moment before fails with 'schema "t_…" does not exist'. One new schema and one
        // more start, said on stderr so that it stays visible (README, Known gaps).
        if (overrides.databaseUrl || !/migration .*failed: schema "t_\w+" does not exist/.test(String(error))) throw error;
        process.stderr.write(`harness: ${String(error)}; starting once more on a new schema\n`);
        config.databaseUrl = await freshDatabaseUrl(dir);
        app = await buildApp({ ...appOptions, config, clock, hasher, logStream, observeQuery: (sql) => queries.push(sql) });
      }
      await app.ready();
    } catch (error) {
      // a server that failed to start leaves nothing running: the test fails instead of hanging
      await smtp.stop();
      await hasher.close?.();
      throw error;
    }
    const testApp = new TestApp(app, config, clock, smtp, logs, dir, hasher);
    testApp.queries = queries;
    return testApp;
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.smtp.stop();
    await dropDatabase(this.config.databaseUrl);
    rmSync(this.dir, { recursive: true, force: true });
  }

  get dialect(): 'sqlite' | 'postgres' {
    return this.config.databaseUrl.startsWith('sqlite:') ? 'sqlite' : 'postgres';
  }

  /**
   * Everything the store holds, for at-rest secret searches: on SQLite the raw bytes of the
   * database file and its WAL; on PostgreSQL a text dump of every row of every table.
   */
  async databaseContents(): Promise<string> {
    if (this.dialect === 'sqlite') return this.databaseBytes();
    const db = this.app.deskpass.deps.db;
    // every table of the schema, as the database has them (a table added later is searched too)
    const schema = new URL(this.config.databaseUrl).searchParams.get('schema');
    const tables = (await db.introspection.getTables()).filter((table) => table.schema === schema).map((table) => table.name as keyof Database);
    // rows sorted: an update may move a row within PostgreSQL's heap, which is no change
    const dumps = await Promise.all(tables.map(async (table) => JSON.stringify((await db.selectFrom(table).selectAll().execute()).map((row) => JSON.stringify(row)).sort())));
    return dumps.join('\n');
  }

  /**
   * The contents once the server's own background work (the outbox worker sending the mail a
   * test's set-up queued) has left them alone for 300 ms: what a "nothing was written" check
   * must start from, or a notice sent meanwhile reads as a write.
   */
  async settledDatabaseContents(): Promise<string> {
    let last = await this.databaseContents();
    for (let round = 0; round < 50; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const now = await this.databaseContents();
      if (now === last) return now;
      last = now;
    }
    throw new Error('the database kept changing for 15 s');
  }

  /** The raw bytes of the SQLite database (main file + WAL), for at-rest secret searches. */
  databaseBytes(): string {
    const path = this.config.databaseUrl.slice('sqlite:'.length);
    const parts = [path, `${path}-wal`].map((p) => {
      try {
        return readFileSync(p).toString('latin1');
      } catch {
        return '';
      }
    });
    return parts.join('');
  }

  async request(method: string, url: string, options: RequestOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let payload: string | undefined = options.payload;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    this.requestCount += 1;
    const remoteAddress = options.ip ?? `127.1.${(this.requestCount >> 8) & 255}.${this.requestCount & 255}`;
    const response = await this.app.inject({ method: method as 'GET', url, headers, payload, remoteAddress });
    this.answers.push(response.body);
    let body: any = undefined;
    if (response.body) {
      try {
        body = JSON.parse(response.body);
      } catch {
        body = response.body;
      }
    }
    return { status: response.statusCode, body, headers: response.headers, raw: response.body };
  }

  get(url: string, token?: string) {
    return this.request('GET', url, { token });
  }
  post(url: string, body?: unknown, token?: string) {
    return this.request('POST', url, { body, token });
  }
  put(url: string, body?: unknown, token?: string) {
    return this.request('PUT', url, { body, token });
  }
  patch(url: string, body?: unknown, token?: string) {
    return this.request('PATCH', url, { body, token });
  }
  delete(url: string, token?: string) {
    return this.request('DELETE', url, { token });
  }

  /** Creates the help desk through the setup API, as the operator does at first start. */
  async setup(): Promise<{ ownerId: string; ownerToken: string; adminRoleId: string; agentRoleId: string }> {
    const setupToken = this.app.deskpass.setupLink.issue();
    this.secrets.add(setupToken);
    this.secrets.add(OWNER.password);
    const created = await this.post('/api/v1/setup', { token: setupToken, accountName: ACCOUNT_NAME, adminName: OWNER.name, adminEmail: OWNER.email, password: OWNER.password });
    if (created.status !== 201) throw new Error(`setup failed: ${created.status} ${created.raw}`);
    const ownerToken = await this.login(OWNER.email, OWNER.password);
    const roles = await this.get('/api/v1/roles', ownerToken);
    const byName = (name: string) => roles.body.roles.find((r: { name: string }) => r.name === name).id as string;
    return { ownerId: created.body.agent.id, ownerToken, adminRoleId: byName('Administrator'), agentRoleId: byName('Agent') };
  }

  /** Signs in and returns the session token (throws on anything but 200). */
  async login(email: string, password: string): Promise<string> {
    this.secrets.add(password);
    const answer = await this.post('/api/v1/auth/login', { email, password });
    if (answer.status !== 200) throw new Error(`login of ${email} failed: ${answer.status} ${answer.raw}`);
    this.secrets.add(answer.body.token);
    return answer.body.token;
  }

  /** Waits for the next email to `to` whose subject matches, after `since` messages. */
  async mailTo(to: string, subject?: RegExp, since = 0): Promise<CapturedMail> {
    return this.smtp.waitFor((m) => m.to.includes(to) && (!subject || subject.test(m.subject)) && this.smtp.messages.indexOf(m) >= since);
  }

  /** The /reset-password/{token} token in an email. */
  linkToken(mail: CapturedMail): string {
    const match = /\/reset-password\/([A-Za-z0-9_-]{43})/.exec(mail.text);
    if (!match) throw new Error(`no reset link in mail "${mail.subject}"`);
    this.secrets.add(match[1]);
    return match[1];
  }

  /**
   * Adds an agent through the API and sets their first password through the invitation link,
   * as a new agent does. Returns the agent's id and a session token.
   */
  async addAgent(adminToken: string, input: { email: string; name: string; roleId: string; password: string }): Promise<{ id: string; token: string }> {
    const since = this.smtp.messages.length;
    const created = await this.post('/api/v1/agents', { email: input.email, name: input.name, roleId: input.roleId }, adminToken);
    if (created.status !== 201) throw new Error(`create agent failed: ${created.status} ${created.raw}`);
    const invitation = await this.mailTo(input.email, /invit/i, since);
    const token = this.linkToken(invitation);
    this.secrets.add(input.password);
    const set = await this.post('/api/v1/auth/reset-password', { token, newPassword: input.password });
    if (set.status !== 204) throw new Error(`first password failed: ${set.status} ${set.raw}`);
    return { id: created.body.id, token: await this.login(input.email, input.password) };
  }

  /** A role with exactly these permissions. */
  async role(adminToken: string, name: string, permissions: string[]): Promise<string> {
    const created = await this.post('/api/v1/roles', { name, permissions }, adminToken);
    if (created.status !== 201) throw new Error(`create role failed: ${created.status} ${created.raw}`);
    return created.body.id;
  }

  /** Every secret the test used, found in `haystack`. */
  leakedSecrets(haystack: string, allow: string[] = []): string[] {
    return [...this.secrets].filter((secret) => !allow.includes(secret) && haystack.includes(secret));
  }
}

/** A client address of its own (10.x.y.z), so per-IP counters never mix between tests. */
export function freshIp(): string {
  const b = randomBytes(3);
  return `10.${b[0]}.${b[1]}.${b[2]}`;
}

/** Which store the suite runs on: DIALECT=sqlite (default) or DIALECT=postgres (see scripts/test.mjs). */
export const DIALECT = (process.env.DIALECT ?? 'sqlite') as 'sqlite' | 'postgres';
const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A database of its own for one TestApp: a SQLite file in its folder, or a fresh PostgreSQL schema. */
export async function freshDatabaseUrl(dir: string): Promise<string> {
  if (DIALECT === 'sqlite') return `sqlite:${join(dir, 'deskpass.sqlite')}`;
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`create schema ${schema}`);
  } finally {
    await client.end();
  }
  return `${POSTGRES_URL}?schema=${schema}`;
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  if (databaseUrl.startsWith('sqlite:')) return;
  const schema = new URL(databaseUrl).searchParams.get('schema');
  if (!schema) return;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}
