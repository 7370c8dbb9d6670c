import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TestApp, OWNER, type Answer } from './support/harness.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import { startSession } from '../src/flows/sessions.js';
import { findOnlyAccount } from '../src/store/accounts.repo.js';
import { findAgentById } from '../src/store/agents.repo.js';
import { PERMISSION_NAMES } from '../src/domain/permissions.js';
import { hashToken } from '../src/security/tokens.js';

// Property-based fuzzing of every endpoint of API.md: arbitrary JSON bodies (the real field names
// with valid, near-valid and hostile values, mixed with random fields), arbitrary path segments
// and query strings, signed in as the Account Administrator (a session fresh for the 10-minute
// rule, made anew whenever a run ended it) and anonymously. Properties, for every single request:
//   1. never a 5xx;
//   2. every error answer is {error: {code, message, details?}} with a snake_case code;
//   3. a 4xx changes nothing that is stored (see support/db-snapshot.ts for what may change).
// Deterministic: FUZZ_SEED (default below) seeds every property; FUZZ_RUNS sets runs per endpoint.
// A failure prints the seed, fast-check's replay path and the shrunk counterexample.

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_127);
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

type Auth = 'owner' | 'anonymous';
type Body = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'raw'; payload: string; contentType: string | undefined };

interface FuzzInput {
  auth: Auth;
  segment: string;
  query: string;
  body: Body;
}

interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** with {id} or {token} where the route takes a path parameter */
  path: string;
  /** the body's real fields and what a valid value looks like */
  fields?: (pools: Pools) => Record<string, fc.Arbitrary<unknown>>;
  /** the query's real parameters */
  query?: (pools: Pools) => Record<string, fc.Arbitrary<string>>;
}

/** Real values of the running help desk, so that generated requests reach past validation. */
interface Pools {
  ids: string[];
  roleIds: string[];
  emails: string[];
  passwords: string[];
  tokens: () => string[];
}

// ------------------------------------------------------------------------ value generators

/** Strings that broke parsers, databases and normalisers somewhere before. */
const NASTY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\u202e\u0041\u0042',
  '\ufeff',
  '\u0301',
  'ﬀ',
  'İı',
  'ß',
  'Ⅻ',
  '😀'.repeat(300),
  '%00',
  '%',
  "' OR 1=1 --",
  '"; DROP TABLE agents; --',
  '\\',
  '%_\\',
  '${7*7}{{7*7}}<%= 7*7 %>',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '__proto__',
  'constructor',
  'toString',
  'null',
  'undefined',
  'NaN',
  '1e309',
  '-0',
  'true',
  '[]',
  '{}',
  'a\r\nSet-Cookie: x=y',
  '\u2028\u2029',
];

/**
 * encodeURIComponent, except that a lone surrogate (which it refuses) is written as the three
 * bytes a careless encoder would produce: invalid UTF-8 the server must refuse or ignore.
 */
function encodeAny(text: string): string {
  return [...text]
    .map((ch) => {
      try {
        return encodeURIComponent(ch);
      } catch {
        const c = ch.charCodeAt(0);
        return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
      }
    })
    .join('');
}

const controlChars = fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 8 });
const printableAscii = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));

const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 48 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) },
  { weight: 1, arbitrary: controlChars },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  {
    weight: 1,
    // long strings: around the 200/320/1024 field caps and past the 64 KiB body limit
    arbitrary: fc
      .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }), fc.constantFrom(199, 200, 201, 257, 320, 321, 1024, 1025, 30_000))
      .map(([unit, count]) => unit.repeat(count)),
  },
);

const numberValue: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, -1, 1, 7, 8, 12, 24, 48, 64, 65, 72, 73, 720, 721, 3650, 2 ** 31, 2 ** 53 + 1, 1e308, -1e308, 0.5, Number.MIN_VALUE),
);

const scalar: fc.Arbitrary<unknown> = fc.oneof({ weight: 4, arbitrary: nastyString }, { weight: 2, arbitrary: numberValue }, { weight: 1, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constant(null) });

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), scalar, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** A field's value: often a plausible one (to get past validation), often anything at all. */
const fieldValue = (valid: fc.Arbitrary<unknown>) => fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: anyValue });

const strongPassword = fc
  .tuple(fc.constantFrom('Wren', 'Fjord', 'Quill', 'Basalt', 'Nimbus', 'Tundra'), fc.integer({ min: 1000, max: 99_999 }), fc.string({ unit: 'grapheme-ascii', minLength: 8, maxLength: 16 }))
  .map(([word, n, rest]) => `${word}-${n}-${rest}`);
const randomToken = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('base64url'));
const nameValue = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((name) => /\S/.test(name)) },
  { weight: 1, arbitrary: fc.constantFrom('Zed Quinn', 'Ana', 'Ana\nBcc: x@evil.test', ' ', '\t\n') },
);
const emailValue = (pools: Pools) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz.'), minLength: 1, maxLength: 12 }), fc.nat(999)).map(([local, n]) => `${local}${n}@acme.test`) },
    { weight: 2, arbitrary: fc.constantFrom(...pools.emails) },
    { weight: 1, arbitrary: fc.emailAddress() },
    { weight: 1, arbitrary: fc.constantFrom('a@b', '@acme.test', 'x@acme.test ', 'X@ACME.TEST', 'a@b@c.test', '"q"@acme.test') },
  );
/** Mostly inside the documented range (to reach the flow), sometimes anywhere near it. */
const settingValue = (min: number, max: number) => fc.oneof({ weight: 3, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: fc.integer({ min: min - 3, max: max * 2 }) });

const FIELD_NAMES = ['email', 'password', 'newPassword', 'currentPassword', 'token', 'name', 'roleId', 'status', 'permissions', 'requireChangeAtNextLogin', 'passwordPolicy', 'accountName', 'adminName', 'adminEmail'];
const extraKey = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...FIELD_NAMES, 'isAccountAdministrator', 'accountId', 'passwordHash', 'id', 'constructor', 'hasOwnProperty', 'toString', 'valueOf'));

/** Payloads that are not a JSON object: broken JSON, other media types, poisoning. */
const rawBody: fc.Arbitrary<Body> = fc
  .tuple(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 120 }),
      fc.constantFrom(
        '{',
        '{"email":',
        '[]',
        'null',
        '""',
        '1e999',
        '\ufeff{}',
        '{"a":1,"a":2}',
        '{"email":"a@b.c"}{"x":1}',
        '{"__proto__":{"polluted":true}}',
        '{"constructor":{"prototype":{"polluted":true}}}',
        '{"name":"\\ud800"}',
        'email=a%40b.c&password=x',
        '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--',
      ),
    ),
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'APPLICATION/JSON',
      'text/plain',
      'text/html',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      '',
      undefined,
    ),
  )
  .map(([payload, contentType]) => ({ kind: 'raw' as const, payload, contentType }));

function bodyArbitrary(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Body> {
  const model = Object.fromEntries(Object.entries(fields).map(([name, valid]) => [name, fieldValue(valid)]));
  // mostly every real field (most routes require them all), sometimes any subset of them
  const known = fc.oneof({ weight: 3, arbitrary: fc.record(model) }, { weight: 1, arbitrary: fc.record(model, { requiredKeys: [] }) });
  const extra = fc.dictionary(extraKey, anyValue, { maxKeys: 3 });
  const object = fc
    .tuple(known, extra, fc.boolean())
    .map(([k, e, extraFirst]) => ({ kind: 'json' as const, value: extraFirst ? { ...e, ...k } : { ...k, ...e } }));
  const realFields = Object.keys(fields).length > 0;
  return fc.oneof(
    { weight: realFields ? 8 : 2, arbitrary: object },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json' as const, value })) },
    { weight: 1, arbitrary: rawBody },
    { weight: realFields ? 1 : 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  );
}

/** One of a list that changes between runs (links get used, the setup link is reissued), chosen by the seeded generator. */
const oneOfCurrent = (list: () => string[]) => fc.nat().map((i) => list()[i % list().length]);

function segmentArbitrary(pools: Pools): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...pools.ids).map(encodeAny) },
    { weight: 2, arbitrary: oneOfCurrent(pools.tokens) },
    { weight: 2, arbitrary: nastyString.map(encodeAny) },
    { weight: 1, arbitrary: fc.string({ unit: printableAscii, maxLength: 60 }) },
    { weight: 1, arbitrary: randomToken },
    {
      weight: 1,
      arbitrary: fc.constantFrom('', '%', '%zz', '%00', '%E0%A4%A', '..', '.', '%2e%2e', '%2F', '%2F..%2F', '%C0%AF', 'a'.repeat(100), 'a'.repeat(101), 'a'.repeat(5000), '%252F', ';x=y'),
    },
  );
}

const cursorValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
  fc.array(fc.oneof(fc.string({ maxLength: 20 }), numberValue), { minLength: 1, maxLength: 2 }).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
  fc.string({ maxLength: 600 }),
);
const limitValue = fc.oneof(fc.integer({ min: -5, max: 300 }).map(String), fc.constantFrom('1', '50', '200', '201', '0', '1e2', '01', ' 5', '5 ', '+5', '0x10', ''));

function queryArbitrary(params: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  const names = Object.keys(params);
  const pair = fc.oneof(
    ...(names.length > 0 ? [{ weight: 3, arbitrary: fc.constantFrom(...names).chain((name) => fc.tuple(fc.constant(name), fc.oneof(params[name], nastyString))) }] : []),
    { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__[x]', 'constructor[prototype][x]', 'limit[]', 'search[]')), nastyString) },
  );
  const encoded = fc.array(pair, { maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${encodeAny(k)}=${encodeAny(v)}`).join('&'));
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant('') },
    { weight: 5, arbitrary: encoded.map((q) => (q ? `?${q}` : '')) },
    // the same parameter twice (an array to a naive parser) and raw, unencoded text
    { weight: 1, arbitrary: fc.constantFrom(...(names.length > 0 ? names : ['x'])).map((n) => `?${n}=1&${n}=2`) },
    { weight: 1, arbitrary: fc.string({ unit: printableAscii, maxLength: 40 }).map((q) => `?${q}`) },
  );
}

// ------------------------------------------------------------------------ the endpoints

const password = (pools: Pools) => fc.oneof(fc.constantFrom(...pools.passwords), strongPassword);
const linkToken = (pools: Pools) => fc.oneof(oneOfCurrent(pools.tokens), randomToken);

const ROUTES: RouteSpec[] = [
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/readyz' },
  { method: 'GET', path: '/api/v1/openapi.json' },
  { method: 'POST', path: '/api/v1/auth/login', fields: (p) => ({ email: emailValue(p), password: password(p) }) },
  { method: 'POST', path: '/api/v1/auth/logout' },
  { method: 'POST', path: '/api/v1/auth/reauthenticate', fields: (p) => ({ password: password(p) }) },
  { method: 'GET', path: '/api/v1/me' },
  { method: 'GET', path: '/api/v1/me/sessions' },
  { method: 'DELETE', path: '/api/v1/me/sessions/{id}' },
  { method: 'POST', path: '/api/v1/me/password', fields: (p) => ({ currentPassword: password(p), newPassword: password(p) }) },
  { method: 'POST', path: '/api/v1/auth/forgot-password', fields: (p) => ({ email: emailValue(p) }) },
  { method: 'GET', path: '/api/v1/auth/reset-password/{token}' },
  { method: 'POST', path: '/api/v1/auth/reset-password', fields: (p) => ({ token: linkToken(p), newPassword: password(p) }) },
  {
    method: 'GET',
    path: '/api/v1/agents',
    query: () => ({ search: fc.string({ maxLength: 20 }), status: fc.constantFrom('invited', 'active', 'deactivated', 'locked'), limit: limitValue, cursor: cursorValue }),
  },
  { method: 'POST', path: '/api/v1/agents', fields: (p) => ({ email: emailValue(p), name: nameValue, roleId: fc.constantFrom(...p.roleIds) }) },
  { method: 'GET', path: '/api/v1/agents/{id}' },
  {
    method: 'PATCH',
    path: '/api/v1/agents/{id}',
    fields: (p) => ({ name: nameValue, roleId: fc.constantFrom(...p.roleIds), status: fc.constantFrom('active', 'deactivated', 'invited') }),
  },
  { method: 'POST', path: '/api/v1/agents/{id}/unlock' },
  { method: 'POST', path: '/api/v1/agents/{id}/invitation' },
  { method: 'POST', path: '/api/v1/agents/{id}/sessions/revoke' },
  { method: 'POST', path: '/api/v1/agents/{id}/password-reset-email' },
  { method: 'PUT', path: '/api/v1/agents/{id}/password', fields: (p) => ({ password: password(p), requireChangeAtNextLogin: fc.boolean() }) },
  { method: 'GET', path: '/api/v1/roles' },
  {
    method: 'POST',
    path: '/api/v1/roles',
    fields: () => ({ name: nameValue, permissions: fc.array(fc.constantFrom(...PERMISSION_NAMES, 'superuser', '__proto__'), { maxLength: 6 }) }),
  },
  {
    method: 'PATCH',
    path: '/api/v1/roles/{id}',
    fields: () => ({ name: nameValue, permissions: fc.array(fc.constantFrom(...PERMISSION_NAMES, 'superuser', 'toString'), { maxLength: 6 }) }),
  },
  {
    method: 'GET',
    path: '/api/v1/audit-events',
    query: (p) => ({ agentId: fc.constantFrom(...p.ids), type: fc.constantFrom('login.failed', 'agent.created', 'password.changed', ''), limit: limitValue, cursor: cursorValue }),
  },
  { method: 'GET', path: '/api/v1/account' },
  {
    method: 'PATCH',
    path: '/api/v1/account',
    fields: () => ({
      resetLinkLifetimeHours: settingValue(1, 72),
      temporaryPasswordLifetimeHours: settingValue(1, 720),
      passwordPolicy: fc.record(
        {
          minLength: settingValue(8, 64),
          historyDepth: settingValue(0, 24),
          requireUppercase: fc.boolean(),
          requireLowercase: fc.boolean(),
          requireDigit: fc.boolean(),
          requireSymbol: fc.boolean(),
          expiryDays: settingValue(0, 3650),
          adminSetPasswordDisabled: fc.boolean(),
          enforceOnNextSignIn: fc.boolean(),
          maxLength: fc.integer({ min: 0, max: 2000 }),
        },
        { requiredKeys: [] },
      ),
      requireNonCompliantPasswordsToChange: fc.boolean(),
      lockoutThreshold: settingValue(3, 20),
      lockoutMinutes: settingValue(1, 1440),
      sessionIdleHours: settingValue(1, 168),
      sessionAbsoluteHours: settingValue(1, 2160),
      rateLimits: fc.record(
        {
          failedSignInsPerIp: settingValue(1, 100_000),
          forgotPasswordPerEmail: settingValue(1, 100_000),
          forgotPasswordPerIp: settingValue(1, 100_000),
          resetLinkPerIp: settingValue(1, 100_000),
          passwordProofsPerIp: settingValue(1, 100_000),
        },
        { requiredKeys: [] },
      ),
    }),
  },
  { method: 'GET', path: '/api/v1/setup/{token}' },
  {
    method: 'POST',
    path: '/api/v1/setup',
    fields: (p) => ({ token: linkToken(p), accountName: nameValue, adminName: nameValue, adminEmail: emailValue(p), password: password(p) }),
  },
];

// ------------------------------------------------------------------------ running one request

let ipCounter = 0;

/** A new client address for every request, so per-IP limits never answer in place of the route. */
function nextIp(): string {
  ipCounter += 1;
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}

function assertErrorBody(answer: Answer, where: string): void {
  assert.equal(typeof answer.body, 'object', where);
  assert.notEqual(answer.body, null, where);
  assert.deepEqual(Object.keys(answer.body), ['error'], where);
  const { error } = answer.body;
  assert.match(String(error.code), /^[a-z]+(?:_[a-z]+)*$/, where);
  assert.equal(typeof error.message, 'string', where);
  assert.ok(error.message.length > 0, where);
  for (const key of Object.keys(error)) assert.ok(['code', 'message', 'details'].includes(key), `unexpected key ${key}: ${where}`);
  if ('details' in error) assert.ok(Array.isArray(error.details), where);
}

function describeInput(route: RouteSpec, url: string, input: FuzzInput): string {
  const body = input.body.kind === 'json' ? JSON.stringify(input.body.value) : input.body.kind === 'raw' ? `raw(${input.body.contentType}) ${JSON.stringify(input.body.payload)}` : 'no body';
  return `${route.method} ${url.slice(0, 200)} as ${input.auth}, ${body.slice(0, 300)}`;
}

interface Harness {
  app: TestApp;
  /** a fresh session of the Account Administrator, or undefined on a server without one */
  ownerSession(): Promise<string | undefined>;
  /** puts back what a successful (2xx) request may have changed that later runs depend on */
  repair(): Promise<void>;
}

/** Sends one generated request and checks the three properties. */
async function checkOneRequest(h: Harness, route: RouteSpec, input: FuzzInput): Promise<void> {
  const db = h.app.app.deskpass.deps.db;
  // failure counters and rate-limit windows belong to earlier runs: without them no run is answered
  // 423 or 429 for what an earlier one did (both are legitimate 4xx, but they would hide the route)
  await db.deleteFrom('login_attempts').execute();
  await db.deleteFrom('rate_limit_counters').execute();
  const token = input.auth === 'owner' ? await h.ownerSession() : undefined;
  const url = `${route.path.replace(/\{(id|token)\}/, input.segment)}${input.query}`;
  const where = describeInput(route, url, input);
  const before = await snapshotState(h.app);

  const headers: Record<string, string> = {};
  let payload: string | undefined;
  if (input.body.kind === 'json') {
    payload = JSON.stringify(input.body.value);
    headers['content-type'] = 'application/json';
  } else if (input.body.kind === 'raw') {
    payload = input.body.payload;
    if (input.body.contentType !== undefined) headers['content-type'] = input.body.contentType;
  }
  const answer = await h.app.request(route.method, url, { token, payload, headers, ip: nextIp() });

  assert.ok(answer.status < 500, `${answer.status} ${answer.raw.slice(0, 300)} for ${where}`);
  if (answer.status >= 400) {
    assertErrorBody(answer, `${answer.status} ${answer.raw.slice(0, 300)} for ${where}`);
    assertStateUnchanged(before, await snapshotState(h.app), `${answer.status} ${answer.body?.error?.code} changed stored state for ${where}`);
  } else {
    await h.repair();
  }
}

function inputArbitrary(route: RouteSpec, pools: Pools, auths: Auth[]): fc.Arbitrary<FuzzInput> {
  return fc.record({
    auth: fc.constantFrom(...auths),
    segment: route.path.includes('{') ? segmentArbitrary(pools) : fc.constant(''),
    query: queryArbitrary(route.query?.(pools) ?? {}),
    body: route.method === 'GET' || route.method === 'DELETE' ? fc.oneof({ weight: 9, arbitrary: fc.constant<Body>({ kind: 'none' }) }, { weight: 1, arbitrary: rawBody }) : bodyArbitrary(route.fields?.(pools) ?? {}),
  });
}

async function fuzz(h: Harness, route: RouteSpec, pools: Pools, auths: Auth[], seed: number): Promise<void> {
  try {
    await fc.assert(
      fc.asyncProperty(inputArbitrary(route, pools, auths), (input) => checkOneRequest(h, route, input)),
      { seed, numRuns: RUNS, includeErrorInReport: true },
    );
  } catch (error) {
    // fast-check's message carries the seed and replay path; say how to rerun this file with it
    throw new Error(`fuzzing ${route.method} ${route.path} failed (FUZZ_SEED=${SEED}, this property's seed ${seed}):\n${(error as Error).message}`);
  }
}

// ------------------------------------------------------------------------ a running help desk

let t: TestApp;
let ownerId: string;
let ownerToken: string | undefined;
let originalSettings: string;
const liveTokens: string[] = [];
const pools: Pools = { ids: [], roleIds: [], emails: [], passwords: [], tokens: () => liveTokens };

const running: Harness = {
  get app() {
    return t;
  },
  async ownerSession() {
    // A session made the way sign-in makes one, whatever the owner's password has become (a
    // run may change it with a 2xx). The clock stands still, so it stays fresh for the
    // 10-minute rule; a new one is made only when a run ended it (logout, sign out everywhere).
    const db = t.app.deskpass.deps.db;
    if (ownerToken && (await db.selectFrom('sessions').select('id').where('token_hash', '=', hashToken(ownerToken)).executeTakeFirst())) return ownerToken;
    const account = (await findOnlyAccount(db))!;
    const owner = (await findAgentById(db, account.id, ownerId))!;
    ownerToken = (await startSession(db, account, owner, { method: 'api', ip: '127.0.0.1', userAgent: 'fuzz' }, t.clock.now())).token;
    return ownerToken;
  },
  async repair() {
    const db = t.app.deskpass.deps.db;
    await db.updateTable('accounts').set({ settings: originalSettings }).execute();
    await db.updateTable('agents').set({ password_change_required: 0, temporary_password_expires_at: null }).where('id', '=', ownerId).execute();
  },
};

before(async () => {
  t = await TestApp.start();
  const owner = await t.setup();
  ownerId = owner.ownerId;
  const leadRoleId = await t.role(owner.ownerToken, 'Team Leads', ['manage_agents', 'manage_agent_password']);
  const people = [
    { email: 'vic.victim@acme.test', name: 'Vic Victim', roleId: owner.agentRoleId, password: 'Cobalt-Pretzel-Harbor-61' },
    { email: 'lee.lead@acme.test', name: 'Lee Lead', roleId: leadRoleId, password: 'Velvet-Canyon-Orbit-31' },
    { email: 'ada.admin@acme.test', name: 'Ada Admin', roleId: owner.adminRoleId, password: 'Copper-Lantern-Meadow-58' },
  ];
  const ids = [ownerId];
  for (const person of people) ids.push((await t.addAgent(owner.ownerToken, person)).id);
  // an invited agent (no password yet) and a deactivated one
  const invited = await t.post('/api/v1/agents', { email: 'ivy.invited@acme.test', name: 'Ivy Invited', roleId: owner.agentRoleId }, owner.ownerToken);
  ids.push(invited.body.id);
  const gone = await t.addAgent(owner.ownerToken, { email: 'dee.gone@acme.test', name: 'Dee Gone', roleId: owner.agentRoleId, password: 'Saffron-Thistle-Orbit-44' });
  assert.equal((await t.patch(`/api/v1/agents/${gone.id}`, { status: 'deactivated' }, owner.ownerToken)).status, 200);
  ids.push(gone.id);
  // live self-service links, a used one, and the owner's session ids
  for (const person of people) {
    const since = t.smtp.messages.length;
    assert.equal((await t.post('/api/v1/auth/forgot-password', { email: person.email })).status, 202);
    liveTokens.push(t.linkToken(await t.mailTo(person.email, /reset your password/i, since)));
  }
  liveTokens.push(owner.ownerToken);
  const sessions = await t.get('/api/v1/me/sessions', owner.ownerToken);
  const sessionIds = sessions.body.sessions.map((s: { id: string }) => s.id);

  pools.roleIds.push(owner.adminRoleId, owner.agentRoleId, leadRoleId);
  pools.ids.push(...ids, ...pools.roleIds, ...sessionIds, '00000000-0000-4000-8000-000000000000');
  pools.emails.push(OWNER.email, OWNER.email.toUpperCase(), ...people.map((p) => p.email), 'ivy.invited@acme.test', 'dee.gone@acme.test', 'nobody@acme.test');
  pools.passwords.push(OWNER.password, ...people.map((p) => p.password), 'password', 'Tundra-Mosaic-Falcon-42 ');
  originalSettings = (await t.app.deskpass.deps.db.selectFrom('accounts').select('settings').executeTakeFirstOrThrow()).settings;
  // from here on the outbox stays still: a worker resolving a queued request (which issues a
  // link) between two snapshots would look like a change made by the request in between
  await t.app.deskpass.mailWorker.stop();
});

after(async () => {
  await t.close();
});

describe('fuzzing every endpoint of a running help desk, as the Account Administrator and anonymously', () => {
  ROUTES.forEach((route, index) => {
    test(`${route.method} ${route.path}: never a 5xx, every error is {error:{code,message}}, and a 4xx changes nothing`, async () => {
      await fuzz(running, route, pools, ['owner', 'owner', 'owner', 'anonymous'], SEED + index);
    });
  });

  test('no request of the fuzzing logged an error', () => {
    assert.ok(!t.logs.some((line) => /"level":50/.test(line)), t.logs.filter((line) => /"level":50/.test(line)).join('\n').slice(0, 2000));
  });
});

// ------------------------------------------------------------------------ a server before setup

describe('fuzzing the public endpoints of a server that was never set up', () => {
  let blank: TestApp;
  const setupTokens: string[] = [];
  /** error log lines of the servers already replaced */
  const errorLines: string[] = [];
  const blankPools: Pools = { ids: ['x'], roleIds: ['x'], emails: ['root@blank.test', OWNER.email], passwords: [OWNER.password], tokens: () => setupTokens };

  const blankHarness: Harness = {
    get app() {
      return blank;
    },
    async ownerSession() {
      return undefined;
    },
    async repair() {
      // a run that set the help desk up: go on with a new server that was never set up, so
      // the following runs fuzz the setup validation again rather than "already set up"
      if ((await blank.app.deskpass.deps.db.selectFrom('accounts').select('id').execute()).length === 0) return;
      errorLines.push(...blank.logs.filter((line) => /"level":50/.test(line)));
      await blank.close();
      await startBlank();
    },
  };

  async function startBlank(): Promise<void> {
    blank = await TestApp.start();
    await blank.app.deskpass.mailWorker.stop();
    setupTokens.splice(0, setupTokens.length, blank.app.deskpass.setupLink.issue());
  }

  before(startBlank);
  after(async () => {
    await blank.close();
  });

  const PUBLIC = ['/api/v1/setup', '/api/v1/setup/{token}', '/api/v1/auth/login', '/api/v1/auth/forgot-password', '/api/v1/auth/reset-password', '/api/v1/auth/reset-password/{token}', '/api/v1/me'];
  ROUTES.filter((route) => PUBLIC.includes(route.path)).forEach((route, index) => {
    test(`before setup, ${route.method} ${route.path}: never a 5xx, every error is {error:{code,message}}, and a 4xx changes nothing`, async () => {
      await fuzz(blankHarness, route, blankPools, ['anonymous'], SEED + 1000 + index);
    });
  });

  test('no request before setup logged an error', () => {
    const lines = [...errorLines, ...blank.logs.filter((line) => /"level":50/.test(line))];
    assert.deepEqual(lines, []);
  });
});
