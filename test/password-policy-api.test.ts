import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER, ACCOUNT_NAME, type Answer } from './support/harness.js';

const ACCOUNT = '/api/v1/account';
const RESET = '/api/v1/auth/reset-password';

/** The policy GET /account shows before anyone changes it. */
const DEFAULT_POLICY = {
  minLength: 12,
  maxLength: 256,
  historyDepth: 5,
  requireUppercase: false,
  requireLowercase: false,
  requireDigit: false,
  requireSymbol: false,
  expiryDays: 0,
  adminSetPasswordDisabled: false,
  enforceOnNextSignIn: false,
};

const RITA = { email: 'rita.rules@acme.test', name: 'Rita Rules', password: 'Basalt-Orchid-Compass-27' };

let t: TestApp;
let ownerToken: string;
let agentRoleId: string;
let rita: { id: string; token: string };
let ritaPassword = RITA.password;
let plainToken: string;

const rulesOf = (answer: Answer): string[] => answer.body?.error?.details?.map((d: { rule: string }) => d.rule) ?? [];
const reason = (answer: Answer) => answer.body?.error?.details?.[0]?.reason;

function assertError(answer: Answer, status: number, code: string, message?: string): void {
  assert.equal(answer.status, status, message ?? answer.raw);
  assert.equal(answer.body.error.code, code, message);
}

function assertRejected(answer: Answer, expectedRules: string[], message?: string): void {
  assertError(answer, 422, 'password_rejected', message);
  assert.deepEqual(rulesOf(answer), expectedRules, message ?? answer.raw);
  for (const detail of answer.body.error.details) {
    assert.equal(typeof detail.message, 'string', 'every failed rule comes with a human message');
    assert.ok(detail.message.length > 0);
  }
}

async function policy(): Promise<typeof DEFAULT_POLICY> {
  const answer = await t.get(ACCOUNT, ownerToken);
  assert.equal(answer.status, 200, answer.raw);
  return answer.body.settings.passwordPolicy;
}

async function patchPolicy(change: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Answer> {
  const answer = await t.patch(ACCOUNT, { passwordPolicy: change, ...extra }, ownerToken);
  assert.equal(answer.status, 200, answer.raw);
  return answer;
}

function adminSet(agentId: string, password: string, requireChangeAtNextLogin = false, token = ownerToken): Promise<Answer> {
  t.secrets.add(password);
  return t.put(`/api/v1/agents/${agentId}/password`, { password, requireChangeAtNextLogin }, token);
}

function changeOwn(token: string, currentPassword: string, newPassword: string): Promise<Answer> {
  t.secrets.add(newPassword);
  return t.post('/api/v1/me/password', { currentPassword, newPassword }, token);
}

async function forgotLink(email: string): Promise<string> {
  const since = t.smtp.messages.length;
  assert.equal((await t.post('/api/v1/auth/forgot-password', { email })).status, 202);
  return t.linkToken(await t.mailTo(email, /reset/i, since));
}

function redeem(token: string, newPassword: string): Promise<Answer> {
  t.secrets.add(newPassword);
  return t.post(RESET, { token, newPassword });
}

before(async () => {
  t = await TestApp.start();
});

after(async () => {
  await t.close();
});

describe('first-run setup', () => {
  test('the Account Administrator\'s first password must pass the full default policy (422 with every failed rule)', async () => {
    const token = t.app.deskpass.setupLink.issue();
    t.secrets.add(token);
    const attempt = (password: string) => t.post('/api/v1/setup', { token, accountName: ACCOUNT_NAME, adminName: OWNER.name, adminEmail: OWNER.email, password });
    assertRejected(await attempt('Password123!'), ['blocklisted', 'too_weak']);
    assertRejected(await attempt('aaaaaaaaaaab1'), ['too_weak']);
    assertRejected(await attempt('Acme-Lantern-Meadow-58'), ['contains_personal_info']);
    assertRejected(await attempt('Olivia-Lantern-Meadow-58'), ['contains_personal_info']);
    assertRejected(await attempt('Qx7-Rv9-Tm2'), ['min_length']);
    assert.equal((await t.get(`/api/v1/setup/${token}`)).status, 200, 'a rejected password leaves the setup link usable');
  });
});

describe('the policy through the API', () => {
  before(async () => {
    let roles: { agentRoleId: string };
    ({ ownerToken, ...roles } = await t.setup());
    agentRoleId = roles.agentRoleId;
    rita = await t.addAgent(ownerToken, { ...RITA, roleId: agentRoleId });
    plainToken = (await t.addAgent(ownerToken, { email: 'paul.plain@acme.test', name: 'Paul Plain', roleId: agentRoleId, password: 'Juniper-Falcon-Vessel-36' })).token;
  });

  describe('account options', () => {
    test('GET /account shows every policy option with its default', async () => {
      assert.deepEqual(await policy(), DEFAULT_POLICY);
    });

    test('each option is saved, answered and shown by GET; the other fields are kept', async () => {
      const change = { requireUppercase: true, requireLowercase: true, requireDigit: true, requireSymbol: true, expiryDays: 90, adminSetPasswordDisabled: true };
      const answer = await patchPolicy(change);
      assert.deepEqual(answer.body.settings.passwordPolicy, { ...DEFAULT_POLICY, ...change });
      assert.deepEqual(await policy(), { ...DEFAULT_POLICY, ...change });
      for (const expiryDays of [0, 1, 3650]) {
        assert.equal((await patchPolicy({ expiryDays })).body.settings.passwordPolicy.expiryDays, expiryDays);
      }
      await patchPolicy({ historyDepth: 0 });
      await patchPolicy({ historyDepth: 24 });
      assert.deepEqual(await policy(), { ...DEFAULT_POLICY, ...change, expiryDays: 3650, historyDepth: 24 });
      const off = { requireUppercase: false, requireLowercase: false, requireDigit: false, requireSymbol: false, expiryDays: 0, adminSetPasswordDisabled: false, historyDepth: 5 };
      await patchPolicy(off);
      assert.deepEqual(await policy(), DEFAULT_POLICY);
    });

    test('values outside the limits are 400 invalid_request and change nothing, not even the good fields', async () => {
      const bodies: Record<string, unknown>[] = [
        { passwordPolicy: { expiryDays: -1 } },
        { passwordPolicy: { expiryDays: 3651 } },
        { passwordPolicy: { expiryDays: 1.5 } },
        { passwordPolicy: { expiryDays: '30' } },
        { passwordPolicy: { expiryDays: null } },
        { passwordPolicy: { historyDepth: 25 } },
        { passwordPolicy: { historyDepth: -1 } },
        { passwordPolicy: { minLength: 7 } },
        { passwordPolicy: { minLength: 65 } },
        { passwordPolicy: { requireDigit: 'yes' } },
        { passwordPolicy: { requireUppercase: 1 } },
        { passwordPolicy: { requireSymbol: null } },
        { passwordPolicy: { adminSetPasswordDisabled: 'true' } },
        { passwordPolicy: { requireDigit: true, expiryDays: 4000 } },
        { passwordPolicy: { requireDigit: true }, requireNonCompliantPasswordsToChange: 'yes' },
        { resetLinkLifetimeHours: 24, requireNonCompliantPasswordsToChange: true },
        { passwordPolicy: 'strict' },
      ];
      for (const body of bodies) {
        assertError(await t.patch(ACCOUNT, body, ownerToken), 400, 'invalid_request', JSON.stringify(body));
      }
      const expiry = await t.patch(ACCOUNT, { passwordPolicy: { expiryDays: 3651 } }, ownerToken);
      // the field is named (the message is for people: tests assert on codes and fields)
      assert.deepEqual(expiry.body.error.details.map((d: { field: string }) => d.field), ['passwordPolicy.expiryDays']);
      assert.deepEqual(await policy(), DEFAULT_POLICY);
      assert.equal((await t.get(ACCOUNT, ownerToken)).body.settings.resetLinkLifetimeHours, 48);
    });

    test('the options need manage_account_settings: 403 missing_permission without it', async () => {
      const answer = await t.patch(ACCOUNT, { passwordPolicy: { adminSetPasswordDisabled: true } }, plainToken);
      assertError(answer, 403, 'forbidden');
      assert.equal(reason(answer), 'missing_permission');
      assert.deepEqual(await policy(), DEFAULT_POLICY);
    });

    test('"must existing passwords that fail it change at next sign-in?" is answered with the change and kept as enforceOnNextSignIn', async () => {
      let answer = await patchPolicy({ requireSymbol: true }, { requireNonCompliantPasswordsToChange: true });
      assert.equal(answer.body.settings.passwordPolicy.enforceOnNextSignIn, true);
      assert.equal((await policy()).enforceOnNextSignIn, true);
      answer = await patchPolicy({ requireSymbol: false });
      assert.equal(answer.body.settings.passwordPolicy.enforceOnNextSignIn, true, 'no answer keeps the earlier one');
      answer = await patchPolicy({ minLength: 12 }, { requireNonCompliantPasswordsToChange: false });
      assert.equal(answer.body.settings.passwordPolicy.enforceOnNextSignIn, false);
      // it is not an option of its own: sent inside passwordPolicy it is ignored
      answer = await patchPolicy({ enforceOnNextSignIn: true });
      assert.equal(answer.body.settings.passwordPolicy.enforceOnNextSignIn, false);
      assert.deepEqual(await policy(), DEFAULT_POLICY);
    });

    test('a policy change is audited with the fields it changed', async () => {
      await patchPolicy({ historyDepth: 5 }, { requireNonCompliantPasswordsToChange: false });
      const events = await t.get('/api/v1/audit-events?type=account.settings_updated&limit=1', ownerToken);
      assert.equal(events.status, 200, events.raw);
      assert.deepEqual(events.body.events[0].details, { changed: ['passwordPolicy', 'requireNonCompliantPasswordsToChange'], passwordPolicy: ['historyDepth'] });
    });
  });

  describe('the rules on every path that sets a password', () => {
    test('blocklisted, too weak and personal passwords are refused by admin-set, self-change and reset link alike', async () => {
      assertRejected(await adminSet(rita.id, 'Password123!'), ['blocklisted', 'too_weak']);
      assertRejected(await adminSet(rita.id, 'QWERTYUIOP123'), ['blocklisted', 'too_weak'], 'the list ignores case');
      assertRejected(await adminSet(rita.id, 'aaaaaaaaaaab1', true), ['too_weak']);
      assertRejected(await adminSet(rita.id, 'Rita-Lantern-Meadow-58'), ['contains_personal_info']);

      assertRejected(await changeOwn(rita.token, ritaPassword, 'iloveyou2024'), ['blocklisted', 'too_weak']);
      assertRejected(await changeOwn(rita.token, ritaPassword, 'qwertyuiop123'), ['blocklisted', 'too_weak']);
      assertRejected(await changeOwn(rita.token, ritaPassword, 'Rules-Lantern-Meadow-58'), ['contains_personal_info']);

      const link = await forgotLink(RITA.email);
      assertRejected(await redeem(link, 'Summer2024!!'), ['blocklisted']);
      assertRejected(await redeem(link, 'password'), ['min_length', 'blocklisted', 'too_weak']);
      assert.equal((await t.get(`${RESET}/${link}`)).status, 200, 'a rejected password leaves the link usable');
      assert.equal(typeof (await t.login(RITA.email, ritaPassword)), 'string', 'nothing changed');
    });

    test('with character classes on, each path answers 422 with the missing classes; a compliant password is accepted', async () => {
      await patchPolicy({ requireUppercase: true, requireDigit: true, requireSymbol: true });
      assertRejected(await adminSet(rita.id, 'velvet orbit cactus lagoon'), ['missing_uppercase', 'missing_digit']);
      assertRejected(await changeOwn(rita.token, ritaPassword, 'Velvet orbit cactus lagoon'), ['missing_digit']);
      const link = await forgotLink(RITA.email);
      assertRejected(await redeem(link, 'VelvetOrbitCactus91'), ['missing_symbol']);
      assertRejected(await redeem(link, 'Password123!'), ['blocklisted', 'too_weak'], 'classes do not make a common password acceptable');
      assert.equal((await redeem(link, 'Velvet-Orbit-Cactus-91')).status, 204);
      ritaPassword = 'Velvet-Orbit-Cactus-91';
      rita.token = await t.login(RITA.email, ritaPassword);
      await patchPolicy({ requireUppercase: false, requireDigit: false, requireSymbol: false });
    });

    test('the account minimum length applies on every path (min_length)', async () => {
      await patchPolicy({ minLength: 24 });
      assertRejected(await adminSet(rita.id, 'Lagoon-Cricket-Anvil-93'), ['min_length']);
      assertRejected(await changeOwn(rita.token, ritaPassword, 'Lagoon-Cricket-Anvil-93'), ['min_length']);
      await patchPolicy({ minLength: 12 });
    });

    test('reused: the last 5 passwords are refused, the current one is same_as_current, and history depth 0 lets an old one back', async () => {
      const original = ritaPassword;
      assert.equal((await adminSet(rita.id, 'Harbor-Quill-Saffron-62')).status, 204);
      assertRejected(await adminSet(rita.id, original), ['reused']);
      assertRejected(await adminSet(rita.id, 'Harbor-Quill-Saffron-62'), ['same_as_current']);
      assertRejected(await adminSet(rita.id, RITA.password), ['reused'], 'the first password is still among the last 5');
      await patchPolicy({ historyDepth: 0 });
      assert.equal((await adminSet(rita.id, original)).status, 204);
      ritaPassword = original;
      await patchPolicy({ historyDepth: 5 });
      rita.token = await t.login(RITA.email, ritaPassword);
    });
  });

  describe('administrators may not set passwords directly', () => {
    test('PUT /agents/{id}/password answers 403 admin_set_password_disabled, also for a one-time password and before 404; nothing changes', async () => {
      await patchPolicy({ adminSetPasswordDisabled: true });
      const hashesBefore = t.hasher.calls.hash;
      for (const requireChange of [false, true]) {
        const answer = await adminSet(rita.id, 'Marble-Thicket-Osprey-19', requireChange);
        assertError(answer, 403, 'forbidden');
        assert.equal(reason(answer), 'admin_set_password_disabled');
      }
      const unknown = await adminSet('no-such-agent', 'Marble-Thicket-Osprey-19');
      assertError(unknown, 403, 'forbidden');
      assert.equal(reason(unknown), 'admin_set_password_disabled', '403 before 404, as the contract orders them');
      const weak = await adminSet(rita.id, 'password');
      assert.equal(reason(weak), 'admin_set_password_disabled', 'refused before the password is even looked at');
      assert.equal(t.hasher.calls.hash, hashesBefore, 'no password was hashed');
      assert.equal(typeof (await t.login(RITA.email, ritaPassword)), 'string', 'the password is unchanged');
    });

    test('someone without the permissions still gets missing_permission first', async () => {
      const answer = await adminSet(rita.id, 'Marble-Thicket-Osprey-19', false, plainToken);
      assertError(answer, 403, 'forbidden');
      assert.equal(reason(answer), 'missing_permission');
    });

    test('the reset email option still works, and its link sets a password under the policy', async () => {
      const since = t.smtp.messages.length;
      const sent = await t.post(`/api/v1/agents/${rita.id}/password-reset-email`, undefined, ownerToken);
      assert.equal(sent.status, 202, sent.raw);
      const link = t.linkToken(await t.mailTo(RITA.email, /reset/i, since));
      assertRejected(await redeem(link, 'Password123!'), ['blocklisted', 'too_weak']);
      assert.equal((await redeem(link, 'Marble-Thicket-Osprey-19')).status, 204);
      ritaPassword = 'Marble-Thicket-Osprey-19';
      rita.token = await t.login(RITA.email, ritaPassword);
    });

    test('turning the option off lets administrators set passwords again', async () => {
      await patchPolicy({ adminSetPasswordDisabled: false });
      assert.equal((await adminSet(rita.id, 'Cobalt-Wren-Pavilion-85')).status, 204);
      ritaPassword = 'Cobalt-Wren-Pavilion-85';
      assert.equal(typeof (await t.login(RITA.email, ritaPassword)), 'string');
      assert.deepEqual(await policy(), DEFAULT_POLICY);
    });
  });

  test('a password with a lone surrogate is refused when set; at a sign-in it matches nothing, after the same work', async () => {
    const broken = 'Quartz-Meadow-Lantern-\ud800-91';
    t.secrets.add(broken);
    const replacement = 'Quartz-Meadow-Lantern-\uFFFD-91'; // what the hashing library would make of it
    assertRejected(await adminSet(rita.id, broken), ['invalid_character']);
    assertRejected(await t.post(RESET, { token: await forgotLink(RITA.email), newPassword: broken }), ['invalid_character']);
    assertRejected(await changeOwn(await t.login(RITA.email, ritaPassword), ritaPassword, broken), ['invalid_character']);
    assert.equal(typeof (await t.login(RITA.email, ritaPassword)), 'string', 'the refusals changed nothing');

    const sam = await t.addAgent(ownerToken, { email: 'sam.surrogate@acme.test', name: 'Sam Surrogate', roleId: agentRoleId, password: replacement });
    let verified = 0;
    const stop = t.hasher.observe!((job) => void (job.op === 'verify' && (verified += 1)));
    try {
      for (const attempt of [broken, 'Quartz-Meadow-Lantern-\udc00-91', 'Quartz-Meadow-Lantern-\udbff-91']) {
        const answer = await t.post('/api/v1/auth/login', { email: 'sam.surrogate@acme.test', password: attempt });
        assertError(answer, 401, 'invalid_credentials', JSON.stringify(attempt));
      }
      assert.equal(verified, 3, 'each refused attempt verified a hash, as a wrong password does');
      const failures = await t.app.deskpass.deps.db.selectFrom('login_attempts').select('failed_count').where('email_normalized', '=', 'sam.surrogate@acme.test').where('client', '=', '').executeTakeFirst();
      assert.equal(failures?.failed_count, 3, 'and each was counted as a failure');
    } finally {
      stop();
    }
    assert.equal(typeof (await t.login('sam.surrogate@acme.test', replacement)), 'string', 'the real password still works');
    assert.ok(sam.id);
  });

  test('no API answer of this file carried a password', () => {
    const passwords = [...t.secrets].filter((s) => s.length < 43 && s !== OWNER.password && s.length >= 12);
    for (const answer of t.answers) {
      assert.deepEqual(passwords.filter((p) => answer.includes(p)), []);
    }
  });
});
