import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OWNER, TestApp, freshIp } from './support/harness.js';
import { Browserish } from './support/browserish.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import { checkPasswordRules } from '../src/domain/password-policy.js';
import { DEFAULT_SETTINGS } from '../src/domain/account-settings.js';
import { generatePassphrase, randomBelow } from '../src/domain/passphrase.js';
import { EFF_LONG_WORDS } from '../src/domain/eff-long-words.js';

/**
 * The portal's password check (the meter's server side) and the passphrase behind "Generate"
 * (issue 12, items 9 and 14), on every store: what they answer, for whom, and that they write,
 * verify and count nothing they should not.
 */
let t: TestApp;
let ownerToken: string;
let bob: { id: string; email: string; name: string };

describe('portal password check and generated passphrases', () => {
  before(async () => {
    t = await TestApp.start();
    const setup = await t.setup();
    ownerToken = setup.ownerToken;
    const added = await t.addAgent(ownerToken, { email: 'bob@acme.test', name: 'Bob Baker', roleId: setup.agentRoleId, password: 'Juniper-Falcon-Orchard-12' });
    bob = { id: added.id, email: 'bob@acme.test', name: 'Bob Baker' };
  });
  after(async () => t?.close());

  test("a reset link's check answers for the link's agent, writes nothing, verifies no hash, and has a limit of its own that leaves the submit its budget", async () => {
    assert.equal((await t.patch('/api/v1/account', { rateLimits: { resetLinkPerIp: 3 } }, ownerToken)).status, 200);
    try {
      const since = t.smtp.messages.length;
      assert.equal((await t.post('/api/v1/auth/forgot-password', { email: bob.email })).status, 202);
      const token = t.linkToken(await t.mailTo(bob.email, /Reset your password/, since));
      const visitor = new Browserish(t, { ip: freshIp() });
      const page = await visitor.get(`/reset-password/${token}`);
      assert.equal(page.statusCode, 200);
      const csrf = Browserish.csrfOf(page.body);
      const before = await snapshotState(t);
      const verifies = t.hasher.calls.verify;

      const named = await visitor.post(`/reset-password/${token}/check`, { _csrf: csrf, password: 'Baker-Lantern-Orbit-Prairie' });
      assert.equal(named.statusCode, 200);
      assert.deepEqual(JSON.parse(named.body).problems.map((p: { rule: string }) => p.rule), ['contains_personal_info']);
      const common = await visitor.post(`/reset-password/${token}/check`, { _csrf: csrf, password: 'password1234' });
      assert.ok(JSON.parse(common.body).problems.some((p: { rule: string }) => p.rule === 'blocklisted'));
      // Bob's current password: refused on submit (same_as_current), but the check never compares hashes.
      const current = await visitor.post(`/reset-password/${token}/check`, { _csrf: csrf, password: 'Juniper-Falcon-Orchard-12' });
      assert.deepEqual(JSON.parse(current.body), { ok: true, problems: [] }, 'no oracle for the current or an earlier password');
      assert.equal(t.hasher.calls.verify, verifies, 'no argon2 verification');
      assertStateUnchanged(before, await snapshotState(t), 'reset-link check');

      const over = await visitor.post(`/reset-password/${token}/check`, { _csrf: csrf, password: 'Cobalt-Prairie-Lantern-Sky' });
      assert.equal(over.statusCode, 429, 'the fourth check in the window is refused');
      const submitted = await visitor.post(`/reset-password/${token}`, { _csrf: csrf, newPassword: 'Cobalt-Prairie-Lantern-Sky', confirmPassword: 'Cobalt-Prairie-Lantern-Sky' });
      t.secrets.add('Cobalt-Prairie-Lantern-Sky');
      assert.equal(submitted.statusCode, 303, 'the checks did not use up the link page’s own budget');

      const used = await visitor.post(`/reset-password/${token}/check`, { _csrf: csrf, password: 'Baker-Lantern-Orbit-Prairie' });
      assert.ok([410, 429].includes(used.statusCode), 'a used link answers nothing about its agent');
      assert.doesNotMatch(used.body, /problems/);
      assert.deepEqual(t.leakedSecrets(t.logs.join('\n')), [], 'no token and no typed password in any log line');
    } finally {
      assert.equal((await t.patch('/api/v1/account', { rateLimits: { resetLinkPerIp: 60 } }, ownerToken)).status, 200);
    }
  });

  test("the admin's check and Generate need a session, the CSRF token and the right to set that agent's password", async () => {
    const admin = new Browserish(t, { ip: freshIp() });
    const login = await admin.submit('/login', { email: OWNER.email, password: OWNER.password });
    assert.equal(login.statusCode, 303);
    const page = await admin.get(`/manage/agents/${bob.id}`);
    const csrf = Browserish.csrfOf(page.body);
    const checked = await admin.post(`/manage/agents/${bob.id}/password-check`, { _csrf: csrf, password: 'Bob-Orchid-Summit-Lantern' });
    assert.equal(checked.statusCode, 200);
    assert.equal(checked.headers['cache-control'], 'no-store');
    assert.ok(JSON.parse(checked.body).problems.some((p: { rule: string }) => p.rule === 'contains_personal_info'), "Bob's name, on Bob's page");
    const noToken = await admin.post(`/manage/agents/${bob.id}/password-check`, { password: 'Bob-Orchid-Summit-Lantern' });
    assert.equal(noToken.statusCode, 403);
    for (const id of ['not-an-id', '00000000-0000-4000-8000-000000000000']) {
      const unknown = await admin.post(`/manage/agents/${id}/password-check`, { _csrf: csrf, password: 'Bob-Orchid-Summit-Lantern' });
      assert.equal(unknown.statusCode, 404, `${id.slice(0, 20)}: ${unknown.body}`);
    }

    const before = await snapshotState(t);
    const generated = await admin.post(`/manage/agents/${bob.id}/password-generate`, { _csrf: csrf });
    assert.equal(generated.statusCode, 200);
    const { password } = JSON.parse(generated.body) as { password: string };
    assert.deepEqual(checkPasswordRules(password, DEFAULT_SETTINGS.passwordPolicy, { email: bob.email, name: bob.name, accountName: 'Acme Support' }), []);
    assertStateUnchanged(before, await snapshotState(t), 'generate');

    const stranger = new Browserish(t, { ip: freshIp() });
    const signedOut = await stranger.post(`/manage/agents/${bob.id}/password-check`, { password: 'x' });
    assert.notEqual(signedOut.statusCode, 200);
    assert.doesNotMatch(signedOut.body, /problems/);

    // One's own page asks about oneself (the Account Administrator's own password is changed in My Settings).
    const own = await admin.post(`/manage/agents/${(await t.get('/api/v1/me', ownerToken)).body.id}/password-check`, { _csrf: csrf, password: 'Olivia-Orchid-Summit' });
    assert.equal(own.statusCode, 403);
  });

  test('setup: the check judges the first password against the names typed on the form, and only while the link is valid', async () => {
    const blank = await TestApp.start();
    try {
      const token = blank.app.deskpass.setupLink.issue();
      blank.secrets.add(token);
      const visitor = new Browserish(blank, { ip: freshIp() });
      const page = await visitor.get(`/setup/${token}`);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /Your name, your email address, the help desk name and common passwords are refused/);
      const csrf = Browserish.csrfOf(page.body);
      const typed = { _csrf: csrf, accountName: 'Zebra Support', adminName: 'Quinn Quill', adminEmail: 'quinn@zebra.test' };
      const named = await visitor.post(`/setup/${token}/password-check`, { ...typed, password: 'Zebra-Orchid-Summit-Lantern' });
      assert.equal(named.statusCode, 200);
      assert.deepEqual(JSON.parse(named.body).problems.map((p: { rule: string }) => p.rule), ['contains_personal_info'], 'the help desk name typed above');
      const fine = await visitor.post(`/setup/${token}/password-check`, { ...typed, password: 'Cobalt-Prairie-Lantern-Sky' });
      assert.deepEqual(JSON.parse(fine.body), { ok: true, problems: [] });
      const wrong = await visitor.post(`/setup/${'y'.repeat(43)}/password-check`, { ...typed, password: 'Cobalt-Prairie-Lantern-Sky' });
      assert.equal(wrong.statusCode, 410);
      assert.equal(await blank.app.deskpass.deps.db.selectFrom('accounts').select('id').executeTakeFirst(), undefined, 'nothing was created');
    } finally {
      await blank.close();
    }
  });

  test('re-attack: a NUL byte is a 400 in the error shape (never a 500) on every helper, signed in or not', async () => {
    const visitor = new Browserish(t, { ip: freshIp() });
    for (const url of [`/reset-password/x%00/check`, `/setup/x%00/password-check`, `/reset-password/${'x'.repeat(43)}/check?x=%00`]) {
      const answer = await visitor.post(url, { password: 'x' });
      assert.equal(answer.statusCode, 400, `${url}: ${answer.body}`);
      assert.equal(JSON.parse(answer.body).error.code, 'invalid_request');
    }
    const admin = new Browserish(t, { ip: freshIp() });
    assert.equal((await admin.submit('/login', { email: OWNER.email, password: OWNER.password })).statusCode, 303);
    const csrf = Browserish.csrfOf((await admin.get(`/manage/agents/${bob.id}`)).body);
    for (const url of ['/my-settings/password-check', `/manage/agents/${bob.id}/password-check`, `/manage/agents/${bob.id}/password-generate`]) {
      const answer = await admin.post(url, { _csrf: csrf, password: 'a\u0000b' });
      assert.equal(answer.statusCode, 400, `${url}: ${answer.body}`);
    }
    assert.equal(t.logs.filter((line) => /"level":50/.test(line)).length, 0, 'no error-level log line');
  });

  test("re-attack: a session's meter has a limit of its own (zxcvbn runs on the event loop)", async () => {
    assert.equal((await t.patch('/api/v1/account', { rateLimits: { resetLinkPerIp: 3 } }, ownerToken)).status, 200);
    try {
      const admin = new Browserish(t, { ip: freshIp() });
      assert.equal((await admin.submit('/login', { email: OWNER.email, password: OWNER.password })).statusCode, 303);
      const csrf = Browserish.csrfOf((await admin.get('/my-settings/password')).body);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await admin.post('/my-settings/password-check', { _csrf: csrf, password: `Cobalt-Prairie-${i}-Sky` })).statusCode);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      // the same session's admin helpers share the meter's budget; another session has its own
      assert.equal((await admin.post(`/manage/agents/${bob.id}/password-generate`, { _csrf: csrf })).statusCode, 429);
      const other = new Browserish(t, { ip: freshIp() });
      assert.equal((await other.submit('/login', { email: OWNER.email, password: OWNER.password })).statusCode, 303);
      const otherCsrf = Browserish.csrfOf((await other.get('/my-settings/password')).body);
      assert.equal((await other.post('/my-settings/password-check', { _csrf: otherCsrf, password: 'Cobalt-Prairie-Sky-Lantern' })).statusCode, 200);
    } finally {
      assert.equal((await t.patch('/api/v1/account', { rateLimits: { resetLinkPerIp: 60 } }, ownerToken)).status, 200);
    }
  });

  test('re-attack: without the permissions, an unknown id and a real one answer the same 403 (no probing ids); a name no passphrase can avoid is a 422, not a 500', async () => {
    const agentRoleId = (await t.get('/api/v1/roles', ownerToken)).body.roles.find((r: { name: string }) => r.name === 'Agent').id as string;
    await t.addAgent(ownerToken, { email: 'plain@acme.test', name: 'Pia Plain', roleId: agentRoleId, password: 'Meadow-Quartz-Heron-55' });
    const plain = new Browserish(t, { ip: freshIp() });
    assert.equal((await plain.submit('/login', { email: 'plain@acme.test', password: 'Meadow-Quartz-Heron-55' })).statusCode, 303);
    const csrf = Browserish.csrfOf((await plain.get('/my-settings/password')).body);
    for (const id of [bob.id, '00000000-0000-4000-8000-000000000000']) {
      for (const action of ['password-check', 'password-generate']) {
        const answer = await plain.post(`/manage/agents/${id}/${action}`, { _csrf: csrf, password: 'x' });
        assert.equal(answer.statusCode, 403, `${action} ${id}: ${answer.body}`);
      }
    }

    // A target named with ~50 common three-letter fragments refuses most words of the list.
    const fragments = 'ing ess ate ble ver ter ent ion ous ful ist ism ant ure ity ive ize ine ade ard ary ery ory ead ean ear eed eel eep eer eet ell ent est ice ick ide ile ill ime ine ing ire ish ite ive oke one ore ose ound our out own';
    const target = await t.addAgent(ownerToken, { email: 'frag@acme.test', name: 'Fran Fragment', roleId: agentRoleId, password: 'Lantern-Cobalt-Prairie-Sky' });
    assert.equal((await t.patch(`/api/v1/agents/${target.id}`, { name: fragments.slice(0, 200) }, ownerToken)).status, 200);
    const admin = new Browserish(t, { ip: freshIp() });
    assert.equal((await admin.submit('/login', { email: OWNER.email, password: OWNER.password })).statusCode, 303);
    const adminCsrf = Browserish.csrfOf((await admin.get(`/manage/agents/${target.id}`)).body);
    for (let i = 0; i < 10; i += 1) {
      const generated = await admin.post(`/manage/agents/${target.id}/password-generate`, { _csrf: adminCsrf });
      assert.ok(generated.statusCode === 200 || generated.statusCode === 422, `never a 500: ${generated.statusCode} ${generated.body}`);
      if (generated.statusCode === 422) assert.equal(JSON.parse(generated.body).error.code, 'passphrase_unavailable');
    }
  });

  test('a passphrase is four EFF words (more for a longer minimum), with a digit and a capital when required; the choice is uniform', () => {
    assert.equal(EFF_LONG_WORDS.length, 7772);
    assert.equal(new Set(EFF_LONG_WORDS).size, EFF_LONG_WORDS.length);
    const plain = generatePassphrase(DEFAULT_SETTINGS.passwordPolicy).split('-');
    assert.equal(plain.length, 4);
    assert.ok(plain.every((w) => EFF_LONG_WORDS.includes(w)));
    const strict = generatePassphrase({ minLength: 64, requireDigit: true, requireUppercase: true });
    assert.ok(strict.length >= 64 && /\d/.test(strict) && /[A-Z]/.test(strict), strict);
    // rejection sampling: every value of a small range comes up, none outside it
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i += 1) seen.add(randomBelow(7));
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5, 6]);
  });
});
