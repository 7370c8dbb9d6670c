import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER } from './support/harness.js';
import { currentAccount } from '../src/flows/account.js';
import { updateAccountSettings } from '../src/store/accounts.repo.js';

const DAY_S = 86_400;

let t: TestApp;
let agentRoleId: string;
let counter = 0;

async function ownerToken() {
  return t.login(OWNER.email, OWNER.password);
}

async function newAgent(password: string) {
  counter += 1;
  const email = `expiry${counter}@acme.test`;
  const { id } = await t.addAgent(await ownerToken(), { email, name: `Uma Quill ${counter}`, roleId: agentRoleId, password });
  return { id, email, password };
}

async function patchPolicy(body: Record<string, unknown>) {
  const answer = await t.patch('/api/v1/account', body, await ownerToken());
  assert.equal(answer.status, 200, answer.raw);
}

before(async () => {
  t = await TestApp.start();
  ({ agentRoleId } = await t.setup());
});
after(async () => {
  await t.close();
});

describe('password expiry (account option)', () => {
  test('a password older than expiryDays must be changed at the next sign-in: fine at 30 d − 1 s, required at 30 d', async () => {
    await patchPolicy({ passwordPolicy: { expiryDays: 30 } });
    try {
      const agent = await newAgent('Velvet-Comet-Harbor-57');
      const before = await t.post('/api/v1/auth/login', { email: agent.email, password: agent.password });
      assert.equal(before.body.passwordChangeRequired, false);

      t.clock.advanceSeconds(30 * DAY_S - 1);
      const almost = await t.post('/api/v1/auth/login', { email: agent.email, password: agent.password });
      assert.equal(almost.body.passwordChangeRequired, false);

      t.clock.advanceSeconds(1);
      const expired = await t.post('/api/v1/auth/login', { email: agent.email, password: agent.password });
      assert.equal(expired.status, 200);
      assert.equal(expired.body.passwordChangeRequired, true);
      assert.equal(expired.body.agent.passwordChangeRequired, true);
      const blocked = await t.get('/api/v1/me/sessions', expired.body.token);
      assert.equal(blocked.body.error.code, 'password_change_required');

      const changed = await t.post('/api/v1/me/password', { currentPassword: agent.password, newPassword: 'Amber-Glacier-Tulip-83' }, expired.body.token);
      assert.equal(changed.status, 204);
      assert.equal((await t.get('/api/v1/me/sessions', expired.body.token)).status, 200);
      const owner = await t.post('/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
      assert.equal(owner.body.passwordChangeRequired, true, "the owner's password is 30 days old too");
      const events = await t.app.deskpass.deps.db.selectFrom('audit_events').select('details').where('type', '=', 'password.change_required').where('target_agent_id', '=', agent.id).execute();
      assert.equal(JSON.parse(events[0].details!).reason, 'password_expired');
    } finally {
      // the owner's own password expired too: put the setting back without signing in
      const account = (await currentAccount(t.app.deskpass.deps))!;
      await updateAccountSettings(t.app.deskpass.deps.db, account.id, { ...account.settings, passwordPolicy: { ...account.settings.passwordPolicy, expiryDays: 0 } });
      await t.app.deskpass.deps.db.updateTable('agents').set({ password_change_required: 0 }).where('email_normalized', '=', OWNER.email).execute();
    }
  });

  test('with expiryDays 0 (the default) a password never expires', async () => {
    const agent = await newAgent('Cobalt-Lantern-Meadow-19');
    t.clock.advanceSeconds(3650 * DAY_S);
    const later = await t.post('/api/v1/auth/login', { email: agent.email, password: agent.password });
    assert.equal(later.body.passwordChangeRequired, false);
  });
});

describe('a stricter policy for existing passwords', () => {
  test('answering yes to "must existing passwords that fail it be changed?" requires a change at the next sign-in of those that fail, and only those', async () => {
    const weak = await newAgent('Orchid-Falcon-72!'); // 17 code points
    const strong = await newAgent('Juniper-Sextant-Marble-Quay-40'); // 30 code points
    await patchPolicy({ passwordPolicy: { minLength: 20 }, requireNonCompliantPasswordsToChange: true });
    try {
      const weakLogin = await t.post('/api/v1/auth/login', { email: weak.email, password: weak.password });
      assert.equal(weakLogin.body.passwordChangeRequired, true);
      const strongLogin = await t.post('/api/v1/auth/login', { email: strong.email, password: strong.password });
      assert.equal(strongLogin.body.passwordChangeRequired, false);
      const audit = await t.get(`/api/v1/audit-events?agentId=${weak.id}&type=password.change_required`, await ownerToken());
      assert.equal(audit.body.events[0].details.reason, 'policy_changed');
    } finally {
      await patchPolicy({ passwordPolicy: { minLength: 12 }, requireNonCompliantPasswordsToChange: false });
    }
  });

  test('answering no leaves existing passwords alone until they are next changed', async () => {
    const agent = await newAgent('Orchid-Falcon-73!');
    await patchPolicy({ passwordPolicy: { minLength: 20 }, requireNonCompliantPasswordsToChange: false });
    try {
      const login = await t.post('/api/v1/auth/login', { email: agent.email, password: agent.password });
      assert.equal(login.body.passwordChangeRequired, false);
    } finally {
      await patchPolicy({ passwordPolicy: { minLength: 12 } });
    }
  });
});
